"""Artifact type of the drift report."""
from tfx import v1 as tfx


class DriftReport(tfx.dsl.Artifact):
    """Drift report of one span: drift_report.json + drift_report.html in its uri.

    Custom properties: blessed (1/0), verdict, drifted_features, blocking_drift, ...
    """

    # "<namespace>.<Name>": the form KubeflowV2DagRunner requires of custom artifact type names.
    TYPE_NAME = "flightdelay.DriftReport"
