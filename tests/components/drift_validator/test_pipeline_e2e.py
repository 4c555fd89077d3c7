"""DriftValidator in real LocalDagRunner pipelines: MLMD lineage, previous-span baseline, Cond gating.

- ImporterNodes for the statistics fixtures (both baseline variants): span 1 (no baseline) ->
  blessed; span 2 (same distribution) -> blessed; span 3 (carrier mix changed, a blocking feature)
  -> not blessed, and the node under `tfx.dsl.Cond` does not run.
- CsvExampleGen + StatisticsGen over the real fixture spans (the production wiring).
- `component_version` is part of the cache key.
"""
import json
import os
import shutil

import pandas as pd
import pytest
from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.orchestration import metadata

from components.drift_validator import DriftReport, DriftValidator
from components.drift_validator.resolver import latest_statistics_resolver, previous_span_statistics
from pipeline.dag import configs

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PIPELINE_NAME = "drift-e2e"


@tfx.dsl.components.component
def gated_marker(report: tfx.dsl.components.InputArtifact[DriftReport],
                 marker: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.String]):
    """Stands in for Trainer: runs only when the span is blessed."""
    marker.value = report.uri


def _stats_dir(root, fixture):
    split_dir = os.path.join(root, fixture, "Split-train")
    os.makedirs(split_dir, exist_ok=True)
    shutil.copy(os.path.join(FIXTURES, f"{fixture}.pb"), os.path.join(split_dir, "FeatureStats.pb"))
    return os.path.join(root, fixture)


def _pipeline(tmp_path, span, stats_uri, schema_uri, baseline_mode):
    stats = tfx.dsl.Importer(
        source_uri=stats_uri, artifact_type=tfx.types.standard_artifacts.ExampleStatistics,
        properties={"span": span, "split_names": '["train"]'}).with_id("statistics_importer")
    schema = tfx.dsl.Importer(
        source_uri=schema_uri, artifact_type=tfx.types.standard_artifacts.Schema).with_id("schema_importer")
    extra = []
    if baseline_mode == "resolver_function":
        baseline = previous_span_statistics(stats.outputs["result"])
    else:  # the Vertex-compatible Resolver node, run before the statistics producer
        resolver = latest_statistics_resolver(stats, output_key="result")
        stats.add_upstream_node(resolver)
        baseline = resolver.outputs["statistics"]
        extra = [resolver]
    validator = DriftValidator(
        statistics=stats.outputs["result"], baseline_statistics=baseline, schema=schema.outputs["result"],
        **configs.DRIFT_VALIDATOR)
    with tfx.dsl.Cond(validator.outputs["drift_report"].future()[0].custom_property("blessed") == 1):
        marker = gated_marker(report=validator.outputs["drift_report"])
    return tfx.dsl.Pipeline(
        pipeline_name=PIPELINE_NAME, pipeline_root=str(tmp_path / "root"),
        components=extra + [stats, schema, validator, marker],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "mlmd.sqlite")))


def _executions(store, type_name):
    return sorted(store.get_executions_by_type(type_name), key=lambda e: e.id)


@pytest.mark.e2e
@pytest.mark.parametrize("baseline_mode", ["resolver_function", "resolver_node"])
def test_three_spans_lineage_and_cond_gating(tmp_path, baseline_mode):
    root = str(tmp_path / "stats")
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    shutil.copy(os.path.join(FIXTURES, "schema.pbtxt"), schema_dir / "schema.pbtxt")
    spans = {1: "base", 2: "same", 3: "drift_carrier"}
    for span, fixture in spans.items():
        tfx.orchestration.LocalDagRunner().run(
            _pipeline(tmp_path, span, _stats_dir(root, fixture), str(schema_dir), baseline_mode))

    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(tmp_path / "mlmd.sqlite"))
    with metadata.Metadata(config) as m:
        store = m.store
        validator_type = DriftValidator.__module__ + "." + DriftValidator.__name__
        runs = _executions(store, validator_type)
        assert [e.last_known_state for e in runs] == [metadata_store_pb2.Execution.COMPLETE] * 3
        # Parameters are recorded (DriftValidator passes all defaults explicitly).
        assert all("component_version" in e.custom_properties for e in runs)

        verdicts = []
        for span, execution in zip(spans, runs):
            events = store.get_events_by_execution_ids([execution.id])
            by_key = {}
            for event in events:
                key = event.path.steps[0].key
                by_key.setdefault((event.type, key), []).append(event.artifact_id)
            inputs = {k for (t, k) in by_key if t == metadata_store_pb2.Event.INPUT}
            outputs = {k for (t, k) in by_key if t == metadata_store_pb2.Event.OUTPUT}
            assert {"statistics", "schema"} <= inputs
            assert {"drift_report", "blessed"} <= outputs
            [stats] = store.get_artifacts_by_id(by_key[(metadata_store_pb2.Event.INPUT, "statistics")])
            assert stats.properties["span"].int_value == span
            baseline_ids = by_key.get((metadata_store_pb2.Event.INPUT, "baseline_statistics"), [])
            if span == 1:
                assert baseline_ids == []
            else:
                [baseline] = store.get_artifacts_by_id(baseline_ids)
                assert baseline.properties["span"].int_value == span - 1
            [report] = store.get_artifacts_by_id(by_key[(metadata_store_pb2.Event.OUTPUT, "drift_report")])
            with open(os.path.join(report.uri, "drift_report.json")) as f:
                body = json.load(f)
            assert body["blessed"] == report.custom_properties["blessed"].int_value
            verdicts.append((report.custom_properties["verdict"].string_value,
                             report.custom_properties["blessed"].int_value,
                             report.custom_properties["blocking_drift"].string_value))
        assert verdicts == [("NO_BASELINE", 1, ""), ("PASS", 1, ""), ("BLOCKED", 0, "carrier")]

        # The gated node ran for spans 1 and 2 only.
        marker_type = gated_marker.__module__ + "." + gated_marker.__name__
        completed = [e for e in _executions(store, marker_type)
                     if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
        assert len(completed) == 2
        marked = sorted(store.get_artifacts_by_type("String"), key=lambda a: a.id)
        assert len(marked) == 2


@pytest.mark.e2e
def test_component_version_is_part_of_the_cache_key(tmp_path):
    schema_dir = tmp_path / "schema"
    schema_dir.mkdir()
    shutil.copy(os.path.join(FIXTURES, "schema.pbtxt"), schema_dir / "schema.pbtxt")
    stats_uri = _stats_dir(str(tmp_path / "stats"), "base")
    db = str(tmp_path / "mlmd.sqlite")

    def run(**params):
        stats = tfx.dsl.Importer(
            source_uri=stats_uri, artifact_type=tfx.types.standard_artifacts.ExampleStatistics,
            properties={"span": 1, "split_names": '["train"]'}).with_id("statistics_importer")
        schema = tfx.dsl.Importer(source_uri=str(schema_dir),
                                  artifact_type=tfx.types.standard_artifacts.Schema).with_id("schema_importer")
        validator = DriftValidator(statistics=stats.outputs["result"], schema=schema.outputs["result"],
                                   **dict(configs.DRIFT_VALIDATOR, **params))
        tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
            pipeline_name="drift-cache", pipeline_root=str(tmp_path / "root"), enable_cache=True,
            components=[stats, schema, validator],
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(db)))

    run()
    run()  # unchanged: served from the cache
    run(component_version="bumped")  # what a version bump in constants.py does: executes again
    with metadata.Metadata(tfx.orchestration.metadata.sqlite_metadata_connection_config(db)) as m:
        states = [e.last_known_state for e in _executions(
            m.store, DriftValidator.__module__ + "." + DriftValidator.__name__)]
    E = metadata_store_pb2.Execution
    assert states == [E.COMPLETE, E.CACHED, E.COMPLETE]


def _real_pipeline(tmp_path, data_root, span):
    example_gen = tfx.components.CsvExampleGen(
        input_base=data_root,
        input_config=tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single_split", pattern="span-{SPAN}/*")]),
        output_config=tfx.proto.Output(split_config=tfx.proto.SplitConfig(splits=[
            tfx.proto.SplitConfig.Split(name="train", hash_buckets=3),
            tfx.proto.SplitConfig.Split(name="eval", hash_buckets=1)])),
        range_config=tfx.proto.RangeConfig(
            static_range=tfx.proto.StaticRange(start_span_number=span, end_span_number=span)))
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema = tfx.components.ImportSchemaGen(schema_file=os.path.join(REPO, "data", "schema", "schema.pbtxt"))
    validator = DriftValidator(
        statistics=statistics_gen.outputs["statistics"],
        baseline_statistics=previous_span_statistics(statistics_gen.outputs["statistics"]),
        schema=schema.outputs["schema"], **configs.DRIFT_VALIDATOR)
    with tfx.dsl.Cond(validator.outputs["drift_report"].future()[0].custom_property("blessed") == 1):
        marker = gated_marker(report=validator.outputs["drift_report"])
    return tfx.dsl.Pipeline(
        pipeline_name="drift-real", pipeline_root=str(tmp_path / "root"), enable_cache=True,
        components=[example_gen, statistics_gen, schema, validator, marker],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "mlmd.sqlite")))


@pytest.mark.e2e
def test_real_statistics_gen_spans(tmp_path):
    """CsvExampleGen + StatisticsGen over the real fixture spans (Jan, Feb) and a broken March
    (every UA flight relabelled AA): the baseline is found through lineage (StatisticsGen writes
    span 0 on its statistics), Jan->Feb passes (with or without a warning), the broken span is blocked and the gated
    node skipped."""
    data_root = tmp_path / "spans"
    for span in (1, 2, 3):
        (data_root / f"span-{span}").mkdir(parents=True)
        frame = pd.read_csv(os.path.join(REPO, "tests", "fixtures", "spans", f"span-{span}", "flights.csv"),
                            keep_default_na=False, dtype=str)
        if span == 3:
            frame.loc[frame["carrier"] == "UA", "carrier"] = "AA"
        frame.to_csv(data_root / f"span-{span}" / "flights.csv", index=False)
    for span in (1, 2, 3, 3):  # the last is a cached re-run
        tfx.orchestration.LocalDagRunner().run(_real_pipeline(tmp_path, str(data_root), span))

    config = tfx.orchestration.metadata.sqlite_metadata_connection_config(str(tmp_path / "mlmd.sqlite"))
    with metadata.Metadata(config) as m:
        store = m.store
        runs = _executions(store, DriftValidator.__module__ + "." + DriftValidator.__name__)
        E = metadata_store_pb2.Execution
        assert [e.last_known_state for e in runs] == [E.COMPLETE, E.COMPLETE, E.COMPLETE, E.CACHED]
        verdicts, baseline_spans = [], []
        for execution in runs[:3]:
            events = store.get_events_by_execution_ids([execution.id])
            [report] = store.get_artifacts_by_id(
                [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT
                 and e.path.steps[0].key == "drift_report"])
            verdicts.append((report.custom_properties["verdict"].string_value,
                             report.custom_properties["blocking_drift"].string_value))
            baseline = [e.artifact_id for e in events if e.type == metadata_store_pb2.Event.INPUT
                        and e.path.steps[0].key == "baseline_statistics"]
            baseline_spans.append(_examples_span_of(store, baseline[0]) if baseline else None)
        # Jan -> Feb passes; on these 1,500-flight samples a rare carrier can vanish from Feb's train split
        # (categories_vanished above its warn level, far below block), so a warning is a pass too
        assert verdicts[0] == ("NO_BASELINE", "") and verdicts[2] == ("BLOCKED", "carrier")
        assert verdicts[1] in (("PASS", ""), ("WARN", ""))
        assert baseline_spans == [None, 1, 2]
        marker_type = gated_marker.__module__ + "." + gated_marker.__name__
        assert len([e for e in _executions(store, marker_type) if e.last_known_state == E.COMPLETE]) == 2


def _examples_span_of(store, statistics_id):
    """Span of the Examples read by the execution that produced the statistics."""
    [producer] = [e.execution_id for e in store.get_events_by_artifact_ids([statistics_id])
                  if e.type == metadata_store_pb2.Event.OUTPUT]
    inputs = [e.artifact_id for e in store.get_events_by_execution_ids([producer])
              if e.type == metadata_store_pb2.Event.INPUT]
    [examples] = store.get_artifacts_by_id(inputs)
    return examples.custom_properties["span"].int_value


def _served_files(serving_dir):
    """{relative path: sha256} of everything under the serving directory."""
    import hashlib  # pylint: disable=import-outside-toplevel
    found = {}
    for folder, _, files in os.walk(serving_dir):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, serving_dir)] = hashlib.sha256(f.read()).hexdigest()
    return found


@pytest.mark.e2e
def test_corrupted_span_stops_training_and_the_served_model_stays(tmp_path):
    """The real pipeline: span 1 trains and pushes; span 2 arrives with its weather in °C (the issue's
    case that used to train and get blessed): the drift validator blocks it, naming the features,
    no Trainer runs, nothing is pushed and the served model's files are unchanged."""
    from data import spans_io  # pylint: disable=import-outside-toplevel
    from pipeline.tools import drift_calibration  # pylint: disable=import-outside-toplevel
    from pipeline.local import runner
    from tests.components.drift_validator.corruptions import CORRUPTIONS  # pylint: disable=import-outside-toplevel
    fixtures = os.path.join(REPO, "tests", "fixtures", "spans")
    data_root = tmp_path / "spans"
    shutil.copytree(os.path.join(fixtures, "span-1"), data_root / "span-1")
    first = runner.run_local(str(data_root), str(tmp_path / "out"), span=1, hparams={"epochs": 1},
                             progress=lambda m: None)
    assert first.summary["pushed"] is True
    served = _served_files(first.layout.serving_model_dir)
    assert served

    corrupted = CORRUPTIONS["unit_f_to_c"].corrupt(drift_calibration.read_frame(fixtures, 2))
    spans_io.write_span(data_root, 2, corrupted)
    second = runner.run_local(str(data_root), first.layout.root, span=2, hparams={"epochs": 1},
                              progress=lambda m: None)
    s = second.summary
    assert s["drift"]["verdict"] == "BLOCKED"
    completed = {n["node"] for n in s["nodes"] if n["state"] == "COMPLETE"}
    assert "DriftValidator" in completed and not {"Trainer", "Evaluator", "Pusher"} & completed
    assert s["pushed"] is False
    assert _served_files(first.layout.serving_model_dir) == served

    with metadata.Metadata(tfx.orchestration.metadata.sqlite_metadata_connection_config(
            first.layout.metadata_path)) as m:
        store = m.store
        last = _executions(store, DriftValidator.__module__ + "." + DriftValidator.__name__)[-1]
        events = store.get_events_by_execution_ids([last.id])
        inputs = {e.path.steps[0].key for e in events if e.type == metadata_store_pb2.Event.INPUT}
        assert {"statistics", "baseline_statistics", "schema", "anomalies", "examples"} <= inputs
        [report] = store.get_artifacts_by_id([e.artifact_id for e in events if e.type == metadata_store_pb2.Event.OUTPUT
                                              and e.path.steps[0].key == "drift_report"])
    blocking = report.custom_properties["blocking"].string_value.split(",")
    assert {"distribution:temp", "distribution:dewp"} <= set(blocking)
    with open(os.path.join(report.uri, "drift_report.html")) as f:
        page = f.read()
    assert "<h3>temp</h3>" in page and "<svg" in page
