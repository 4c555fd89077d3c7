"""LocalInfraValidator: InfraValidatorSpec with our executor (compiles for Vertex too).

Deliberately not a subclass of tfx.components.InfraValidator: KubeflowV2DagRunner refuses that
class (NotImplementedError in tfx/orchestration/kubeflow/v2/step_builder.py).
"""
from typing import Optional

from tfx import types
from tfx.dsl.components.base import base_component
from tfx.dsl.components.base import base_driver
from tfx.dsl.components.base import executor_spec
from tfx.proto import infra_validator_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs

from components.infra_validator import executor
from components.infra_validator import specs


class LocalInfraValidator(base_component.BaseComponent):
    """Loads the model in a TF-Serving-compatible server and queries it; outputs `blessing`.

    Default serving_spec: local model-server process (no Docker). Pass a ServingSpec with
    `local_docker` or `kubernetes` to use TFX's runners. With `examples` and a `request_spec`
    (LOAD_AND_QUERY) requests are Predict calls with serialized eval tf.Examples; with
    `request_spec.make_warmup` the blessing carries a stamped model with warmup requests for Pusher.
    """

    SPEC_CLASS = standard_component_specs.InfraValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(executor.Executor)
    DRIVER_CLASS = base_driver.BaseDriver

    def __init__(self,
                 model: types.BaseChannel,
                 examples: Optional[types.BaseChannel] = None,
                 serving_spec: Optional[infra_validator_pb2.ServingSpec] = None,
                 request_spec: Optional[infra_validator_pb2.RequestSpec] = None,
                 validation_spec: Optional[infra_validator_pb2.ValidationSpec] = None):
        serving_spec = serving_spec if serving_spec is not None else specs.make_serving_spec()
        specs.check_serving_spec(serving_spec)
        if request_spec is not None and examples is None:
            raise ValueError("request_spec needs an `examples` channel to build requests from")
        spec = standard_component_specs.InfraValidatorSpec(
            model=model,
            examples=examples,
            blessing=types.Channel(type=standard_artifacts.InfraBlessing),
            serving_spec=serving_spec,
            validation_spec=validation_spec,
            request_spec=request_spec)
        super().__init__(spec=spec)
