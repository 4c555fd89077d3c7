"""Serving signature, latency and size checks on tiny real SavedModels."""
import os

import tensorflow as tf

from components.behavior_validator import constants as c
from components.behavior_validator import scoring
from components.behavior_validator import serving_checks
from data import contract
from tests.components.behavior_validator import testdata
from tests.components.behavior_validator.conftest import LENIENT_LATENCY

_CFG = testdata.config(**LENIENT_LATENCY)


def test_signature_dtype_mismatch_and_unknown_schema_feature(models, eval_pattern, schema_features):
    sample = scoring.read_sample(eval_pattern, 8)
    wrong = serving_checks.check_serving_signature(
        tf.saved_model.load(models[testdata.WRONG_DTYPE]), schema_features, sample, _CFG)
    assert wrong.verdict == c.FAIL and "'flight'" in wrong.summary and "float32" in wrong.summary
    assert [r["feature"] for r in wrong.rows if r["verdict"] == c.FAIL] == ["flight"]

    extended = scoring.serving_features_from_schema(testdata.make_schema(["tailnum"]), contract.LABEL_KEY)
    good = tf.saved_model.load(models[testdata.GOOD])
    missing = serving_checks.check_serving_signature(good, extended, sample, _CFG)
    assert missing.verdict == c.FAIL and "'tailnum'" in missing.summary
    ok = serving_checks.check_serving_signature(good, schema_features, sample, _CFG)
    assert ok.verdict == c.PASS
    assert ok.figures["max_abs_diff_vs_" + contract.EXAMPLES_SIGNATURE] <= 1e-4


def test_signature_names_come_from_the_config(models, eval_pattern, schema_features):
    sample = scoring.read_sample(eval_pattern, 4)
    good = tf.saved_model.load(models[testdata.GOOD])
    renamed = serving_checks.check_serving_signature(
        good, schema_features, sample, _CFG.replace(examples_signature="predict_examples"))
    assert renamed.verdict == c.FAIL and "no 'predict_examples' signature" in renamed.summary


def test_latency_and_size_budgets(models, eval_pattern, schema_features):
    path = models[testdata.GOOD]
    model = tf.saved_model.load(path)
    example = scoring.read_sample(eval_pattern, 1)[0]
    over = serving_checks.check_latency(model, schema_features, example,
                                        _CFG.replace(latency_budget_ms=0.0, latency_calls=3))
    assert over.verdict == c.FAIL and over.figures["median_ms"] > 0
    assert {f"median_ms_{s}" for s in (contract.SERVING_SIGNATURE, contract.EXAMPLES_SIGNATURE)} \
        <= set(over.figures)
    print(f"single-example median latency: {over.figures}")

    expected_bytes = sum(os.path.getsize(os.path.join(d, f))
                         for d, _, files in os.walk(path) for f in files)
    assert serving_checks.saved_model_size_bytes(path) == expected_bytes
    assert serving_checks.check_size(path, _CFG.replace(size_budget_mb=expected_bytes / 2e6)).verdict \
        == c.FAIL
    assert serving_checks.check_size(path, _CFG.replace(size_budget_mb=expected_bytes / 1e6)).verdict \
        == c.PASS


def test_raw_batch_marks_incomplete_examples(eval_pattern, schema_features):
    sample = scoring.read_sample(eval_pattern, 50)
    tensors, complete = serving_checks.raw_batch(sample, schema_features)
    assert set(tensors) == set(schema_features)
    rows = testdata.generated_rows(400)
    # write_split writes rows alternately to two shards; read_sample reads shard 0 first.
    expected = [all(r[f] is not None for f in schema_features) for r in rows[0::2][:50]]
    assert complete == expected
