"""InfraValidator without Docker: TFX's InfraValidatorSpec + executor with a local-process server."""
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
