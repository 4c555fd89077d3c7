"""Artifact type of the behaviour validation report."""
from tfx import types


class ModelValidationReport(types.Artifact):
    """report.json and report.html of ModelBehaviorValidator (plus behavior_metrics.json, the raw
    aggregates of the Beam pipeline). Custom properties: `blessed` (1/0), `failed_checks`.

    TYPE_NAME has the `<namespace>.<Title>` form KubeflowV2DagRunner requires of custom types.
    """
    TYPE_NAME = "flightdelay.ModelValidationReport"
