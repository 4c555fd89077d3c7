"""Artifact type of the drift report."""
from tfx import v1 as tfx


class DriftReport(tfx.dsl.Artifact):
    """Drift report of one span: drift_report.json + drift_report.html in its uri.

    Custom properties: blessed (1/0), verdict, drifted_features, blocking_drift, ...
    """

    # KubeflowV2DagRunner requires "<namespace>.<Title>", and Vertex's run-executor imports the class
    # by that name: components/__init__.py resolves components.DriftReport to this class.
    TYPE_NAME = "components.DriftReport"
