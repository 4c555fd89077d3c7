"""Data drift validator: compares a span's statistics with the previous span's (TFDV comparators).

`DriftValidator` (the TFX component) and `DriftReport` (its output artifact type) import TFX and are
loaded lazily, so the pure logic in `components.drift_validator.drift` runs without TFX.
"""
from components.drift_validator.constants import (  # noqa: F401
    BLOCKED, COMPONENT_VERSION, DEFAULT_LABEL_KEY, DEFAULT_LABEL_SHIFT_THRESHOLD, DEFAULT_SPLIT,
    NO_BASELINE, PASS, WARN)

_LAZY = {
    "DriftValidator": "components.drift_validator.component",
    "drift_validator": "components.drift_validator.component",
    "PARAMETER_DEFAULTS": "components.drift_validator.component",
    "DriftReport": "components.drift_validator.artifacts",
    "previous_span_statistics": "components.drift_validator.resolver",
    "latest_statistics_resolver": "components.drift_validator.resolver",
}

__all__ = sorted(_LAZY) + [
    "BLOCKED", "COMPONENT_VERSION", "DEFAULT_LABEL_KEY", "DEFAULT_LABEL_SHIFT_THRESHOLD", "DEFAULT_SPLIT",
    "NO_BASELINE", "PASS", "WARN"]


def __getattr__(name):
    if name in _LAZY:
        import importlib  # pylint: disable=import-outside-toplevel
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
