"""The Beam CombineFns of the aggregation step."""
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
            ("AA", {"examples": 3, "positives": 2, "recall": 0.5, "baseline_recall": 0.5,
                    "predicted_positive_rate": 2 / 3}),
            ("DL", {"examples": 2, "positives": 1, "recall": 1.0, "baseline_recall": 1.0,
                    "predicted_positive_rate": 0.5})]))
