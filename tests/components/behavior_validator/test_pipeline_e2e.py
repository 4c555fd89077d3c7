"""ImporterNodes -> BehaviorValidator -> Pusher gated by Cond on `blessed`, under LocalDagRunner."""
import json
import os
import shutil

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
import pytest
from tfx import v1 as tfx
from tfx.types import artifact_utils

from components.behavior_validator import BehaviorValidationReport
from components.behavior_validator import BehaviorValidator
from components.behavior_validator import constants as c
from tests.components.behavior_validator import testdata

_NAME = "behavior-validator-e2e"


def _pipeline(root, model_uri, examples_uri, schema_uri, baseline_uri=None):
    std = tfx.types.standard_artifacts
    model = tfx.dsl.Importer(source_uri=model_uri, artifact_type=std.Model).with_id("import_model")
    examples = tfx.dsl.Importer(
        source_uri=examples_uri, artifact_type=std.Examples,
        properties={"split_names": artifact_utils.encode_split_names(["train", "eval"])},
    ).with_id("import_examples")
    schema = tfx.dsl.Importer(source_uri=schema_uri, artifact_type=std.Schema).with_id(
        "import_schema")
    nodes = [model, examples, schema]
    baseline = None
    if baseline_uri:
        baseline = tfx.dsl.Importer(source_uri=baseline_uri, artifact_type=std.Model).with_id(
            "import_baseline")
        nodes.append(baseline)
    validator = BehaviorValidator(
        model=model.outputs["result"], examples=examples.outputs["result"],
        schema=schema.outputs["result"],
        baseline_model=baseline.outputs["result"] if baseline else None,
        config=testdata.config(latency_budget_ms=60_000.0),
    ).with_beam_pipeline_args(["--direct_num_workers=1", "--direct_running_mode=in_memory"])
    with tfx.dsl.Cond(validator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        pusher = tfx.components.Pusher(
            model=model.outputs["result"], model_blessing=validator.outputs["blessing"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(
                    base_directory=os.path.join(root, "serving"))))
    return tfx.dsl.Pipeline(
        pipeline_name=_NAME, pipeline_root=os.path.join(root, "pipeline_root"),
        components=nodes + [validator, pusher], enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(root, "metadata.sqlite")))


def _validator_runs(store):
    """(execution, {input key: [artifact]}, {output key: [artifact]}) per validator execution."""
    types = [t for t in store.get_execution_types() if t.name.endswith(".BehaviorValidator")]
    assert len(types) == 1, [t.name for t in store.get_execution_types()]
    runs = []
    for execution in store.get_executions_by_type(types[0].name):
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        ins, outs = {}, {}
        for e in events:
            key = e.path.steps[0].key
            side = ins if e.type == metadata_store_pb2.Event.INPUT else outs
            side.setdefault(key, []).append(artifacts[e.artifact_id])
        runs.append((execution, ins, outs))
    return runs


@pytest.mark.e2e
def test_local_dag_runner_records_validator_and_gates_pusher(tmp_path, models, eval_pattern):
    root = str(tmp_path)
    examples_uri = os.path.join(root, "examples")
    testdata.write_split(os.path.join(examples_uri, "Split-train"), testdata.generated_rows(20))
    testdata.write_split(os.path.join(examples_uri, "Split-eval"), testdata.generated_rows(300))
    schema_uri = os.path.join(root, "schema")
    os.makedirs(schema_uri)
    with open(os.path.join(schema_uri, "schema.pbtxt"), "w") as f:
        f.write(str(testdata.make_schema()))
    model_uris = {}
    for v in (testdata.GOOD, testdata.WEATHER_DECREASING):
        model_uris[v] = os.path.join(root, "models", v)
        shutil.copytree(models[v], os.path.join(model_uris[v], "Format-Serving"))

    runner = tfx.orchestration.LocalDagRunner()
    runner.run(_pipeline(root, model_uris[testdata.GOOD], examples_uri, schema_uri))
    runner.run(_pipeline(root, model_uris[testdata.WEATHER_DECREASING], examples_uri, schema_uri,
                         baseline_uri=model_uris[testdata.GOOD]))

    store = mlmd.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(
        os.path.join(root, "metadata.sqlite")))
    runs = sorted(_validator_runs(store), key=lambda r: r[0].id)
    assert len(runs) == 2
    for (execution, ins, outs), variant, blessed in zip(
        runs, (testdata.GOOD, testdata.WEATHER_DECREASING), (1, 0)):
        assert execution.last_known_state == metadata_store_pb2.Execution.COMPLETE
        assert [a.uri for a in ins[c.MODEL_KEY]] == [model_uris[variant]]
        assert [a.uri for a in ins[c.EXAMPLES_KEY]] == [examples_uri]
        assert [a.uri for a in ins[c.SCHEMA_KEY]] == [schema_uri]
        blessing, report = outs[c.BLESSING_KEY][0], outs[c.REPORT_KEY][0]
        assert blessing.custom_properties[c.ARTIFACT_PROPERTY_BLESSED_KEY].int_value == blessed
        marker = c.BLESSED_FILE_NAME if blessed else c.NOT_BLESSED_FILE_NAME
        assert os.path.exists(os.path.join(blessing.uri, marker))
        assert [t.name for t in store.get_artifact_types_by_id([report.type_id])] == \
            [BehaviorValidationReport.TYPE_NAME]
        assert os.path.exists(os.path.join(report.uri, c.REPORT_HTML_FILE_NAME))
        data = json.loads(open(os.path.join(report.uri, c.REPORT_JSON_FILE_NAME)).read())
        assert data["blessed"] == bool(blessed)
    # Second run: baseline given; the weather-blind model fails the directional check (and, versus
    # the good baseline, loses recall).
    assert [a.uri for a in runs[1][1][c.BASELINE_MODEL_KEY]] == [model_uris[testdata.GOOD]]
    failed = runs[1][2][c.BLESSING_KEY][0].custom_properties[
        c.ARTIFACT_PROPERTY_FAILED_CHECKS_KEY].string_value.split(",")
    assert c.CHECK_DIRECTIONAL in failed and c.CHECK_SLICE_REGRESSION in failed

    # Cond on `blessed`: Pusher pushed the blessed model only.
    pushed = os.listdir(os.path.join(root, "serving"))
    assert len(pushed) == 1
    pusher_types = [t.name for t in store.get_execution_types() if t.name.endswith("Pusher")]
    pusher_runs = [e for t in pusher_types for e in store.get_executions_by_type(t)
                   if e.last_known_state == metadata_store_pb2.Execution.COMPLETE]
    assert len(pusher_runs) == 1
