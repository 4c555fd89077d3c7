"""Model behaviour validator: a Beam-powered TFX component (see README.md).

The checks (behavior.py, config.py, report.py) need only Beam and TensorFlow; the TFX classes are
imported lazily so that importing the logic does not import TFX.
"""
from components.model_validator.config import DEFAULT_CONFIG
from components.model_validator.config import ValidatorConfig

_LAZY = {
    "ModelBehaviorValidator": "components.model_validator.component",
    "ModelBehaviorValidatorSpec": "components.model_validator.component",
    "Executor": "components.model_validator.executor",
    "ModelValidationReport": "components.model_validator.artifacts",
}

__all__ = ["ModelBehaviorValidator", "ModelBehaviorValidatorSpec", "ModelValidationReport",
           "Executor", "ValidatorConfig", "DEFAULT_CONFIG"]


def __getattr__(name):
    if name in _LAZY:
        import importlib  # pylint: disable=g-import-not-at-top
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
