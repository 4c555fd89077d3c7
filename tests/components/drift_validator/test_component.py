"""The @component through `test_call` with real artifact objects over temp dirs, and node wiring."""
import json
import os
import shutil

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types import artifact_utils

from components.drift_validator import (COMPONENT_VERSION, PARAMETER_DEFAULTS, DriftReport,
                                        DriftValidator, drift_validator)
from pipeline.dag import configs
from tests.components.drift_validator.test_drift import BLOCKING, THRESHOLDS

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
# A policy as the component's string parameters (the component has no defaults for the features).
FLIGHT = dict(feature_thresholds=json.dumps(THRESHOLDS, sort_keys=True),
              blocking_features=json.dumps(sorted(BLOCKING)), label_key="late", label_shift_threshold=0.2)


def stats_artifact(tmp_path, name, splits, span):
    """ExampleStatistics whose Split-<s>/FeatureStats.pb hold the named fixtures ({split: fixture})."""
    artifact = tfx.types.standard_artifacts.ExampleStatistics()
    artifact.uri = str(tmp_path / name)
    for split, fixture in splits.items():
        os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
        shutil.copy(os.path.join(FIXTURES, f"{fixture}.pb"),
                    os.path.join(artifact.uri, f"Split-{split}", "FeatureStats.pb"))
    artifact.split_names = artifact_utils.encode_split_names(list(splits))
    artifact.span = span
    return artifact


@pytest.fixture
def schema(tmp_path):
    artifact = tfx.types.standard_artifacts.Schema()
    artifact.uri = str(tmp_path / "schema")
    os.makedirs(artifact.uri)
    shutil.copy(os.path.join(FIXTURES, "schema.pbtxt"), os.path.join(artifact.uri, "schema.pbtxt"))
    return artifact


@pytest.fixture
def report(tmp_path):
    artifact = DriftReport()
    artifact.uri = str(tmp_path / "report")
    os.makedirs(artifact.uri)
    return artifact


def read_json(artifact):
    with open(os.path.join(artifact.uri, "drift_report.json")) as f:
        return json.load(f)


def test_first_span_without_baseline_is_blessed(tmp_path, schema, report):
    stats = stats_artifact(tmp_path, "s1", {"train": "base", "eval": "base"}, span=1)
    result = drift_validator.test_call(statistics=stats, schema=schema, drift_report=report, **FLIGHT)
    assert result == {"blessed": 1}
    assert report.get_int_custom_property("blessed") == 1
    assert report.get_string_custom_property("verdict") == "NO_BASELINE"
    assert report.get_int_custom_property("has_baseline") == 0
    assert report.get_int_custom_property("baseline_ignored") == 0
    body = read_json(report)
    assert body["statistics_span"] == 1 and body["baseline_span"] is None
    assert os.path.exists(os.path.join(report.uri, "drift_report.html"))


def test_a_later_span_without_baseline_says_why_there_is_none(tmp_path, schema, report):
    # e.g. `run --span 7` on a store where span 6 was never ingested (span 12 may have been)
    stats = stats_artifact(tmp_path, "s7", {"train": "base", "eval": "base"}, span=7)
    drift_validator.test_call(statistics=stats, schema=schema, drift_report=report, **FLIGHT)
    summary = read_json(report)["summary"]
    assert report.get_string_custom_property("verdict") == "NO_BASELINE"
    assert summary.startswith("No baseline statistics (no statistics of a span before span 7 in the metadata store)")
    assert "first span" not in summary


def test_blocking_drift_is_not_blessed(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "drift_carrier"}, span=2)
    result = drift_validator.test_call(statistics=current, baseline_statistics=previous,
                                       schema=schema, drift_report=report, **FLIGHT)
    assert result == {"blessed": 0}
    assert report.get_int_custom_property("blessed") == 0
    assert report.get_string_custom_property("verdict") == "BLOCKED"
    assert report.get_string_custom_property("drifted_features") == "carrier"
    assert report.get_string_custom_property("blocking_drift") == "carrier"
    assert report.get_int_custom_property("num_blocking_drift") == 1
    assert report.get_string_custom_property("component_version") == COMPONENT_VERSION
    body = read_json(report)
    assert (body["statistics_span"], body["baseline_span"]) == (2, 1)
    assert body["split"] == "train"


def test_baseline_not_earlier_than_current_span_is_ignored(tmp_path, schema, report):
    same_span = stats_artifact(tmp_path, "s2-old", {"train": "base"}, span=2)
    current = stats_artifact(tmp_path, "s2", {"train": "drift_carrier"}, span=2)
    result = drift_validator.test_call(statistics=current, baseline_statistics=same_span,
                                       schema=schema, drift_report=report, **FLIGHT)
    assert result == {"blessed": 1}
    assert report.get_string_custom_property("verdict") == "NO_BASELINE"
    assert report.get_int_custom_property("baseline_ignored") == 1
    assert "span 2" in read_json(report)["summary"]
    assert read_json(report)["summary"].startswith("Baseline statistics ignored")


def test_the_statistics_themselves_are_not_a_baseline(tmp_path, schema, report):
    current = stats_artifact(tmp_path, "s2", {"train": "drift_carrier"}, span=0)  # span unknown
    result = drift_validator.test_call(statistics=current, baseline_statistics=current,
                                       schema=schema, drift_report=report, **FLIGHT)
    assert result == {"blessed": 1}
    assert report.get_int_custom_property("baseline_ignored") == 1


def test_unknown_spans_do_not_prevent_the_comparison(tmp_path, schema, report):
    # StatisticsGen in TFX 1.16 writes span 0 on every statistics artifact.
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=0)
    current = stats_artifact(tmp_path, "s2", {"train": "drift_carrier"}, span=0)
    result = drift_validator.test_call(statistics=current, baseline_statistics=previous,
                                       schema=schema, drift_report=report, **FLIGHT)
    assert result == {"blessed": 0}
    assert report.get_int_custom_property("baseline_ignored") == 0
    assert (read_json(report)["statistics_span"], read_json(report)["baseline_span"]) == (None, None)


def test_label_shift_sets_label_properties(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "label_shift"}, span=2)
    result = drift_validator.test_call(statistics=current, baseline_statistics=previous,
                                       schema=schema, drift_report=report,
                                       **dict(FLIGHT, label_shift_threshold=0.5))
    assert result == {"blessed": 1}  # the 0.37 shift is within the looser threshold
    assert report.get_int_custom_property("label_shift_blocking") == 0
    assert report.get_float_custom_property("label_shift") == pytest.approx(
        read_json(report)["label"]["abs_change"])


def test_split_parameter_selects_the_compared_split(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base", "eval": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "same", "eval": "drift_weather"}, span=2)
    kwargs = dict(statistics=current, baseline_statistics=previous, schema=schema, drift_report=report, **FLIGHT)
    assert drift_validator.test_call(**kwargs)["blessed"] == 1
    assert report.get_string_custom_property("verdict") == "PASS"
    drift_validator.test_call(split="eval", **kwargs)
    assert report.get_string_custom_property("verdict") == "WARN"
    assert report.get_string_custom_property("warning_drift") == "temp"


def test_custom_thresholds_and_blocking(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "drift_weather"}, span=2)
    result = drift_validator.test_call(
        statistics=current, baseline_statistics=previous, schema=schema, drift_report=report,
        feature_thresholds=json.dumps({"temp": 0.2, "carrier": 0.1}), blocking_features='["temp"]',
        label_key="late", label_shift_threshold=0.2)
    assert result == {"blessed": 0}
    assert [f["feature"] for f in read_json(report)["features"]] == ["carrier", "temp"]


def test_missing_split_names_the_split_and_uri(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "same", "eval": "same"}, span=2)
    with pytest.raises(ValueError, match=r"baseline_statistics: split 'eval' not in .*s1"):
        drift_validator.test_call(statistics=current, baseline_statistics=previous, schema=schema,
                                  drift_report=report, split="eval", **FLIGHT)


def test_unreadable_statistics_name_the_file(tmp_path, schema, report):
    current = stats_artifact(tmp_path, "s2", {"train": "same"}, span=2)
    with open(os.path.join(current.uri, "Split-train", "FeatureStats.pb"), "wb") as f:
        f.write(b"not a proto")
    with pytest.raises(ValueError, match=r"statistics: cannot read .*Split-train/FeatureStats.pb"):
        drift_validator.test_call(statistics=current, schema=schema, drift_report=report, **FLIGHT)


def test_node_records_every_parameter_and_the_version():
    stats = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleStatistics)
    schema = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Schema)
    node = DriftValidator(statistics=stats, schema=schema, feature_thresholds=FLIGHT["feature_thresholds"])
    assert node.id == "DriftValidator"
    assert node.exec_properties == dict(PARAMETER_DEFAULTS, feature_thresholds=FLIGHT["feature_thresholds"])
    assert node.exec_properties["component_version"] == COMPONENT_VERSION
    assert "baseline_statistics" not in node.inputs
    assert node.outputs["drift_report"].type is DriftReport
    overridden = DriftValidator(statistics=stats, schema=schema, baseline_statistics=stats, split="eval",
                                feature_thresholds=FLIGHT["feature_thresholds"])
    assert overridden.exec_properties["split"] == "eval"
    assert "baseline_statistics" in overridden.inputs


def test_node_takes_the_policy_as_python_values():
    stats = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleStatistics)
    schema = tfx.dsl.Channel(type=tfx.types.standard_artifacts.Schema)
    node = DriftValidator(statistics=stats, schema=schema, **configs.DRIFT_VALIDATOR)
    recorded = node.exec_properties
    assert json.loads(recorded["feature_thresholds"]) == configs.DRIFT_FEATURE_THRESHOLDS
    assert json.loads(recorded["dataset_checks"]) == json.loads(json.dumps(configs.DRIFT_DATASET_CHECKS))
    assert json.loads(recorded["blocking_features"]) == sorted(configs.DRIFT_BLOCKING_FEATURES)
    assert (recorded["label_key"], recorded["label_shift_threshold"]) == (
        configs.DRIFT_LABEL_KEY, configs.DRIFT_LABEL_SHIFT_THRESHOLD)


def anomalies_artifact(tmp_path, split, kinds):
    """ExampleAnomalies as ExampleValidator writes it: Split-<split>/SchemaDiff.pb; {feature: kind}."""
    anomalies = anomalies_pb2.Anomalies()
    for feature, kind in kinds.items():
        reason = anomalies.anomaly_info[feature].reason.add()
        reason.type = anomalies_pb2.AnomalyInfo.Type.Value(kind)
        reason.description = f"{kind} on {feature}"
    artifact = tfx.types.standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
    with open(os.path.join(artifact.uri, f"Split-{split}", "SchemaDiff.pb"), "wb") as f:
        f.write(anomalies.SerializeToString())
    artifact.split_names = artifact_utils.encode_split_names([split])
    return artifact


def examples_artifact(tmp_path, split, rows):
    """Examples with one GZIP TFRecord file in Split-<split> holding tf.Examples of `rows` ({feature: int})."""
    artifact = tfx.types.standard_artifacts.Examples()
    artifact.uri = str(tmp_path / "examples")
    os.makedirs(os.path.join(artifact.uri, f"Split-{split}"))
    path = os.path.join(artifact.uri, f"Split-{split}", "data_tfrecord-00000-of-00001.gz")
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            example = tf.train.Example(features=tf.train.Features(feature={
                k: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])) for k, v in row.items()}))
            writer.write(example.SerializeToString())
    artifact.split_names = artifact_utils.encode_split_names([split])
    return artifact


def test_schema_anomalies_are_gated_per_kind(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "same"}, span=2)
    anomalies = anomalies_artifact(tmp_path, "train", {"carrier": "ENUM_TYPE_UNEXPECTED_STRING_VALUES",
                                                       "temp": "FLOAT_TYPE_BIG_FLOAT"})
    kwargs = dict(statistics=current, baseline_statistics=previous, schema=schema, drift_report=report,
                  anomalies=anomalies, **FLIGHT)
    policy = {"anomalies": {"ENUM_TYPE_UNEXPECTED_STRING_VALUES": "warn"}, "anomaly_default": "block"}
    assert drift_validator.test_call(dataset_checks=json.dumps(policy), **kwargs) == {"blessed": 0}
    assert report.get_string_custom_property("blocking") == "anomaly:FLOAT_TYPE_BIG_FLOAT:temp"
    assert report.get_string_custom_property("warnings") == "anomaly:ENUM_TYPE_UNEXPECTED_STRING_VALUES:carrier"
    assert "FLOAT_TYPE_BIG_FLOAT" in read_json(report)["summary"]
    policy["anomalies"]["FLOAT_TYPE_BIG_FLOAT"] = "off"
    assert drift_validator.test_call(dataset_checks=json.dumps(policy), **kwargs) == {"blessed": 1}
    assert report.get_string_custom_property("verdict") == "WARN"
    # without an anomalies policy they are not gated (the default dataset_checks is {})
    assert drift_validator.test_call(**kwargs) == {"blessed": 1}
    assert report.get_string_custom_property("verdict") == "PASS"


def test_duplicated_rows_are_counted_from_the_examples(tmp_path, schema, report):
    previous = stats_artifact(tmp_path, "s1", {"train": "base"}, span=1)
    current = stats_artifact(tmp_path, "s2", {"train": "same"}, span=2)
    rows = [{"day": d, "flight": d * 7} for d in range(1, 101)]
    examples = examples_artifact(tmp_path, "train", rows + rows[:3])  # 3 of 103 rows repeat
    kwargs = dict(statistics=current, baseline_statistics=previous, schema=schema, drift_report=report,
                  examples=examples, **FLIGHT)
    assert drift_validator.test_call(dataset_checks='{"duplicates": {"block": 0.05}}', **kwargs) == {"blessed": 1}
    assert drift_validator.test_call(dataset_checks='{"duplicates": {"block": 0.01}}', **kwargs) == {"blessed": 0}
    assert report.get_string_custom_property("blocking") == "duplicates"
    [found] = [c for c in read_json(report)["checks"] if c["check"] == "duplicates"]
    assert found["value"] == pytest.approx(3 / 103)
    assert "3 of 103 rows" in found["detail"]


def test_unreadable_anomalies_name_the_split_or_file(tmp_path, schema, report):
    current = stats_artifact(tmp_path, "s2", {"train": "same"}, span=2)
    kwargs = dict(statistics=current, schema=schema, drift_report=report, dataset_checks='{"anomalies": {}}',
                  **FLIGHT)
    with pytest.raises(ValueError, match=r"anomalies: split 'train' not in the artifact's split_names \['eval'\]"):
        drift_validator.test_call(anomalies=anomalies_artifact(tmp_path / "a", "eval", {}), **kwargs)
    anomalies = anomalies_artifact(tmp_path / "b", "train", {})
    with open(os.path.join(anomalies.uri, "Split-train", "SchemaDiff.pb"), "wb") as f:
        f.write(b"not a proto")
    with pytest.raises(ValueError, match=r"anomalies: cannot read split 'train' from .*Split-train/SchemaDiff.pb"):
        drift_validator.test_call(anomalies=anomalies, **kwargs)
