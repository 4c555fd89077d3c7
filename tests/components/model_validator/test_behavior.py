"""The behaviour checks (Beam + TF, no TFX) on tiny real SavedModels and a generated eval split."""
import collections
import json
import os
import subprocess
import sys

import apache_beam as beam
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to
import pytest

from components.model_validator import behavior
from components.model_validator import constants as c
from components.model_validator import report
from components.model_validator.config import ValidatorConfig
from data import contract as features
from tests.components.model_validator import testdata

# Latency is checked separately with explicit budgets: figures on a shared machine are noisy.
_CFG = ValidatorConfig(latency_budget_ms=60_000.0)


@pytest.fixture(scope="module")
def run(models, eval_pattern, schema_features, tmp_path_factory):
    """validate_model(variant, baseline variant), each combination run once."""
    cache = {}

    def _run(variant, baseline=None):
        if (variant, baseline) not in cache:
            work = tmp_path_factory.mktemp(f"work_{variant}_{baseline}")
            cache[(variant, baseline)] = behavior.validate_model(
                models[variant], eval_pattern, schema_features, str(work), _CFG,
                baseline_model_path=models[baseline] if baseline else None)
        return cache[(variant, baseline)]
    return _run


def test_good_model_is_blessed_with_figures(run):
    result = run(testdata.GOOD)
    verdicts = {r.name: r.verdict for r in result.checks}
    assert result.blessed, result.failed_checks
    assert list(verdicts) == list(c.CHECK_NAMES)
    assert verdicts[c.CHECK_SLICE_REGRESSION] == c.SKIPPED  # no baseline
    assert all(v == c.PASS for n, v in verdicts.items() if n != c.CHECK_SLICE_REGRESSION)

    rows = testdata.generated_rows(400)
    assert result.check(c.CHECK_OUTPUT_RANGE).figures["examples"] == len(rows)
    inv = {r["feature"]: r for r in result.check(c.CHECK_INVARIANCE).rows}
    assert set(inv) == set(features.INVARIANT_FEATURES)
    assert all(r["examples"] == len(rows) and r["max_abs_delta"] < 1e-6 for r in inv.values())
    directional = {r["perturbation"]: r for r in result.check(c.CHECK_DIRECTIONAL).rows}
    # Only examples with the weather feature present are perturbed.
    assert directional["precip_up"]["examples"] == sum(r["precip"] is not None for r in rows)
    assert all(r["mean_delta"] > 0 for r in directional.values())

    # Per-carrier figures equal a direct count over the rows written to the eval split.
    by_carrier = collections.Counter(r["carrier"] for r in rows)
    positives = collections.Counter(r["carrier"] for r in rows if r["late"])
    slices = {r["carrier"]: r for r in result.check(c.CHECK_SLICE_RECALL).rows}
    assert {s: r["examples"] for s, r in slices.items()} == dict(by_carrier)
    assert {s: r["positives"] for s, r in slices.items()} == dict(positives)
    assert all(r["recall"] >= _CFG.min_slice_recall for r in slices.values())


@pytest.mark.parametrize("variant,failing", [
    (testdata.WEATHER_DECREASING, {c.CHECK_DIRECTIONAL}),
    (testdata.FLIGHT_SENSITIVE, {c.CHECK_INVARIANCE}),
    (testdata.OUT_OF_RANGE, {c.CHECK_OUTPUT_RANGE, c.CHECK_SIGNATURE}),
])
def test_broken_model_is_not_blessed_naming_the_check(run, variant, failing):
    result = run(variant)
    assert not result.blessed
    assert set(result.failed_checks) == failing


def test_directional_failure_names_the_perturbation(run):
    rows = {r["perturbation"]: r for r in run(testdata.WEATHER_DECREASING).check(
        c.CHECK_DIRECTIONAL).rows}
    assert rows["precip_up"]["verdict"] == c.FAIL and rows["precip_up"]["mean_delta"] < 0
    # The model ignores visibility: no change is not a decrease.
    assert rows["visib_down"]["verdict"] == c.PASS and abs(rows["visib_down"]["mean_delta"]) < 1e-6


def test_invariance_failure_names_the_feature(run):
    check = run(testdata.FLIGHT_SENSITIVE).check(c.CHECK_INVARIANCE)
    rows = {r["feature"]: r for r in check.rows}
    assert rows["flight"]["verdict"] == c.FAIL and rows["flight"]["max_abs_delta"] > 0.5
    assert rows["sched_dep_minute"]["verdict"] == c.PASS
    assert "flight" in check.summary


def test_out_of_range_figures(run):
    result = run(testdata.OUT_OF_RANGE)
    fig = result.check(c.CHECK_OUTPUT_RANGE).figures
    assert fig["out_of_range"] > 0 and (fig["min"] < 0 or fig["max"] > 1)
    assert "outside [0, 1]" in result.check(c.CHECK_SIGNATURE).summary


def test_non_finite_predictions_fail_and_report_stays_strict_json(run, tmp_path):
    result = run(testdata.NAN_FOR_HIGH_FLIGHTS)
    assert not result.blessed
    assert result.check(c.CHECK_OUTPUT_RANGE).figures["non_finite"] > 0
    assert result.check(c.CHECK_INVARIANCE).verdict == c.FAIL
    report.write_report(result, str(tmp_path))
    text = (tmp_path / c.REPORT_JSON_FILE_NAME).read_text()
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON {name}"))
    assert '"inf"' in text


def test_slice_regression_versus_baseline(run):
    same = run(testdata.GOOD, baseline=testdata.GOOD)
    assert same.blessed
    assert same.check(c.CHECK_SLICE_REGRESSION).verdict == c.PASS
    assert all(r["recall_drop"] == 0 for r in same.check(c.CHECK_SLICE_REGRESSION).rows)

    worse = run(testdata.WEAK_ON_UA, baseline=testdata.GOOD)
    assert not worse.blessed
    regression = worse.check(c.CHECK_SLICE_REGRESSION)
    assert regression.verdict == c.FAIL and "UA" in regression.summary
    failing = [r["carrier"] for r in regression.rows if r["verdict"] == c.FAIL]
    assert failing == ["UA"]
    assert [r["carrier"] for r in worse.check(c.CHECK_SLICE_RECALL).rows
            if r["verdict"] == c.FAIL] == ["UA"]


def test_missing_examples_signature_fails_data_checks_without_running_them(run):
    result = run(testdata.NO_EXAMPLES_SIGNATURE)
    assert not result.blessed
    for name in (c.CHECK_OUTPUT_RANGE, c.CHECK_INVARIANCE, c.CHECK_DIRECTIONAL):
        assert result.check(name).verdict == c.FAIL
        assert features.EXAMPLES_SIGNATURE in result.check(name).summary


def test_signature_dtype_mismatch_and_unknown_schema_feature(models, eval_pattern,
                                                            schema_features):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    sample = behavior.read_sample(eval_pattern, 8)
    wrong = behavior.check_serving_signature(
        tf.saved_model.load(models[testdata.WRONG_DTYPE]), schema_features, sample, _CFG)
    assert wrong.verdict == c.FAIL and "'flight'" in wrong.summary and "float32" in wrong.summary
    assert [r["feature"] for r in wrong.rows if r["verdict"] == c.FAIL] == ["flight"]

    extended = behavior.serving_features_from_schema(testdata.make_schema(["tailnum"]))
    good = tf.saved_model.load(models[testdata.GOOD])
    missing = behavior.check_serving_signature(good, extended, sample, _CFG)
    assert missing.verdict == c.FAIL and "'tailnum'" in missing.summary
    ok = behavior.check_serving_signature(good, schema_features, sample, _CFG)
    assert ok.verdict == c.PASS
    assert ok.figures["max_abs_diff_vs_" + features.EXAMPLES_SIGNATURE] <= 1e-4


def test_latency_and_size_budgets(models, eval_pattern, schema_features):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    path = models[testdata.GOOD]
    model = tf.saved_model.load(path)
    example = behavior.read_sample(eval_pattern, 1)[0]
    over = behavior.check_latency(model, schema_features, example,
                                  ValidatorConfig(latency_budget_ms=0.0, latency_calls=3))
    assert over.verdict == c.FAIL and over.figures["median_ms"] > 0
    assert {f"median_ms_{s}" for s in (features.SERVING_SIGNATURE, features.EXAMPLES_SIGNATURE)} \
        <= set(over.figures)
    print(f"single-example median latency: {over.figures}")

    expected_bytes = sum(os.path.getsize(os.path.join(d, f))
                         for d, _, files in os.walk(path) for f in files)
    assert behavior.saved_model_size_bytes(path) == expected_bytes
    assert behavior.check_size(path, ValidatorConfig(size_budget_mb=expected_bytes / 2e6)).verdict \
        == c.FAIL
    assert behavior.check_size(path, ValidatorConfig(size_budget_mb=expected_bytes / 1e6)).verdict \
        == c.PASS


def test_confusion_combine_fn_in_a_pipeline():
    rows = [{"slice": s, "label": l, "pred": p, "baseline_pred": b}
            for s, l, p, b in [("AA", 1, 0.9, 0.2), ("AA", 1, 0.1, 0.7), ("AA", 0, 0.8, 0.1),
                               ("DL", 1, 0.5, 0.5), ("DL", 0, 0.2, None)]]
    with test_pipeline.TestPipeline() as p:
        out = (p | beam.Create(rows) | beam.Map(lambda r: (r["slice"], r))
               | beam.CombinePerKey(behavior.ConfusionCombineFn()))
        assert_that(out, equal_to([
            ("AA", {"examples": 3, "positives": 2, "recall": 0.5, "baseline_recall": 0.5,
                    "predicted_positive_rate": 2 / 3}),
            ("DL", {"examples": 2, "positives": 1, "recall": 1.0, "baseline_recall": 1.0,
                    "predicted_positive_rate": 0.5})]))


def test_bad_inputs_name_the_file(models, schema_features, tmp_path):
    with pytest.raises(ValueError, match="no eval example files match .*nothing"):
        behavior.validate_model(models[testdata.GOOD], str(tmp_path / "nothing" / "*"),
                                schema_features, str(tmp_path / "w"), _CFG)
    rows = testdata.generated_rows(5)
    for r in rows:
        r["late"] = None
    paths = testdata.write_split(str(tmp_path / "Split-eval"), rows, shards=1)
    with pytest.raises(Exception, match=f"{paths[0]}.*label 'late'"):
        behavior.validate_model(models[testdata.GOOD], str(tmp_path / "Split-eval" / "*"),
                                schema_features, str(tmp_path / "w"), _CFG)
    with pytest.raises(ValueError, match="no SavedModel at"):
        behavior.validate_model(str(tmp_path), str(tmp_path / "Split-eval" / "*"),
                                schema_features, str(tmp_path / "w"), _CFG)


def test_report_lists_every_check(run, tmp_path):
    result = run(testdata.FLIGHT_SENSITIVE)
    report.write_report(result, str(tmp_path))
    data = json.loads((tmp_path / c.REPORT_JSON_FILE_NAME).read_text())
    assert data["blessed"] is False and data["failed_checks"] == [c.CHECK_INVARIANCE]
    assert [ch["name"] for ch in data["checks"]] == list(c.CHECK_NAMES)
    assert all(ch["thresholds"] for ch in data["checks"])
    page = (tmp_path / c.REPORT_HTML_FILE_NAME).read_text()
    assert "NOT_BLESSED" in page and "<script" not in page and "http" not in page
    for ch in result.checks:
        assert f'id="{ch.name}"' in page
        assert f'{ch.name}: <span class="{ch.verdict}">' in page


def test_config_parsing_and_errors():
    cfg = ValidatorConfig.from_json(None)
    assert set(cfg.invariance_values) == set(features.INVARIANT_FEATURES)
    assert ValidatorConfig.from_json(cfg.to_json()) == cfg
    assert ValidatorConfig.from_json('{"min_slice_recall": 0.3}').min_slice_recall == 0.3
    with pytest.raises(ValueError, match="unknown key.*min_recall"):
        ValidatorConfig.from_json('{"min_recall": 0.3}')
    with pytest.raises(ValueError, match="invariance_tolerance.*-1"):
        ValidatorConfig.from_json('{"invariance_tolerance": -1}')
    with pytest.raises(ValueError, match=r"directional_perturbations\[0\].*'carrier'"):
        ValidatorConfig.from_dict({"directional_perturbations": [
            {"name": "x", "feature": "carrier", "op": "add", "value": 1}]})
    with pytest.raises(ValueError, match="not valid JSON"):
        ValidatorConfig.from_json("{min_slice_recall: 1")


def test_logic_imports_without_tfx():
    code = ("import os, sys; os.environ.setdefault('TF_USE_LEGACY_KERAS', '1');"
            "import components.model_validator.behavior, components.model_validator.report;"
            "assert 'tfx' not in sys.modules, 'tfx imported'")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                   env={**os.environ, "PYTHONPATH": root})


def test_curated_schema_serving_features_match_the_contract():
    from tfx.utils import io_utils  # pylint: disable=g-import-not-at-top
    import data.schema  # pylint: disable=g-import-not-at-top
    path = os.path.join(os.path.dirname(data.schema.__file__), "schema.pbtxt")
    schema = io_utils.SchemaReader().read(path)
    assert behavior.serving_features_from_schema(schema) == {
        f: features.tf_dtype_name(f) for f in features.FEATURE_KEYS}
