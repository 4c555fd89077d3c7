"""The Beam CombineFns of the aggregation step."""
import statistics

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from components.behavior_validator import aggregation


def test_confusion_combine_fn_in_a_pipeline():
    rows = [{"slice": s, "label": l, "pred": p, "baseline_pred": b}
            for s, l, p, b in [("AA", 1, 0.9, 0.2), ("AA", 1, 0.1, 0.7), ("AA", 0, 0.8, 0.1),
                               ("DL", 1, 0.5, 0.5), ("DL", 0, 0.2, None)]]
    with test_pipeline.TestPipeline() as p:
        out = (p | beam.Create(rows) | beam.Map(lambda r: (r["slice"], r))
               | beam.CombinePerKey(aggregation.ConfusionCombineFn(0.5)))
        assert_that(out, equal_to([
            ("AA", {"examples": 3, "positives": 2, "true_positives": 1, "recall": 0.5,
                    "baseline_recall": 0.5, "predicted_positive_rate": 2 / 3,
                    "baseline_predicted_positives": 1}),
            ("DL", {"examples": 2, "positives": 1, "true_positives": 1, "recall": 1.0,
                    "baseline_recall": 1.0, "predicted_positive_rate": 0.5,
                    "baseline_predicted_positives": 1})]))


def test_matched_threshold_flags_as_many_as_the_baseline():
    preds = [0.9, 0.2, float("nan"), 0.7, 0.4, 0.55]
    assert aggregation.matched_threshold(preds, 2) == {
        "threshold": 0.7, "baseline_flagged": 2, "candidate_flagged": 2}
    assert aggregation.matched_threshold(preds, 0)["candidate_flagged"] == 0
    # Against itself the matched threshold flags exactly what the decision threshold flags.
    flagged = sum(p >= 0.5 for p in preds)
    assert aggregation.matched_threshold(preds, flagged)["threshold"] == 0.55


def test_paired_recall_combine_fn_counts_the_positives_of_each_model():
    rows = [{"label": l, "matched_hit": h, "baseline_pred": b}
            for l, h, b in [(1, True, 0.9), (1, True, 0.1), (1, False, 0.6), (1, False, 0.2),
                            (1, False, 0.8), (0, True, 0.9)]]
    fn = aggregation.PairedRecallCombineFn(0.5)
    acc = fn.create_accumulator()
    for r in rows:
        acc = fn.add_input(acc, r)
    out = fn.extract_output(fn.merge_accumulators([acc, fn.create_accumulator()]))
    assert out == {"positives": 5, "both": 1, "baseline_only": 2, "candidate_only": 1, "neither": 1,
                   "recall_at_matched_threshold": 0.4, "baseline_recall": 0.6}


def test_directional_combine_fn_mean_and_standard_deviation():
    deltas = [0.1, -0.2, 0.3, 0.0]
    rows = [{"pred": 0.5, "dir": {"up": d}} for d in deltas] + [{"pred": 0.5, "dir": {}}]
    with test_pipeline.TestPipeline() as p:
        out = p | beam.Create(rows) | beam.CombineGlobally(aggregation.DirectionalCombineFn())

        def check(got):
            (fig,) = got
            up = fig["up"]
            assert up["examples"] == 4 and up["share_lowered"] == 0.25
            assert abs(up["mean_delta"] - statistics.mean(deltas)) < 1e-12
            assert abs(up["std_delta"] - statistics.stdev(deltas)) < 1e-12
        assert_that(out, check)
