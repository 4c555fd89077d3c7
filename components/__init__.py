"""Reusable TFX components (generic: they import nothing from pipeline/, data/ or serving/).

Custom artifact types are named `components.<Title>`: KubeflowV2DagRunner requires a
`<namespace>.<Title>` type name, and Vertex's run-executor imports the class by that very name, so
`components.<Title>` must resolve to the class (lazily: importing `components` stays cheap).
"""
import importlib

ARTIFACT_TYPES = {
    "DriftReport": "components.drift_validator.artifacts",
    "BehaviorValidationReport": "components.behavior_validator.artifacts",
}


def __getattr__(name):
    if name in ARTIFACT_TYPES:
        return getattr(importlib.import_module(ARTIFACT_TYPES[name]), name)
    raise AttributeError(f"module 'components' has no attribute {name!r}")
