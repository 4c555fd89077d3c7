"""InfraValidator without Docker that also compiles for Vertex.

    from components.infra_validator import (LocalInfraValidator, make_request_spec,
                                            make_serving_spec, make_validation_spec)
    infra_validator = LocalInfraValidator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        serving_spec=make_serving_spec(),          # no platform set = local model-server process
        request_spec=make_request_spec(),          # Predict on serving_tf_example, eval split, warmup
        validation_spec=make_validation_spec())
    pusher = tfx.components.Pusher(                 # no `model=`: pushes the warmed (stamped) model
        model_blessing=evaluator.outputs["blessing"],
        infra_blessing=infra_validator.outputs["blessing"],
        push_destination=...)
"""
from components.infra_validator.component import LocalInfraValidator
from components.infra_validator.specs import (
    DEFAULT_MODEL_NAME,
    LOCAL_PROCESS_TAG,
    check_serving_spec,
    is_local_process,
    make_request_spec,
    make_serving_spec,
    make_validation_spec,
)

__all__ = [
    "DEFAULT_MODEL_NAME", "LOCAL_PROCESS_TAG", "LocalInfraValidator", "check_serving_spec",
    "is_local_process", "make_request_spec", "make_serving_spec", "make_validation_spec",
]
