"""Component wiring, and Vertex (KubeflowV2DagRunner) compilation with Pusher gated by Cond."""
import json

import pytest
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from components.behavior_validator import BehaviorValidationReport
from components.behavior_validator import BehaviorValidator
from components.behavior_validator import constants as c
from components.behavior_validator import executor as executor_lib
from pipeline.dag import configs
from tests.components.behavior_validator import testdata

_EXECUTOR_PATH = f"{executor_lib.Executor.__module__}.{executor_lib.Executor.__name__}"


def _validator(config=None, **kwargs):
    std = tfx.types.standard_artifacts
    model = tfx.dsl.Importer(source_uri="gs://bucket/model", artifact_type=std.Model).with_id(
        "model_importer")
    examples = tfx.dsl.Importer(source_uri="gs://bucket/examples", artifact_type=std.Examples,
                                properties={"split_names": '["train", "eval"]'}).with_id(
                                    "examples_importer")
    schema = tfx.dsl.Importer(source_uri="gs://bucket/schema", artifact_type=std.Schema).with_id(
        "schema_importer")
    validator = BehaviorValidator(model=model.outputs["result"], examples=examples.outputs["result"],
                                  schema=schema.outputs["result"],
                                  config=configs.BEHAVIOR_VALIDATOR_CONFIG if config is None else config,
                                  **kwargs)
    return [model, examples, schema], validator


def test_outputs_and_effective_config():
    _, validator = _validator(config={**configs.BEHAVIOR_VALIDATOR_CONFIG, "min_slice_recall": 0.25})
    assert validator.outputs[c.BLESSING_KEY].type is tfx.types.standard_artifacts.ModelBlessing
    assert validator.outputs[c.REPORT_KEY].type is BehaviorValidationReport
    stored = json.loads(validator.exec_properties[c.CONFIG_KEY])
    assert stored["min_slice_recall"] == 0.25
    assert stored["invariance_values"] == configs.BEHAVIOR_VALIDATOR_CONFIG["invariance_values"]
    assert stored["latency_budget_ms"] == 100.0  # defaults filled in
    assert c.BASELINE_MODEL_KEY not in validator.inputs  # optional, not given
    same = _validator(config=testdata.config(min_slice_recall=0.25).to_json())[1]
    assert same.exec_properties[c.CONFIG_KEY] == validator.exec_properties[c.CONFIG_KEY]


def test_bad_config_fails_at_construction():
    with pytest.raises(ValueError, match="unknown key.*recall_floor"):
        _validator(config={**configs.BEHAVIOR_VALIDATOR_CONFIG, "recall_floor": 0.3})
    with pytest.raises(ValueError, match="missing required key.*label_key"):
        _validator(config={})


def test_compiles_for_vertex_with_pusher_gated_on_blessed(tmp_path):
    nodes, validator = _validator()
    with tfx.dsl.Cond(validator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        pusher = tfx.components.Pusher(
            model=nodes[0].outputs["result"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(base_directory="gs://bucket/serving")))
    pipeline = tfx.dsl.Pipeline(pipeline_name="bv-compile", pipeline_root="gs://bucket/root",
                                components=nodes + [validator, pusher])
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image="us-docker.pkg.dev/project/repo/flight-pipeline:latest"),
        output_dir=str(tmp_path), output_filename="pipeline.json")
    runner.run(pipeline, write_out=True)
    spec = json.loads((tmp_path / "pipeline.json").read_text())["pipelineSpec"]

    executors = spec["deploymentSpec"]["executors"]
    ours = [k for k, e in executors.items() if _EXECUTOR_PATH in e.get("container", {}).get("args", [])]
    assert ours == ["BehaviorValidator_executor"], sorted(executors)
    tasks = spec["root"]["dag"]["tasks"]
    condition = tasks["Pusher"]["triggerPolicy"]["condition"]
    assert "BehaviorValidator" in condition and "blessed" in condition, condition
    outputs = spec["components"]["BehaviorValidator"]["outputDefinitions"]["artifacts"]
    assert set(outputs) == {c.BLESSING_KEY, c.REPORT_KEY}
    assert BehaviorValidationReport.TYPE_NAME in json.dumps(outputs[c.REPORT_KEY])
