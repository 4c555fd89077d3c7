"""Artifact type of the behaviour validation report."""
from tfx import types


class BehaviorValidationReport(types.Artifact):
    """report.json and report.html of BehaviorValidator (plus behavior_metrics.json, the raw
    aggregates of the Beam pipeline). Custom properties: `behavior_checks_passed` (1/0) and
    `failed_checks` (the failed behaviour checks, comma-separated).

    TYPE_NAME: KubeflowV2DagRunner requires "<namespace>.<Title>", and Vertex's run-executor imports
    the class by that name: components/__init__.py resolves components.BehaviorValidationReport to it.
    """
    TYPE_NAME = "components.BehaviorValidationReport"
