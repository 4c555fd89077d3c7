"""LocalInfraValidator: InfraValidatorSpec + `server_command`, with our executor (compiles for Vertex too).

Deliberately not a subclass of tfx.components.InfraValidator: KubeflowV2DagRunner refuses that
class (NotImplementedError in tfx/orchestration/kubeflow/v2/step_builder.py).
"""
import json
from typing import Optional, Sequence

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_driver
from tfx.dsl.components.base import executor_spec
from tfx.proto import infra_validator_pb2
from tfx.types import component_spec
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs

from components.infra_validator import executor
from components.infra_validator import specs

SERVER_COMMAND_KEY = executor.SERVER_COMMAND_KEY


class LocalInfraValidatorSpec(types.ComponentSpec):
    """TFX's InfraValidatorSpec plus the fallback server command (JSON list of strings)."""

    PARAMETERS = {
        **standard_component_specs.InfraValidatorSpec.PARAMETERS,
        SERVER_COMMAND_KEY: component_spec.ExecutionParameter(type=str, optional=True),
    }
    INPUTS = standard_component_specs.InfraValidatorSpec.INPUTS
    OUTPUTS = standard_component_specs.InfraValidatorSpec.OUTPUTS


class LocalInfraValidator(base_component.BaseComponent):
    """Loads the model in a TF-Serving-compatible server and queries it; outputs `blessing`.

    Default serving_spec: local model-server process (no Docker): the real
    `tensorflow_model_server` when installed ($TF_SERVING_BINARY or PATH), else `server_command`
    (e.g. `[model_server_process.SYS_EXECUTABLE, "-m", "my.server"]`, which takes the binary's
    flags). Pass a ServingSpec with `local_docker` or `kubernetes` to use TFX's runners. With
    `examples` and a `request_spec` (LOAD_AND_QUERY) requests are Predict calls with serialized
    tf.Examples; with `request_spec.make_warmup` the blessing carries a stamped model with warmup
    requests for Pusher.
    """

    SPEC_CLASS = LocalInfraValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
    DRIVER_CLASS = base_driver.BaseDriver

    def __init__(self,
                 model: types.BaseChannel,
                 examples: Optional[types.BaseChannel] = None,
                 serving_spec: Optional[infra_validator_pb2.ServingSpec] = None,
                 request_spec: Optional[infra_validator_pb2.RequestSpec] = None,
                 validation_spec: Optional[infra_validator_pb2.ValidationSpec] = None,
                 server_command: Optional[Sequence[str]] = None):
        serving_spec = serving_spec if serving_spec is not None else specs.make_serving_spec()
        specs.check_serving_spec(serving_spec)
        if request_spec is not None and examples is None:
            raise ValueError("request_spec needs an `examples` channel to build requests from")
        if server_command is not None and (
                isinstance(server_command, str) or not server_command
                or not all(isinstance(part, str) and part for part in server_command)):
            raise ValueError(f"server_command must be a non-empty list of non-empty strings, got "
                             f"{server_command!r}")
        spec = LocalInfraValidatorSpec(
            model=model,
            examples=examples,
            blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            serving_spec=serving_spec,
            validation_spec=validation_spec,
            request_spec=request_spec,
            server_command=json.dumps(list(server_command)) if server_command else None)
        super().__init__(spec=spec)
