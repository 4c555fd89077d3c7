"""The CT report's A/A table on real transitions: candidate vs incumbent on the next span, against the decision."""
from pipeline.ct import replay as ct
from pipeline.ct.report import transitions_table


def row(span, pushed, serving_version, forward, auc_test=None):
    return {"span": span, "pushed": pushed, "serving_version": serving_version, "forward": forward,
            "gates": {"drift": "PASS", "behavior": "PASS" if pushed else "FAIL"},
            "behavior": {"auc_vs_baseline": auc_test} if auc_test else None}


def auc(value):
    return {"auc": value}


def test_a_pushed_candidate_is_compared_with_the_model_it_replaced_and_a_kept_one_with_the_served():
    rows = [
        row(1, True, None, {}),
        row(2, True, 1, {ct.SERVED: auc(0.70)}, {"auc_drop": -0.004, "drop_ci95": [-0.02, 0.01], "groups": 22}),
        # span 3: span 2's candidate (pushed) 0.72 vs the model it replaced 0.71; span 3's candidate is kept
        row(3, False, 2, {ct.SERVED: auc(0.72), ct.PREVIOUS_CANDIDATE: auc(0.72), ct.REPLACED: auc(0.71)}),
        # span 4: span 3's kept candidate 0.69 vs the served model 0.70: within the margin, so it should have passed
        row(4, False, 2, {ct.SERVED: auc(0.70), ct.PREVIOUS_CANDIDATE: auc(0.695)}),
    ]
    lines = transitions_table(rows, margin=0.01).splitlines()
    assert len(lines) == 2 + 2  # span 1 has no incumbent, span 4 no next span
    assert lines[2].startswith("| 2 | pushed |") and "-0.0040 [-0.0200, +0.0100], 22 days" in lines[2]
    assert lines[2].endswith("| 0.720 | 0.710 | +0.010 | yes | yes |")
    assert lines[3].startswith("| 3 | kept |") and lines[3].endswith("| 0.695 | 0.700 | -0.005 | yes | NO |")


def test_a_kept_candidate_that_was_worse_agrees():
    rows = [row(2, False, 1, {}), row(3, False, 1, {ct.SERVED: auc(0.70), ct.PREVIOUS_CANDIDATE: auc(0.66)})]
    [_, _, line] = transitions_table(rows, margin=0.01).splitlines()
    assert line.endswith("| 0.660 | 0.700 | -0.040 | no | yes |")
