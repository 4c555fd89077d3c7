"""What a person needs after a run, read back from ML-Metadata: per-node state and time, spans used,
evaluation metrics, blessing and why, where the model was pushed."""
import json
import os
from typing import Dict, List, Optional

from data import mlmd_store
from pipeline.mlmd import evaluation
from pipeline.lineage import query
from pipeline.mlmd import records as R

HEADLINE_METRICS = evaluation.HEADLINE_METRICS


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


def _behavior_decisions(report_dir: str) -> Dict:
    """The behaviour validator's AUC test and failed tests with their intervals (report.decisions)."""
    from components.behavior_validator import report
    try:
        return report.read_decisions(report_dir)
    except (OSError, ValueError):
        return {}


def _interval(ci) -> str:
    return f"95% interval [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci and None not in ci else "no interval"


def auc_text(behavior: Dict) -> Optional[str]:
    """The AUC test against the serving model, with its interval (None when the report has none)."""
    auc = behavior.get("auc_vs_baseline")
    if not auc:
        return None
    if "auc_drop" not in auc:
        return f"AUC vs the serving model: {auc['verdict']} ({auc['summary']})"
    spans = behavior.get("eval_spans")
    return (f"AUC vs the serving model on the eval days of span(s) {spans} ({auc['groups']} days, "
            f"{auc['examples']} flights): {auc['auc']:.4f} vs {auc['baseline_auc']:.4f}, drop {auc['auc_drop']:+.4f}, "
            f"{_interval(auc['drop_ci95'])}, Holm-adjusted p {auc['p_adjusted']:.3g}: {auc['verdict']} "
            f"(fails when significantly above {auc['max_auc_drop']})")


def failed_test_text(test: Dict) -> str:
    """One failed statistical test of the behaviour validator, with its interval."""
    estimate = next((f"{k} {v:+.4f}" for k, v in test.items()
                     if k in ("mean_delta", "recall", "recall_drop") and v is not None), "")
    return (f"{test['check']} on {test['on']}: {estimate}, {_interval(test['ci95'])}, "
            f"Holm-adjusted p {test['p_adjusted']:.3g} ({test['groups']} days)")


def behavior_lines(behavior: Dict) -> List[str]:
    """The behaviour gate: its verdict, the AUC test against the serving model and each failed test,
    with 95% intervals and Holm-adjusted p-values."""
    verdict = "passed" if behavior["checks_passed"] else f"FAILED: {behavior['failed_checks']}"
    lines = [f"Behaviour checks: {verdict} ({behavior.get('report', '')})"]
    if auc_text(behavior):
        lines.append("  " + auc_text(behavior))
    lines += ["  FAIL " + failed_test_text(test) for test in behavior.get("failed_tests", [])]
    return lines


def run_nodes(store, run_context) -> List[Dict]:
    """[{node, execution, state, seconds}] of one pipeline run, in execution order."""
    return query.read_run(store, run_context).nodes()


def _blessed(artifact) -> bool:
    return bool(R.parse_blessed(R.prop(artifact, "blessed")))


def summarize(record: R.RunRecord, where: str) -> Dict:
    """Summary of one run read back from MLMD (``where`` names the store), plus what TFMA, TFDV and the
    validators wrote into the artifacts' folders."""
    details = query.run_details(record)
    output = record.node_output
    summary = {"run_id": record.run_id, "metadata": where, "nodes": details["nodes"],
               "executed": details["executed"], "cached": details["cached"], "failed": details["failed"]}
    training_examples = record.node_inputs("Trainer", "examples")
    if training_examples:
        summary["training_spans"] = sorted(R.artifact_span(a) for a in training_examples)
    examples = output("CsvExampleGen", "examples")
    if examples is not None:
        summary["spans"] = [R.artifact_span(examples)]
        summary["splits"] = R.split_names(R.prop(examples, "split_names"))
        summary["examples_uri"] = examples.uri
    statistics = output("StatisticsGen", "statistics")
    if statistics is not None:
        summary["statistics_uri"] = statistics.uri
    anomalies = output("ExampleValidator", "anomalies")
    if anomalies is not None:
        summary["anomalies"] = schema_anomalies(anomalies.uri)
    drift = output("DriftValidator", "drift_report")
    if drift is not None:
        summary["drift"] = {"verdict": R.prop(drift, "verdict", "?"), "blessed": _blessed(drift),
                            "summary": _drift_summary(drift.uri),
                            "report": os.path.join(drift.uri, "drift_report.html")}
    behavior = output("BehaviorValidator", "report")
    if behavior is not None:
        summary["behavior"] = {"checks_passed": bool(R.prop(behavior, "behavior_checks_passed")),
                               "failed_checks": R.prop(behavior, "failed_checks") or "",
                               "report": os.path.join(behavior.uri, "report.html"),
                               "eval_spans": sorted(R.artifact_span(a) for a in
                                                    record.node_inputs("BehaviorValidator", "examples")),
                               **_behavior_decisions(behavior.uri)}
    infra = output("LocalInfraValidator", "blessing")
    if infra is not None:
        summary["infra_blessed"] = _blessed(infra)
    blessing = output("Evaluator", "blessing")
    if blessing is not None:
        summary["blessed"] = _blessed(blessing)
    evaluation_artifact = output("Evaluator", "evaluation")
    if evaluation_artifact is not None:
        summary["evaluation_uri"] = evaluation_artifact.uri
        summary["metrics"] = evaluation.headline_metrics(evaluation_artifact.uri)
        summary["validation"] = evaluation.load_validation(evaluation_artifact.uri)
        evaluator = record.execution_of("Evaluator")
        if evaluator is not None and R.prop(evaluator, "eval_config"):
            summary["gates"] = evaluation.gates(R.prop(evaluator, "eval_config"))
    pushed = details["pushed"]
    summary["pushed"] = pushed is not None
    if pushed is not None:
        summary["pushed_destination"] = pushed["destination"]
        summary["pushed_version"] = pushed["version"]
    return summary


def summarize_run(metadata_spec: str, run_id: str) -> Dict:
    """Summary of one pipeline run, from MLMD and the artifacts."""
    store = mlmd_store.open_for_reading(metadata_spec)
    return summarize(query.read_run(store, run_id), store.where)


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
    if summary.get("ingested_first"):
        lines.append(f"Ingested first (the metadata store lacked them): span(s) {summary['ingested_first']}")
    if summary.get("metrics"):
        lines.append("Evaluation (eval split, overall): " + ", ".join(
            f"{k}={v:.4f}" if k != "example_count" else f"{k}={int(v)}"
            for k, v in summary["metrics"].items()))
    if "anomalies" in summary:
        found = summary["anomalies"]
        lines.append("Schema anomalies (ExampleValidator): " + (
            "none" if not found else "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(found.items()))
            + " - gated by the DriftValidator per anomaly kind (configs.DRIFT_DATASET_CHECKS)"))
    drift = summary.get("drift")
    if drift:
        lines.append(f"Drift vs previous span: {drift['verdict']} - {drift['summary']} ({drift['report']})")
        if not drift["blessed"]:
            lines.append("Training skipped: the data gate blocked this span (Trainer, Evaluator, validators and "
                         "Pusher did not run)")
    behavior = summary.get("behavior")
    if behavior:
        lines += behavior_lines(behavior)
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
