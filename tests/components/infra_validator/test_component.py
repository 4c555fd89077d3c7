"""Component wiring and Vertex (KubeflowV2DagRunner) compilation."""
import json

import pytest
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner
from tfx.proto import infra_validator_pb2
from tfx.types import standard_component_specs as keys
from tfx.utils import proto_utils

from components.infra_validator import LocalInfraValidator
from components.infra_validator import SYS_EXECUTABLE
from components.infra_validator import is_local_process
from components.infra_validator import make_request_spec
from components.infra_validator import make_serving_spec
from components.infra_validator import make_validation_spec
from components.infra_validator import executor as executor_lib
from components.infra_validator.component import SERVER_COMMAND_KEY

_EXECUTOR_PATH = f"{executor_lib.Executor.__module__}.{executor_lib.Executor.__name__}"


def _importers():
    model = tfx.dsl.Importer(source_uri="gs://bucket/model",
                             artifact_type=tfx.types.standard_artifacts.Model).with_id(
                                 "model_importer")
    examples = tfx.dsl.Importer(source_uri="gs://bucket/examples",
                                artifact_type=tfx.types.standard_artifacts.Examples,
                                properties={"split_names": '["eval"]'}).with_id("examples_importer")
    return model, examples


def _pipeline(validator_cls, **kwargs):
    model, examples = _importers()
    validator = validator_cls(
        model=model.outputs["result"], examples=examples.outputs["result"], **kwargs)
    pusher = tfx.components.Pusher(
        infra_blessing=validator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory="gs://bucket/serving")))
    return tfx.dsl.Pipeline(pipeline_name="iv-compile", pipeline_root="gs://bucket/root",
                            components=[model, examples, validator, pusher])


def _compile(pipeline, out_dir):
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            default_image="us-docker.pkg.dev/project/repo/flight-pipeline:latest"),
        output_dir=str(out_dir), output_filename="pipeline.json")
    runner.run(pipeline, write_out=True)
    with open(out_dir / "pipeline.json") as f:
        return json.load(f)


def test_compiles_for_vertex_with_our_executor(tmp_path):
    assert not issubclass(LocalInfraValidator, tfx.components.InfraValidator)
    spec = _compile(_pipeline(LocalInfraValidator, request_spec=make_request_spec(),
                              validation_spec=make_validation_spec(),
                              server_command=[SYS_EXECUTABLE, "-m", "some.server"]), tmp_path)

    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    ours = [label for label, e in executors.items()
            if _EXECUTOR_PATH in e.get("container", {}).get("args", [])]
    assert ours == ["LocalInfraValidator_executor"], sorted(executors)
    task = spec["pipelineSpec"]["root"]["dag"]["tasks"]["LocalInfraValidator"]
    params = task["inputs"]["parameters"]
    serving = json.loads(
        params[keys.SERVING_SPEC_KEY]["runtimeValue"]["constantValue"]["stringValue"])
    assert serving["tensorflow_serving"]["tags"] == ["local"]
    assert "local_docker" not in serving and "kubernetes" not in serving
    # The fallback command travels as a JSON list, with the interpreter left to the executor's host.
    command = params[SERVER_COMMAND_KEY]["runtimeValue"]["constantValue"]["stringValue"]
    assert json.loads(command) == ["{sys.executable}", "-m", "some.server"]
    # Pusher consumes our blessing.
    pusher_inputs = spec["pipelineSpec"]["root"]["dag"]["tasks"]["Pusher"]["inputs"]["artifacts"]
    assert pusher_inputs["infra_blessing"]["taskOutputArtifact"]["producerTask"] == (
        "LocalInfraValidator")


def test_stock_infra_validator_does_not_compile_for_vertex(tmp_path):
    """Why LocalInfraValidator exists: TFX's own class is refused by the V2 runner."""
    with pytest.raises(NotImplementedError, match="not supported"):
        _compile(_pipeline(tfx.components.InfraValidator, serving_spec=make_serving_spec()),
                 tmp_path)


def test_default_serving_spec_is_local_process_with_a_tag():
    model, _ = _importers()
    component = LocalInfraValidator(model=model.outputs["result"])
    serving_spec = proto_utils.json_to_proto(
        component.exec_properties[keys.SERVING_SPEC_KEY], infra_validator_pb2.ServingSpec())
    assert serving_spec == make_serving_spec()
    assert is_local_process(serving_spec)
    assert component.outputs["blessing"].type == tfx.types.standard_artifacts.InfraBlessing


def test_rejects_untagged_serving_spec_and_requests_without_examples():
    model, _ = _importers()
    untagged = make_serving_spec()
    untagged.tensorflow_serving.ClearField("tags")
    with pytest.raises(ValueError, match="bless the model unchecked"):
        LocalInfraValidator(model=model.outputs["result"], serving_spec=untagged)
    with pytest.raises(ValueError, match="needs an `examples` channel"):
        LocalInfraValidator(model=model.outputs["result"], request_spec=make_request_spec())


@pytest.mark.parametrize("command", ["python -m server", [], ["python", ""], [["nested"]]])
def test_rejects_a_server_command_that_is_not_a_list_of_strings(command):
    model, _ = _importers()
    with pytest.raises(ValueError, match="server_command must be a non-empty list"):
        LocalInfraValidator(model=model.outputs["result"], server_command=command)
