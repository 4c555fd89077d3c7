"""Dataset-level checks on TFDV statistics of small frames (no TFX, no project facts)."""
import numpy as np
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.drift_validator import checks


def stats(frame):
    return tfdv.generate_statistics_from_dataframe(frame).datasets[0]


def frame(n=1000, seed=0, **columns):
    rng = np.random.default_rng(seed)
    data = {"kind": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "size": rng.normal(50, 10, n), "count": rng.integers(0, 10, n)}
    data.update(columns)
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def baseline():
    return stats(frame())


@pytest.fixture(scope="module")
def schema():
    schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(frame()))
    tfdv.set_domain(schema, "size", tfdv.utils.schema_util.schema_pb2.FloatDomain(min=0, max=100))
    return schema


def by_name(found):
    return {(f["check"], f["feature"]): f for f in found}


def test_level_and_bounds():
    level = checks.Level(warn=0.1, block=0.2)
    assert [level.status(v) for v in (0.1, 0.15, 0.2, 0.21, None)] == ["ok", "warn", "warn", "block", "ok"]
    assert checks.Level(block=0.2).status(0.19) == "ok"
    bounds = checks.Bounds(warn=(0.9, 1.1), block=(0.5, 2.0))
    assert [bounds.status(v) for v in (1.0, 1.2, 0.4, 2.5)] == ["ok", "warn", "block", "block"]


@pytest.mark.parametrize("config, message", [
    ({"nope": 1}, "unknown keys ['nope']"),
    ({"missing_rate": {"warn": 2}}, "dataset_checks.missing_rate.warn: must be a number in [0.0, 1.0]"),
    ({"missing_rate": 0.1}, "dataset_checks.missing_rate: expected"),
    ({"row_count": {"block": [2, 1]}}, "dataset_checks.row_count.block: expected [low, high]"),
    ({"constant": "stop"}, "dataset_checks.constant: expected one of"),
    ({"anomalies": {"NO_SUCH_KIND": "block"}}, "'NO_SUCH_KIND' is not a TFDV anomaly type"),
    ({"anomalies": {"SCHEMA_NEW_COLUMN": "maybe"}}, "anomalies['SCHEMA_NEW_COLUMN']: expected one of"),
])
def test_bad_config_is_named(config, message):
    with pytest.raises(ValueError) as err:
        checks.DatasetChecks.from_dict(config)
    assert message in str(err.value)


def test_row_count(baseline):
    [found] = checks.row_count(stats(frame(n=600)), baseline, checks.Bounds(block=(0.7, 1.4)))
    assert found["value"] == pytest.approx(0.6)
    assert found["status"] == "block" and "600 rows vs 1000" in found["detail"]


def test_categories_that_vanished_and_appeared_with_their_share(baseline, schema):
    kinds = np.array(["a"] * 500 + ["b"] * 300 + ["d"] * 200)
    found = by_name(checks.categories(stats(frame(kind=kinds)), baseline, schema,
                                      checks.Level(block=0.05), checks.Level(warn=0.1, block=0.5), 0.0))
    vanished = found[("categories_vanished", "kind")]
    expected = baseline_share(baseline, "c")
    assert vanished["value"] == pytest.approx(expected) and vanished["status"] == "block"
    assert "c (" in vanished["detail"]
    appeared = found[("categories_appeared", "kind")]
    assert appeared["value"] == pytest.approx(0.2) and appeared["status"] == "warn"


def baseline_share(dataset, value):
    counts = checks.category_counts(checks.features_by_name(dataset)["kind"])
    return counts[value] / sum(counts.values())


def test_rare_categories_below_min_share_are_ignored(baseline, schema):
    kinds = np.array(["a"] * 599 + ["b"] * 400 + ["rare"])
    found = by_name(checks.categories(stats(frame(kind=kinds)), baseline, schema, None,
                                      checks.Level(block=0.0), 0.01))
    assert found[("categories_appeared", "kind")]["value"] == 0.0


def test_missing_rate_rise(baseline):
    size = frame()["size"].to_numpy().copy()
    size[:300] = np.nan
    found = by_name(checks.missing_rate(stats(frame(size=size)), baseline, checks.Level(block=0.2),
                                        {"count": checks.Level(block=0.0)}))
    assert found[("missing_rate", "size")]["value"] == pytest.approx(0.3)
    assert found[("missing_rate", "size")]["status"] == "block"
    assert found[("missing_rate", "kind")]["status"] == "ok"
    assert found[("missing_rate", "count")]["warn"] is None  # the per-feature level applies


def test_a_feature_absent_from_the_current_data_is_all_missing(baseline):
    found = by_name(checks.missing_rate(stats(frame().drop(columns=["count"])), baseline,
                                        checks.Level(block=0.5), {}))
    assert found[("missing_rate", "count")]["value"] == 1.0
    assert "feature absent" in found[("missing_rate", "count")]["detail"]


def test_schema_range_with_the_share_outside(schema):
    size = np.concatenate([np.full(750, 50.0), np.full(250, 150.0)])
    [found] = checks.schema_range(stats(frame(size=size)), schema, "block")
    assert found["feature"] == "size" and found["status"] == "block"
    assert found["value"] == pytest.approx(0.25, abs=0.05)
    assert "outside the schema's [0, 100]" in found["detail"]
    assert checks.schema_range(stats(frame()), schema, "block") == []


def test_constant_feature(baseline):
    found = checks.constant(stats(frame(size=np.full(1000, 7.0))), baseline, "block")
    assert [(f["feature"], f["status"]) for f in found] == [("size", "block")]
    assert "7.0" in found[0]["detail"]


def test_duplicates():
    [found] = checks.duplicates(200, 10, checks.Level(warn=0.01, block=0.1))
    assert (found["value"], found["status"]) == (0.05, "warn")


def test_anomalies_get_the_action_of_their_kind():
    anomalies = anomalies_pb2.Anomalies()
    for feature, kind in (("kind", "ENUM_TYPE_UNEXPECTED_STRING_VALUES"), ("size", "FLOAT_TYPE_BIG_FLOAT"),
                          ("count", "SCHEMA_NEW_COLUMN")):
        anomalies.anomaly_info[feature].reason.add(type=anomalies_pb2.AnomalyInfo.Type.Value(kind),
                                                   description=f"{kind}!")
    found = checks.anomaly_findings(anomalies, {"ENUM_TYPE_UNEXPECTED_STRING_VALUES": "warn",
                                                "SCHEMA_NEW_COLUMN": "off"}, "block")
    assert [(f["check"], f["feature"], f["status"]) for f in found] == [
        ("anomaly:ENUM_TYPE_UNEXPECTED_STRING_VALUES", "kind", "warn"),
        ("anomaly:FLOAT_TYPE_BIG_FLOAT", "size", "block")]
    assert checks.names(found, "block") == ["anomaly:FLOAT_TYPE_BIG_FLOAT:size"]


def test_run_without_a_baseline_runs_only_the_checks_that_need_none(schema):
    config = checks.DatasetChecks.from_dict({
        "row_count": {"block": [0.5, 2]}, "missing_rate": {"block": 0.1}, "duplicates": {"block": 0.01},
        "schema_range": "block", "constant": "block"})
    current = stats(frame(size=np.full(1000, 500.0)))
    found = checks.run(current, None, schema, config, duplicate_counts=(1000, 50))
    assert checks.names(found, "block") == ["duplicates", "schema_range:size"]
