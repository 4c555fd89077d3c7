"""The Beam CombineFns of the aggregation step."""
import statistics

import apache_beam as beam
import pytest
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from components.behavior_validator import aggregation


def test_confusion_combine_fn_in_a_pipeline():
    rows = [{"slice": s, "group": g, "label": l, "pred": p, "baseline_pred": b}
            for s, g, l, p, b in [("AA", "1/1", 1, 0.9, 0.2), ("AA", "1/2", 1, 0.1, 0.7), ("AA", "1/2", 0, 0.8, 0.1),
                                  ("DL", "1/1", 1, 0.5, 0.5), ("DL", "1/1", 0, 0.2, None)]]
    with test_pipeline.TestPipeline() as p:
        out = (p | beam.Create(rows) | beam.Map(lambda r: (r["slice"], r))
               | beam.CombinePerKey(aggregation.ConfusionCombineFn(0.5)))
        assert_that(out, equal_to([
            ("AA", {"examples": 3, "positives": 2, "true_positives": 1, "recall": 0.5,
                    "baseline_recall": 0.5, "predicted_positive_rate": 2 / 3,
                    "baseline_predicted_positives": 1,
                    "groups": {"1/1": {"positives": 1, "true_positives": 1},
                               "1/2": {"positives": 1, "true_positives": 0}}}),
            ("DL", {"examples": 2, "positives": 1, "true_positives": 1, "recall": 1.0,
                    "baseline_recall": 1.0, "predicted_positive_rate": 0.5,
                    "baseline_predicted_positives": 1,
                    "groups": {"1/1": {"positives": 1, "true_positives": 1}}})]))


def test_matched_threshold_flags_as_many_as_the_baseline():
    preds = [0.9, 0.2, float("nan"), 0.7, 0.4, 0.55]
    assert aggregation.matched_threshold(preds, 2) == {
        "threshold": 0.7, "baseline_flagged": 2, "candidate_flagged": 2}
    assert aggregation.matched_threshold(preds, 0)["candidate_flagged"] == 0
    # Against itself the matched threshold flags exactly what the decision threshold flags.
    flagged = sum(p >= 0.5 for p in preds)
    assert aggregation.matched_threshold(preds, flagged)["threshold"] == 0.55


def test_paired_recall_combine_fn_counts_the_positives_of_each_model():
    rows = [{"group": g, "label": l, "matched_hit": h, "baseline_pred": b}
            for g, l, h, b in [("a", 1, True, 0.9), ("a", 1, True, 0.1), ("b", 1, False, 0.6),
                               ("b", 1, False, 0.2), ("b", 1, False, 0.8), ("c", 0, True, 0.9)]]
    fn = aggregation.PairedRecallCombineFn(0.5)
    acc = fn.create_accumulator()
    for r in rows:
        acc = fn.add_input(acc, r)
    out = fn.extract_output(fn.merge_accumulators([acc, fn.create_accumulator()]))
    assert out == {"positives": 5, "both": 1, "baseline_only": 2, "candidate_only": 1, "neither": 1,
                   "recall_at_matched_threshold": 0.4, "baseline_recall": 0.6,
                   # per group; "c" has no positive
                   "groups": {"a": [1, 0, 1, 0], "b": [0, 2, 0, 1]}}


def test_directional_combine_fn_mean_and_standard_deviation():
    deltas = [0.1, -0.2, 0.3, 0.0]
    rows = [{"pred": 0.5, "group": g, "dir": {"up": d}} for d, g in zip(deltas, "aabb")] + \
        [{"pred": 0.5, "group": "c", "dir": {}}]
    with test_pipeline.TestPipeline() as p:
        out = p | beam.Create(rows) | beam.CombineGlobally(aggregation.DirectionalCombineFn())

        def check(got):
            (fig,) = got
            up = fig["up"]
            assert up["examples"] == 4 and up["share_lowered"] == 0.25
            assert abs(up["mean_delta"] - statistics.mean(deltas)) < 1e-12
            assert abs(up["std_delta"] - statistics.stdev(deltas)) < 1e-12
            assert up["groups"] == {"a": {"examples": 2, "sum_delta": pytest.approx(-0.1)},
                                    "b": {"examples": 2, "sum_delta": pytest.approx(0.3)}}
        assert_that(out, check)


def test_score_histogram_combine_fn_counts_each_model_per_group_and_label():
    rows = [{"group": g, "label": l, "pred": p, "baseline_pred": b}
            for g, l, p, b in [("a", 1, 0.95, 0.5), ("a", 0, 0.1, 0.12), ("a", 0, 0.1, 1.0),
                               ("b", 1, 0.0, 0.31), ("b", 1, float("nan"), 0.3)]]
    fn = aggregation.ScoreHistogramCombineFn(10)
    accs = [fn.create_accumulator(), fn.create_accumulator()]
    for i, r in enumerate(rows):
        accs[i % 2] = fn.add_input(accs[i % 2], r)
    out = fn.extract_output(fn.merge_accumulators(accs))
    assert out == {"buckets": 10, "skipped": 1, "groups": {
        "a": {"candidate_positives": [[9, 1]], "candidate_negatives": [[1, 2]],
              "baseline_positives": [[5, 1]], "baseline_negatives": [[1, 1], [9, 1]]},
        "b": {"candidate_positives": [[0, 1]], "candidate_negatives": [],
              "baseline_positives": [[3, 1]], "baseline_negatives": []}}}
