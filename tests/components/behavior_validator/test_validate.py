"""validate_model (Beam + TF, no TFX) on tiny real SavedModels and a generated eval split."""
import collections
import os
import subprocess
import sys

import pytest

from components.behavior_validator import constants as c
from components.behavior_validator import validate
from data import contract
from tests.components.behavior_validator import testdata
from tests.components.behavior_validator.conftest import LENIENT_LATENCY

_CFG = testdata.config(**LENIENT_LATENCY)


def test_good_model_is_blessed_with_figures(run):
    result = run(testdata.GOOD)
    verdicts = {r.name: r.verdict for r in result.checks}
    assert result.behavior_checks_passed and result.blessed, result.failed_checks
    assert list(verdicts) == list(c.CHECK_NAMES)
    no_baseline = (c.CHECK_SLICE_REGRESSION, c.CHECK_AUC_REGRESSION)
    assert all(verdicts[n] == c.SKIPPED for n in no_baseline)
    assert all(v == c.PASS for n, v in verdicts.items() if n not in no_baseline)

    rows = testdata.generated_rows(400)
    assert result.check(c.CHECK_OUTPUT_RANGE).figures["examples"] == len(rows)
    inv = {r["feature"]: r for r in result.check(c.CHECK_INVARIANCE).rows}
    assert set(inv) == set(contract.INVARIANT_FEATURES)
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
    assert not result.behavior_checks_passed and not result.blessed
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


def test_non_finite_predictions_fail(run):
    result = run(testdata.NAN_FOR_HIGH_FLIGHTS)
    assert not result.blessed
    assert result.check(c.CHECK_OUTPUT_RANGE).figures["non_finite"] > 0
    assert result.check(c.CHECK_INVARIANCE).verdict == c.FAIL


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
    ua = next(r for r in regression.rows if r["carrier"] == "UA")
    assert ua["recall"] == 0 and ua["p_adjusted"] <= _CFG.alpha and ua["drop_ci95"][0] > 0.5
    # Recall 0 on UA's 34 positives is not significant evidence against a floor of 0.1
    # (p = 0.9^34 = 0.028 before Holm's correction); against a floor of 0.3 it is.
    recall = worse.check(c.CHECK_SLICE_RECALL)
    ua_recall = next(r for r in recall.rows if r["carrier"] == "UA")
    assert ua_recall["positives"] == 34 and abs(ua_recall["p_value"] - 0.9 ** 34) < 1e-9
    assert recall.verdict == c.PASS
    higher_floor = run(testdata.WEAK_ON_UA, baseline=testdata.GOOD, min_slice_recall=0.3)
    assert [r["carrier"] for r in higher_floor.check(c.CHECK_SLICE_RECALL).rows
            if r["verdict"] == c.FAIL] == ["UA"]


def test_missing_examples_signature_fails_data_checks_without_running_them(run):
    result = run(testdata.NO_EXAMPLES_SIGNATURE)
    assert not result.blessed
    for name in (c.CHECK_OUTPUT_RANGE, c.CHECK_INVARIANCE, c.CHECK_DIRECTIONAL):
        assert result.check(name).verdict == c.FAIL
        assert contract.EXAMPLES_SIGNATURE in result.check(name).summary


def test_bad_inputs_name_the_file(models, schema_features, tmp_path):
    with pytest.raises(ValueError, match="no eval example files match .*nothing"):
        validate.validate_model(models[testdata.GOOD], str(tmp_path / "nothing" / "*"),
                                schema_features, str(tmp_path / "w"), _CFG)
    rows = testdata.generated_rows(5)
    for r in rows:
        r["late"] = None
    paths = testdata.write_split(str(tmp_path / "Split-eval"), rows, shards=1)
    with pytest.raises(Exception, match=f"{paths[0]}.*label 'late'"):
        validate.validate_model(models[testdata.GOOD], str(tmp_path / "Split-eval" / "*"),
                                schema_features, str(tmp_path / "w"), _CFG)
    with pytest.raises(ValueError, match="no SavedModel at"):
        validate.validate_model(str(tmp_path), str(tmp_path / "Split-eval" / "*"),
                                schema_features, str(tmp_path / "w"), _CFG)


def test_config_naming_a_feature_the_schema_lacks_fails_naming_it(models, eval_pattern,
                                                                 schema_features, tmp_path):
    cfg = testdata.config(slice_feature="airline")
    with pytest.raises(ValueError, match="slice_feature names 'airline'.*not a serving feature"):
        validate.validate_model(models[testdata.GOOD], eval_pattern, schema_features, str(tmp_path), cfg)
    cfg = testdata.config(perturbable_features=["carrier"], directional_perturbations=[])
    with pytest.raises(ValueError, match="'carrier', which is string in the schema, not float32"):
        validate.validate_model(models[testdata.GOOD], eval_pattern, schema_features, str(tmp_path), cfg)


def test_logic_imports_neither_tfx_nor_the_project():
    """The checks run without TFX, and nothing of the package imports pipeline/, data/ or serving/."""
    modules = ("validate", "report", "scoring", "aggregation", "checks", "serving_checks", "config",
               "results", "constants")
    # The Keras choice reaches the child through the environment (tests/conftest.py).
    code = ("import sys;"
            + "".join(f"import components.behavior_validator.{m};" for m in modules)
            + "assert 'tfx' not in sys.modules, 'tfx imported';"
            "import components.behavior_validator.component, components.behavior_validator.executor;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pipeline', 'data', 'serving'));"
            "assert not bad, bad")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, os.pardir))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root,
                   env={**os.environ, "PYTHONPATH": root})
