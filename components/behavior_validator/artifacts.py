"""Artifact type of the behaviour validation report."""
from tfx import types


class BehaviorValidationReport(types.Artifact):
    """report.json and report.html of BehaviorValidator (plus behavior_metrics.json, the raw
    aggregates of the Beam pipeline). Custom properties: `behavior_checks_passed` (1/0) and
    `failed_checks` (the failed behaviour checks, comma-separated).

    TYPE_NAME has the `<namespace>.<Title>` form KubeflowV2DagRunner requires of custom types (the
    namespace of this repository's custom types).
    """
    TYPE_NAME = "flightdelay.BehaviorValidationReport"
