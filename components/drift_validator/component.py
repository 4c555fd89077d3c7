"""TFX glue of the drift validator: a function-based component over `drift.validate_drift`."""
import json
import os
from typing import TypedDict

import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.components.statistics_gen import stats_artifact_utils
from tfx.types import artifact_utils
from tfx.utils import io_utils

from components.drift_validator import constants
from components.drift_validator import drift
from components.drift_validator import duplicates
from components.drift_validator.artifacts import DriftReport
from components.drift_validator.spans import artifact_span

ExampleStatistics = tfx.types.standard_artifacts.ExampleStatistics
ExampleAnomalies = tfx.types.standard_artifacts.ExampleAnomalies
Examples = tfx.types.standard_artifacts.Examples
Schema = tfx.types.standard_artifacts.Schema
InputArtifact = tfx.dsl.components.InputArtifact
OutputArtifact = tfx.dsl.components.OutputArtifact
Parameter = tfx.dsl.components.Parameter

# Every optional parameter with its default. DriftValidator passes all of them explicitly so that they
# are recorded as execution properties in MLMD and take part in the cache key. `feature_thresholds`
# (what to compare) has no default.
PARAMETER_DEFAULTS = {
    "blocking_features": "[]",
    "dataset_checks": "{}",
    "label_key": constants.DEFAULT_LABEL_KEY,
    "label_shift_threshold": constants.DEFAULT_LABEL_SHIFT_THRESHOLD,
    "split": constants.DEFAULT_SPLIT,
    "component_version": constants.COMPONENT_VERSION,
}
# Parameters that are JSON strings in MLMD; DriftValidator also takes them as Python values.
JSON_PARAMETERS = ("feature_thresholds", "blocking_features", "dataset_checks")
OPTIONAL_INPUTS = ("baseline_statistics", "anomalies", "examples")
ANOMALIES_FILE = "SchemaDiff.pb"  # ExampleValidator's file per split (TFX 1.16)


class DriftOutputs(TypedDict):
    blessed: int


def split_dir(artifact: tfx.dsl.Artifact, split: str, what: str) -> str:
    """The folder of one split of an artifact; ValueError naming the split when it has none."""
    splits = artifact_utils.decode_split_names(artifact.split_names) if artifact.split_names else []
    if split not in splits:
        raise ValueError(f"{what}: split {split!r} not in the artifact's split_names {splits} "
                         f"(uri {artifact.uri})")
    return artifact_utils.get_split_uri([artifact], split)


def load_split_statistics(artifact: tfx.dsl.Artifact, split: str, what: str):
    """DatasetFeatureStatisticsList of one split of an ExampleStatistics artifact."""
    path = os.path.join(split_dir(artifact, split, what), stats_artifact_utils.BINARY_PB_BASENAME)
    try:
        return stats_artifact_utils.load_statistics(artifact, split).proto()
    except Exception as e:  # tf.errors.NotFoundError, DecodeError, ...
        raise ValueError(f"{what}: cannot read statistics of split {split!r} from {path}: {e}") from e


def load_schema(artifact: tfx.dsl.Artifact):
    path = io_utils.get_only_uri_in_dir(artifact.uri)
    try:
        return io_utils.SchemaReader().read(path)
    except Exception as e:
        raise ValueError(f"schema: cannot read {path}: {e}") from e


def load_split_anomalies(artifact: tfx.dsl.Artifact, split: str):
    """Anomalies proto of one split of an ExampleAnomalies artifact (ExampleValidator's output)."""
    path = os.path.join(split_dir(artifact, split, "anomalies"), ANOMALIES_FILE)
    try:
        return anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
    except Exception as e:  # NotFoundError, DecodeError, ...
        raise ValueError(f"anomalies: cannot read split {split!r} from {path}: {e}") from e


def count_split_duplicates(artifact: tfx.dsl.Artifact, split: str):
    """(rows, duplicated rows) of one split of an Examples artifact (its TFRecord files)."""
    folder = split_dir(artifact, split, "examples")
    paths = sorted(tf.io.gfile.glob(os.path.join(folder, "*")))
    if not paths:
        raise ValueError(f"examples: no files in split {split!r} ({folder})")
    return duplicates.count_duplicates(duplicates.example_keys(paths))


@tfx.dsl.components.component
def drift_validator(
    statistics: InputArtifact[ExampleStatistics],
    schema: InputArtifact[Schema],
    drift_report: OutputArtifact[DriftReport],
    feature_thresholds: Parameter[str],
    baseline_statistics: InputArtifact[ExampleStatistics] = None,
    anomalies: InputArtifact[ExampleAnomalies] = None,
    examples: InputArtifact[Examples] = None,
    blocking_features: Parameter[str] = PARAMETER_DEFAULTS["blocking_features"],
    dataset_checks: Parameter[str] = PARAMETER_DEFAULTS["dataset_checks"],
    label_key: Parameter[str] = constants.DEFAULT_LABEL_KEY,
    label_shift_threshold: Parameter[float] = constants.DEFAULT_LABEL_SHIFT_THRESHOLD,
    split: Parameter[str] = constants.DEFAULT_SPLIT,
    component_version: Parameter[str] = constants.COMPONENT_VERSION,
) -> DriftOutputs:
    """Compares a span's statistics with the previous span's; blesses the span or blocks it.

    `anomalies` (ExampleValidator's) are gated by `dataset_checks.anomalies`; `examples` (the
    span's Examples) are read only to count duplicated rows when `dataset_checks.duplicates` is set.
    Writes drift_report.json/.html into `drift_report` and sets its custom properties (`blessed`
    1/0, `verdict`, `blocking`, `drifted_features`, `blocking_drift`, ...); also returns `blessed`.
    """
    config = drift.DriftConfig.from_json(feature_thresholds, blocking_features, label_key,
                                         label_shift_threshold, dataset_checks)
    current = load_split_statistics(statistics, split, "statistics")
    current_span = artifact_span(statistics)
    baseline_span = artifact_span(baseline_statistics) if baseline_statistics is not None else None
    # The statistics themselves, or those of the same or a later span (e.g. the Resolver-node
    # baseline on a re-run of a span), say nothing about drift since the previous span: ignored,
    # and the report says so.
    ignored = baseline_statistics is not None and (
        baseline_statistics.uri == statistics.uri
        or (baseline_span is not None and current_span is not None and baseline_span >= current_span))
    baseline = (load_split_statistics(baseline_statistics, split, "baseline_statistics")
                if baseline_statistics is not None and not ignored else None)
    schema_anomalies = load_split_anomalies(anomalies, split) if anomalies is not None else None
    duplicate_counts = (count_split_duplicates(examples, split)
                        if examples is not None and config.dataset_checks.duplicates is not None else None)
    # Why there is no baseline: the resolver found no statistics of an earlier span (it gives the newest
    # statistics of the largest span below the current one).
    # (StatisticsGen's artifacts carry span 0: the span is the examples' when they are given.)
    span = current_span if current_span is not None else (artifact_span(examples) if examples is not None else None)
    no_baseline_reason = ("the one given is not of an earlier span" if ignored else
                          f"no statistics of a span before span {span} in the metadata store"
                          if span is not None else "no earlier statistics in the metadata store")
    report = drift.validate_drift(current, baseline, load_schema(schema), config, schema_anomalies,
                                  duplicate_counts, no_baseline_reason=no_baseline_reason)
    if ignored:
        report["summary"] = (f"Baseline statistics ignored ({baseline_statistics.uri}, span {baseline_span}): "
                             f"not of a span earlier than the current one ({statistics.uri}, span "
                             f"{current_span}). " + report["summary"])
    report.update(
        baseline_ignored=ignored,
        split=split,
        statistics_uri=statistics.uri,
        statistics_span=current_span,
        baseline_uri=baseline_statistics.uri if baseline_statistics is not None else None,
        baseline_span=baseline_span,
        executed_component_version=component_version,
    )
    drift.write_report(report, drift_report.uri)

    drift_report.set_int_custom_property("blessed", report["blessed"])
    drift_report.set_string_custom_property("verdict", report["verdict"])
    drift_report.set_int_custom_property("has_baseline", int(report["has_baseline"]))
    drift_report.set_int_custom_property("baseline_ignored", int(ignored))
    drift_report.set_string_custom_property("drifted_features", ",".join(report["drifted_features"]))
    drift_report.set_string_custom_property("blocking_drift", ",".join(report["blocking_drift"]))
    drift_report.set_string_custom_property("warning_drift", ",".join(report["warning_drift"]))
    drift_report.set_int_custom_property("num_blocking_drift", len(report["blocking_drift"]))
    drift_report.set_string_custom_property("blocking", ",".join(report["blocking"]))
    drift_report.set_string_custom_property("warnings", ",".join(report["warnings"]))
    label = report["label"]
    if label and label["abs_change"] is not None:
        drift_report.set_float_custom_property("label_shift", label["abs_change"])
        drift_report.set_int_custom_property("label_shift_blocking", int(label["drifted"]))
    drift_report.set_string_custom_property("component_version", component_version)
    return {"blessed": report["blessed"]}


class DriftValidator(drift_validator):
    """The drift validator node. Same inputs/parameters as `drift_validator`, all defaults explicit.

    Unset parameters are filled from PARAMETER_DEFAULTS (including `component_version`, which is
    constants.COMPONENT_VERSION) so MLMD records them and a version bump invalidates the cache.
    `feature_thresholds` and `dataset_checks` (dicts) and `blocking_features` (a list) may be given as
    Python values or as their JSON.
    """

    def __init__(self, **kwargs):
        for key, value in PARAMETER_DEFAULTS.items():
            kwargs.setdefault(key, value)
        for key in JSON_PARAMETERS:
            if key in kwargs and not isinstance(kwargs[key], str):
                value = kwargs[key]
                kwargs[key] = json.dumps(dict(value) if isinstance(value, dict) else sorted(value),
                                         sort_keys=True)
        for key in OPTIONAL_INPUTS:
            if key in kwargs and kwargs[key] is None:
                del kwargs[key]
        super().__init__(**kwargs)
