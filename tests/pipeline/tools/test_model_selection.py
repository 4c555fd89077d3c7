"""Forward figures of training choices with the production trainers and a LightGBM reference
(pipeline/tools/model_selection.py)."""
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.metrics import roc_auc_score

from data import contract
from pipeline.tools import model_selection
from tests.gbt_model import HPARAMS
from pipeline.local.runner import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


def test_examples_cache_holds_every_row_of_the_span(tmp_path):
    import tensorflow as tf
    path = model_selection.write_examples(FIXTURES, 1, str(tmp_path))
    assert sum(1 for _ in tf.data.TFRecordDataset(path, compression_type="GZIP")) == 1500
    assert model_selection.write_examples(FIXTURES, 1, str(tmp_path)) == path  # cached


def test_weighted_auc_is_the_auc_of_the_rows_repeated():
    rng = np.random.default_rng(0)
    labels, scores = rng.integers(0, 2, 500), np.round(rng.random(500), 2)  # ties included
    assert model_selection.weighted_auc(labels, scores, np.ones(500)) == pytest.approx(roc_auc_score(labels, scores))
    weights = rng.integers(0, 3, 500)
    repeated = np.repeat(np.arange(500), weights)
    assert model_selection.weighted_auc(labels, scores, weights.astype(float)) == pytest.approx(
        roc_auc_score(labels[repeated], scores[repeated]))


def test_day_bootstrap_interval():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 600)
    days = {2: np.repeat(np.arange(20), 30)}
    good = {2: (labels, labels + rng.normal(0, 0.5, 600))}
    noise = {2: (labels, rng.random(600))}
    assert model_selection.day_bootstrap(good, good, days, resamples=50) == [0.0, 0.0]
    low, high = model_selection.day_bootstrap(good, noise, days, resamples=50)
    assert 0 < low < high  # a model that ranks is better than noise on every resample


def test_the_reference_scores_each_span_with_the_model_of_the_spans_before():
    result = model_selection.reference_figures(FIXTURES, [1, 2, 3], "all")
    assert result["family"] == "lightgbm (reference, schedule-time columns)" and list(result["per_span"]) == [2, 3]
    assert all(0.5 < auc < 1 for auc in result["per_span"].values())


def test_the_issue_reference_reads_no_operations_column_and_the_other_every_column():
    schedule_time, every = model_selection.REFERENCES.values()
    assert not set(schedule_time) & set(contract.OPERATIONS_FEATURES)
    assert set(schedule_time) | set(contract.OPERATIONS_FEATURES) == set(every) == set(contract.FEATURE_KEYS)


@pytest.mark.e2e
def test_each_model_is_scored_on_the_next_span_only(tmp_path):
    result = model_selection.forward_figures(FIXTURES, [1, 2, 3], 1, True, str(tmp_path), hparams={"epochs": 1})
    assert list(result["per_span"]) == [2, 3]
    assert all(0.3 < auc < 1 for auc in result["per_span"].values())
    assert result["mean"] == pytest.approx(sum(result["per_span"].values()) / 2, abs=1e-4)
    assert sorted(p for p in os.listdir(tmp_path) if p.startswith("model-")) == ["model-keras-1-warm-1",
                                                                                 "model-keras-1-warm-2"]


@pytest.mark.e2e
def test_gradient_boosted_trees_next_to_the_reference_with_a_table(tmp_path):
    table = tmp_path / "table.md"
    out = CliRunner(mix_stderr=False).invoke(model_selection.main, [
        "--data", FIXTURES, "--from", "1", "--to", "3", "--family", "gbt", "--hparams", json.dumps({"gbt": HPARAMS}),
        "--table", str(table)])
    assert out.exit_code == 0, out.stderr + str(out.exception)
    reference, every_column, gbt = [json.loads(line) for line in out.stdout.splitlines()]
    assert reference["family"] == "lightgbm (reference, schedule-time columns)" and gbt["family"] == "gbt"
    assert every_column["family"] == "lightgbm (every contract column)" and gbt["start"] == "cold"
    assert list(gbt["per_span"]) == ["2", "3"] and all(0.5 < a < 1 for a in gbt["per_span"].values())
    assert gbt["vs_reference"] == pytest.approx(gbt["mean"] - reference["mean"], abs=1e-4)
    low, high = gbt["vs_reference_ci95"]
    assert low <= high and gbt["model_bytes"] > 10_000 and gbt["serving_p50_ms"] > 0
    lines = table.read_text().splitlines()
    assert lines[0].startswith("| family | window | start | mean forward AUC |") and len(lines) == 5
    assert lines[4].startswith(f"| gbt | all | cold | {gbt['mean']:.4f} |")


def test_hparams_for_an_unknown_family_are_refused():
    out = CliRunner(mix_stderr=False).invoke(model_selection.main, ["--hparams", '{"xgb": {}}'])
    assert out.exit_code == 2 and "keys must be model families ['gbt', 'keras']" in out.stderr
