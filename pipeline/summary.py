"""What a person needs after a run, read back from ML-Metadata: per-node state and time, spans used,
evaluation metrics, blessing and why, where the model was pushed."""
import json
import os
from typing import Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from pipeline import metadata as mlmd_config

_STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
HEADLINE_METRICS = ("auc", "auc_precision_recall", "precision", "recall", "f1_score", "calibration",
                    "example_count", "mean_label", "mean_prediction")


def _value(value: metadata_store_pb2.Value):
    kind = value.WhichOneof("value")
    if kind == "struct_value":
        from google.protobuf import json_format
        return json_format.MessageToDict(value.struct_value)
    return getattr(value, kind) if kind else None


def _props(artifact) -> Dict:
    props = {k: _value(v) for k, v in artifact.properties.items()}
    props.update({k: _value(v) for k, v in artifact.custom_properties.items()})
    return props


def load_overall_metrics(evaluation_uri: str) -> Dict[str, float]:
    """Overall-slice metrics of a TFMA evaluation (candidate model), keyed by metric name."""
    import tensorflow_model_analysis as tfma
    metrics = {}
    for per_slice in tfma.load_metrics(evaluation_uri):
        if per_slice.slice_key.single_slice_keys:
            continue
        for key_and_value in per_slice.metric_keys_and_values:
            key = key_and_value.key
            if key.model_name == "baseline" or key.is_diff:
                continue
            value = key_and_value.value
            if value.HasField("double_value"):
                metrics[key.name] = value.double_value.value
    return metrics


def _describe_threshold(threshold) -> str:
    if threshold.HasField("change_threshold"):
        change = threshold.change_threshold
        return f"allowed change vs baseline {change.absolute.value:+g}"
    bounds = threshold.value_threshold
    parts = []
    if bounds.HasField("lower_bound"):
        parts.append(f">= {bounds.lower_bound.value:g}")
    if bounds.HasField("upper_bound"):
        parts.append(f"<= {bounds.upper_bound.value:g}")
    return "required " + " and ".join(parts)


def load_validation(evaluation_uri: str) -> Dict:
    """TFMA validation result: ok flag and each failed threshold as a readable line."""
    import tensorflow_model_analysis as tfma
    result = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        where = ", ".join(f"{k.column}={k.bytes_value.decode() or k.int64_value}"
                          for k in per_slice.slice_key.single_slice_keys) or "overall"
        for failure in per_slice.failures:
            key = failure.metric_key
            name = key.name + (" change" if key.is_diff else "")
            failures.append(f"{name} = {failure.metric_value.double_value.value:.4f} on {where}, "
                            f"{_describe_threshold(failure.metric_threshold)}")
    return {"ok": bool(result.validation_ok), "failures": failures,
            "missing_thresholds": bool(result.missing_thresholds)}


def schema_anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
    """{feature: [short descriptions]} from ExampleValidator's Split-*/SchemaDiff.pb files."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2
    found: Dict[str, List[str]] = {}
    for split_dir in sorted(os.listdir(anomalies_uri)):
        path = os.path.join(anomalies_uri, split_dir, "SchemaDiff.pb")
        if not os.path.exists(path):
            continue
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        for feature, info in anomalies.anomaly_info.items():
            text = f"{split_dir.replace('Split-', '')}: {info.short_description or info.description}"
            found.setdefault(feature, []).append(text)
    return found


def _drift_summary(report_dir: str) -> str:
    try:
        with open(os.path.join(report_dir, "drift_report.json")) as f:
            return json.load(f).get("summary", "")
    except (OSError, ValueError):
        return ""


def _run_nodes_and_io(store, run_context):
    """([{node, state, seconds}], {node: {"inputs"|"outputs": {key: [artifacts]}}}) of one run."""
    executions = sorted(store.get_executions_by_context(run_context.id), key=lambda e: e.id)
    node_type_id = store.get_context_type("node").id
    nodes: List[Dict] = []
    # {node: {"inputs"|"outputs": {key: [artifacts]}}}, keys as in each component's spec
    io: Dict[str, Dict[str, Dict[str, List]]] = {}
    for execution in executions:
        node_id = next((c.name.split(".", 1)[-1] for c in store.get_contexts_by_execution(execution.id)
                        if c.type_id == node_type_id), "?")
        seconds = max(0, execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000
        nodes.append({"node": node_id, "state": _STATE_NAMES.get(execution.last_known_state, "?"),
                      "seconds": round(seconds, 2)})
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        sides = io.setdefault(node_id, {"inputs": {}, "outputs": {}})
        for event in events:
            side = {metadata_store_pb2.Event.INPUT: "inputs", metadata_store_pb2.Event.OUTPUT: "outputs"}.get(
                event.type)
            if side and event.path.steps:
                sides[side].setdefault(event.path.steps[0].key, []).append(artifacts[event.artifact_id])
    return nodes, io


def run_nodes(store, run_context) -> List[Dict]:
    """[{node, state, seconds}] of one pipeline run, in execution order."""
    return _run_nodes_and_io(store, run_context)[0]


def summarize_run(metadata_spec: str, run_id: str, pipeline_name: Optional[str] = None) -> Dict:
    """Summary of one pipeline run, from MLMD alone."""
    store = mlmd_config.open_store(metadata_spec)
    run_context = store.get_context_by_type_and_name("pipeline_run", run_id)
    if run_context is None:
        raise LookupError(f"no pipeline run {run_id!r} in {mlmd_config.describe(metadata_spec)}")
    nodes, io = _run_nodes_and_io(store, run_context)

    def output(node: str, key: str):
        found = io.get(node, {}).get("outputs", {}).get(key)
        return found[0] if found else None

    summary = {"run_id": run_id, "metadata": mlmd_config.describe(metadata_spec), "nodes": nodes,
               "executed": sum(n["state"] == "COMPLETE" for n in nodes),
               "cached": sum(n["state"] == "CACHED" for n in nodes),
               "failed": [n["node"] for n in nodes if n["state"] == "FAILED"]}
    training_examples = io.get("Trainer", {}).get("inputs", {}).get("examples", [])
    if training_examples:
        summary["training_spans"] = sorted(int(_props(a)["span"]) for a in training_examples)
    examples = output("CsvExampleGen", "examples")
    if examples is not None:
        props = _props(examples)
        summary["spans"] = [int(props.get("span", -1))]
        summary["splits"] = json.loads(props.get("split_names", "[]"))
        summary["examples_uri"] = examples.uri
    statistics = output("StatisticsGen", "statistics")
    if statistics is not None:
        summary["statistics_uri"] = statistics.uri
    anomalies = output("ExampleValidator", "anomalies")
    if anomalies is not None:
        summary["anomalies"] = schema_anomalies(anomalies.uri)
    drift = output("DriftValidator", "drift_report")
    if drift is not None:
        props = _props(drift)
        summary["drift"] = {"verdict": props.get("verdict", "?"), "blessed": bool(props.get("blessed", 0)),
                            "summary": _drift_summary(drift.uri),
                            "report": os.path.join(drift.uri, "drift_report.html")}
    behavior = output("BehaviorValidator", "report")
    if behavior is not None:
        props = _props(behavior)
        summary["behavior"] = {"checks_passed": bool(props.get("behavior_checks_passed", 0)),
                               "failed_checks": props.get("failed_checks") or "",
                               "report": os.path.join(behavior.uri, "report.html")}
    infra = output("LocalInfraValidator", "blessing")
    if infra is not None:
        summary["infra_blessed"] = bool(_props(infra).get("blessed", 0))
    blessing = output("Evaluator", "blessing")
    if blessing is not None:
        summary["blessed"] = bool(_props(blessing).get("blessed", 0))
    evaluation = output("Evaluator", "evaluation")
    if evaluation is not None:
        summary["evaluation_uri"] = evaluation.uri
        summary["metrics"] = {k: v for k, v in load_overall_metrics(evaluation.uri).items()
                              if k in HEADLINE_METRICS}
        summary["validation"] = load_validation(evaluation.uri)
    pushed = output("Pusher", "pushed_model")
    if pushed is not None:
        props = _props(pushed)
        summary["pushed"] = bool(props.get("pushed", 0))
        if summary["pushed"]:
            summary["pushed_destination"] = props.get("pushed_destination")
            summary["pushed_version"] = props.get("pushed_version")
    summary.setdefault("pushed", False)
    return summary


def format_summary(summary: Dict, wall_seconds: Optional[float] = None) -> str:
    """A short report a person can act on."""
    lines = [f"Run {summary['run_id']}: {summary['executed']} node(s) executed, "
             f"{summary['cached']} cached" + (f", {wall_seconds:.1f}s" if wall_seconds else "")]
    for node in summary["nodes"]:
        lines.append(f"  {node['node']:<34} {node['state']:<9} {node['seconds']:>7.1f}s")
    if "spans" in summary:
        lines.append(f"Span ingested and evaluated: {summary['spans']} "
                     f"(splits {', '.join(summary.get('splits', []))}); "
                     f"trained on span(s) {summary.get('training_spans', 'none: training did not run')}")
    if summary.get("metrics"):
        lines.append("Evaluation (eval split, overall): " + ", ".join(
            f"{k}={v:.4f}" if k != "example_count" else f"{k}={int(v)}"
            for k, v in summary["metrics"].items()))
    if "anomalies" in summary:
        found = summary["anomalies"]
        lines.append("Schema anomalies (ExampleValidator): " + (
            "none" if not found else "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(found.items()))
            + " - recorded, not blocking (the pre-flight check blocks missing/unparsable values)"))
    drift = summary.get("drift")
    if drift:
        lines.append(f"Drift vs previous span: {drift['verdict']} - {drift['summary']} ({drift['report']})")
        if not drift["blessed"]:
            lines.append("Training skipped: blocking drift on this span (Trainer, Evaluator, validators and "
                         "Pusher did not run)")
    behavior = summary.get("behavior")
    if behavior:
        verdict = "passed" if behavior["checks_passed"] else f"FAILED: {behavior['failed_checks']}"
        lines.append(f"Behaviour checks: {verdict} ({behavior.get('report', '')})")
    if "infra_blessed" in summary:
        lines.append(f"Infra validation (load + query in a model server): "
                     f"{'passed' if summary['infra_blessed'] else 'FAILED'}")
    if "blessed" in summary:
        validation = summary.get("validation", {})
        why = ("all thresholds met" if summary["blessed"]
               else "; ".join(validation.get("failures", [])) or "see the evaluation's validations")
        lines.append(f"Evaluator blessed: {'yes' if summary['blessed'] else 'NO'} ({why})")
    pusher_cached = any(n["node"] == "Pusher" and n["state"] == "CACHED" for n in summary["nodes"])
    if summary["pushed"] and pusher_cached:
        lines.append(f"Pushed: nothing new (cache hit; version {summary.get('pushed_version')} is at "
                     f"{summary.get('pushed_destination')})")
    elif summary["pushed"]:
        lines.append(f"Pushed: version {summary.get('pushed_version')} to {summary.get('pushed_destination')}")
    else:
        lines.append("Pushed: nothing (the model being served, if any, is unchanged)")
    for name, path in summary.get("reports", {}).items():
        lines.append(f"Report ({name}): {path}")
    lines.append(f"Metadata store: {summary['metadata']}")
    return "\n".join(lines)


def latest_pushed_model_dir(serving_model_dir: str) -> Optional[str]:
    """Highest numeric version folder under a TF Serving base path, or None."""
    if not os.path.isdir(serving_model_dir):
        return None
    versions = [int(n) for n in os.listdir(serving_model_dir) if n.isdigit()]
    return os.path.join(serving_model_dir, str(max(versions))) if versions else None
