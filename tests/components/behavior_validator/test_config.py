"""BehaviorValidatorConfig: the contract keys are required, JSON in and out, clear errors."""
import pytest

from components.behavior_validator.config import BehaviorValidatorConfig
from data import contract
from pipeline.dag import configs
from tests.components.behavior_validator import testdata


def test_config_parsing_and_errors():
    cfg = testdata.config()
    assert set(cfg.invariance_values) == set(contract.INVARIANT_FEATURES)
    assert BehaviorValidatorConfig.from_json(cfg.to_json()) == cfg
    assert testdata.config(min_slice_recall=0.3).min_slice_recall == 0.3
    with pytest.raises(ValueError, match="unknown key.*min_recall"):
        testdata.config(min_recall=0.3)
    with pytest.raises(ValueError, match="invariance_tolerance.*-1"):
        testdata.config(invariance_tolerance=-1)
    with pytest.raises(ValueError, match=r"directional_perturbations\[0\].*'carrier'"):
        testdata.config(directional_perturbations=[
            {"name": "x", "feature": "carrier", "op": "add", "value": 1}])
    with pytest.raises(ValueError, match="not valid JSON"):
        BehaviorValidatorConfig.from_json("{min_slice_recall: 1")
    with pytest.raises(ValueError, match="op_modules must be a list of module names, got 'tensorflow_decision_forests'"):
        testdata.config(op_modules="tensorflow_decision_forests")


def test_the_models_contract_has_no_default():
    with pytest.raises(ValueError, match="missing required key.*label_key.*prediction_key"):
        BehaviorValidatorConfig.from_json(None)
    partial = {k: v for k, v in configs.BEHAVIOR_VALIDATOR_CONFIG.items() if k != "slice_feature"}
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['slice_feature'\]"):
        BehaviorValidatorConfig.from_dict(partial)
    with pytest.raises(ValueError, match="prediction_key must be a non-empty string"):
        testdata.config(prediction_key="")
    with pytest.raises(ValueError, match="decision_threshold must be in"):
        testdata.config(decision_threshold=1.5)


def test_statistical_settings_are_checked():
    cfg = testdata.config()
    assert (cfg.alpha, cfg.min_slice_positives, cfg.bootstrap_resamples, cfg.bootstrap_seed) == (
        0.05, 20, 10_000, 0)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\), got 0"):
        testdata.config(alpha=0)
    with pytest.raises(ValueError, match="bootstrap_seed must be an integer >= 0, got -1"):
        testdata.config(bootstrap_seed=-1)
    with pytest.raises(ValueError, match="min_slice_positives must be an integer >= 1"):
        testdata.config(min_slice_positives=0)
    with pytest.raises(ValueError, match="min_groups must be an integer >= 1, got 0"):
        testdata.config(min_groups=0)
    with pytest.raises(ValueError, match="auc_regression_tolerance must be a number >= 0"):
        testdata.config(auc_regression_tolerance=-0.01)


def test_the_unit_of_independence_is_part_of_the_contract():
    """No default: which examples move together (the flights of a day) is a fact of the project."""
    partial = {k: v for k, v in configs.BEHAVIOR_VALIDATOR_CONFIG.items() if k != "group_by_features"}
    with pytest.raises(ValueError, match=r"missing required key\(s\) \['group_by_features'\]"):
        BehaviorValidatorConfig.from_dict(partial)
    for bad in ([], "day", ["month", ""]):
        with pytest.raises(ValueError, match="group_by_features must be a non-empty list of feature names"):
            testdata.config(group_by_features=bad)
    with pytest.raises(ValueError, match="group_by_features names 'date', which is not a serving feature"):
        testdata.config(group_by_features=["date"]).validate_against_schema(
            {f: contract.tf_dtype_name(f) for f in contract.FEATURE_KEYS})


def test_pipeline_config_carries_the_flight_contract():
    cfg = testdata.config()
    assert (cfg.label_key, cfg.prediction_key, cfg.examples_signature, cfg.examples_input) == (
        contract.LABEL_KEY, contract.PREDICTION_KEY, contract.EXAMPLES_SIGNATURE, contract.EXAMPLES_INPUT)
    assert cfg.decision_threshold == contract.DECISION_THRESHOLD
    assert set(cfg.perturbable_features) == set(contract.WEATHER_FEATURES)
    assert cfg.group_by_features == ["month", "day"] and cfg.auc_regression_tolerance == configs.AUC_REGRESSION_TOLERANCE
    assert cfg.op_modules == ["tensorflow_decision_forests"]  # a TF-DF model's ops, imported when needed
