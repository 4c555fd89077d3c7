"""TFMA's files read back: per-slice metrics of candidate and baseline, validation result (real run, e2e)."""
import math

import pytest
import tensorflow_model_analysis as tfma

from pipeline.local import summary
from pipeline.mlmd import evaluation

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def evaluated(pipeline_history):
    """The span-2 run's evaluation: it has a baseline (span 1's pushed model) when span 1 was pushed."""
    s = summary.summarize_run(pipeline_history["metadata"], pipeline_history["runs"][2].run_id)
    return s["evaluation_uri"], pipeline_history["runs"][0].summary["pushed"]


def test_metrics_by_slice_overall_first_and_equal_to_tfma(evaluated):
    uri, _ = evaluated
    rows = evaluation.metrics_by_slice(uri)
    assert rows[0]["slice"] == evaluation.OVERALL
    raw = list(tfma.load_metrics(uri))
    assert len(rows) == len(raw)
    by_name = {r["slice"]: r for r in rows}
    for per_slice in raw:
        row = by_name[evaluation.slice_name(per_slice.slice_key)]
        for kv in per_slice.metric_keys_and_values:
            if kv.key.model_name != "baseline" and not kv.key.is_diff and kv.value.HasField("double_value"):
                value = kv.value.double_value.value  # (precision is NaN on a slice with no positive prediction)
                assert row[kv.key.name] == value or math.isnan(value) and math.isnan(row[kv.key.name])
    origins = [r for r in rows if r["slice"].startswith("origin=")]
    assert sum(r["example_count"] for r in origins) == rows[0]["example_count"]
    assert evaluation.overall_metrics(uri) == {k: v for k, v in rows[0].items() if k != "slice"}


def test_baseline_metrics_are_the_other_models(evaluated):
    uri, had_baseline = evaluated
    baseline = evaluation.overall_metrics(uri, model=evaluation.BASELINE)
    if not had_baseline:
        assert baseline == {}
        return
    assert baseline["example_count"] == evaluation.overall_metrics(uri)["example_count"]  # same examples
    assert baseline["auc"] != evaluation.overall_metrics(uri)["auc"]


def test_validation_lists_failures_readably(evaluated):
    uri, _ = evaluated
    result = evaluation.load_validation(uri)
    assert result["ok"] is bool(tfma.load_validation_result(uri).validation_ok)
    assert result["ok"] == (result["failures"] == [])
    for line in result["failures"]:
        assert " on overall, " in line and ("required >=" in line or "allowed change vs baseline" in line)
