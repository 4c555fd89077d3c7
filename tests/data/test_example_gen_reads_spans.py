"""TFX 1.16's stock CsvExampleGen reads the span layout: header, types, latest span, schema-valid.

(It cannot read .csv.gz: see data/README.md, "Why plain .csv".)
"""
import glob

import pytest

from data import schema_gen, spans_io
from data import contract

from .conftest import FIXTURE_SPANS_DIR


@pytest.mark.e2e
def test_csv_example_gen_on_fixture_spans(tmp_path):
    import tensorflow as tf
    import tensorflow_data_validation as tfdv
    from ml_metadata.proto import metadata_store_pb2
    from tfx import v1 as tfx
    from tfx.orchestration import metadata

    example_gen = tfx.components.CsvExampleGen(
        input_base=str(FIXTURE_SPANS_DIR),
        input_config=tfx.proto.Input(splits=[
            tfx.proto.Input.Split(name="single_split", pattern="span-{SPAN}/*")]))
    db = tmp_path / "mlmd.sqlite"
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="data-example-gen", pipeline_root=str(tmp_path / "root"),
        components=[example_gen],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(db))))

    config = metadata.sqlite_metadata_connection_config(str(db))
    with metadata.Metadata(config) as store:
        [artifact] = store.store.get_artifacts_by_type("Examples")
        assert artifact.state == metadata_store_pb2.Artifact.LIVE
        assert artifact.custom_properties["span"].int_value == 3   # latest span by default
        uri = artifact.uri

    files = sorted(glob.glob(f"{uri}/Split-*/*"))
    assert {f.split("/")[-2] for f in files} == {"Split-train", "Split-eval"}
    examples = [tf.train.Example.FromString(r.numpy())
                for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
    expected = spans_io.read_span(spans_io.span_path(FIXTURE_SPANS_DIR, 3))
    assert len(examples) == len(expected) == 1500
    kinds = {"string": "bytes_list", "int64": "int64_list", "float32": "float_list"}
    for example in examples[:50]:
        assert set(example.features.feature) == set(contract.CSV_COLUMNS)
        for name, feature in example.features.feature.items():
            assert feature.WhichOneof("kind") == kinds[contract.tf_dtype_name(name)], name
    assert sorted(e.features.feature["flight"].int64_list.value[0] for e in examples) == sorted(
        expected["flight"].astype(int))
    assert sum(e.features.feature["late"].int64_list.value[0] for e in examples) == int(
        expected["late"].sum())
    # Empty weather cells become empty float lists; the schema accepts them.
    assert sum(not e.features.feature["wind_gust"].float_list.value for e in examples) == int(
        expected["wind_gust"].isna().sum())

    schema = schema_gen.load_schema()
    stats = tfdv.generate_statistics_from_tfrecord(f"{uri}/Split-*/*")
    anomalies = tfdv.validate_statistics(stats, schema, environment=schema_gen.TRAINING)
    assert dict(anomalies.anomaly_info) == {}
