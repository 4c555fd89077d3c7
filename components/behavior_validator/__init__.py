"""Behaviour validator: a Beam-powered TFX component (see README.md).

The checks (validate.py and the modules it uses) need only Beam and TensorFlow; the TFX classes are
imported lazily so that importing the logic does not import TFX.
"""
from components.behavior_validator.config import BehaviorValidatorConfig

_LAZY = {
    "BehaviorValidator": "components.behavior_validator.component",
    "BehaviorValidatorSpec": "components.behavior_validator.component",
    "Executor": "components.behavior_validator.executor",
    "BehaviorValidationReport": "components.behavior_validator.artifacts",
}

__all__ = ["BehaviorValidator", "BehaviorValidatorSpec", "BehaviorValidationReport", "Executor",
           "BehaviorValidatorConfig"]


def __getattr__(name):
    if name in _LAZY:
        import importlib  # pylint: disable=import-outside-toplevel
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
