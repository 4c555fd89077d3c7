"""One monitoring window: request logs in, skew / drift / prediction drift / decay out, recorded in ML-Metadata.

`run(...)` reads the logs (request_log's format), finds through lineage what trained the version that answered,
computes the logged inputs' statistics on Beam (TFDV), compares them with the training span's statistics
(skew) and with the previous window's (drift) under the DriftValidator's policy, compares the answers with
the model's answers on its eval split, and with labels, measures decay day by day. It writes the page and
the JSON, records the window in MLMD and, on an alert with `retrain`, starts the retraining.
"""
import json
import os
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pandas as pd

from data import contract
from data import mlmd_store
from data import spans_io
from serving.delivery import registry
from pipeline.mlmd import records as R
from pipeline.monitor import checks, logs as logs_io, page, records, served as served_io, statistics
from pipeline.monitor.window import BadInput, default_output, window_id

PAGE = "monitoring.html"
RESULT = "monitoring.json"


def _schema(store, served: served_io.ServedModel):
    import tensorflow_data_validation as tfdv
    uri = served.schema_uri
    path = os.path.join(uri, "schema.pbtxt") if os.path.isdir(uri) else uri
    return tfdv.load_schema_text(path)


def join_labels(found: logs_io.Logs, labels: Dict[tuple, int], path: str) -> checks.Scored:
    """Answered rows whose flight (contract.NATURAL_KEY) has a label; BadInput when none has."""
    keys = found.frame[list(contract.NATURAL_KEY)].astype(object).itertuples(index=False, name=None)
    label = np.array([labels.get(contract.natural_key(dict(zip(contract.NATURAL_KEY, k))), -1) for k in keys])
    keep = (label >= 0) & ~np.isnan(found.predictions)
    if not keep.any():
        raise BadInput(f"{path}: none of its flights is among the {len(found.frame)} answered rows of the logs "
                       f"(joined on {', '.join(contract.NATURAL_KEY)})")
    return checks.Scored(labels=label[keep].astype("int64"), scores=found.predictions[keep], days=found.days[keep])


def _version(found: logs_io.Logs, store, requested: Optional[int]) -> Dict[str, Any]:
    known, counts = np.unique(found.versions[found.versions >= 0], return_counts=True)
    counts = {int(v): int(c) for v, c in zip(known, counts)}
    if requested is not None:
        if requested not in counts:
            raise BadInput(f"{found.files[0]}: no logged request was answered by version {requested} "
                           f"(versions in the logs: {sorted(counts) or 'none'})")
        return {"version": requested, "source": "--version", "counts": counts}
    if counts:
        # the version that answered the most rows (ties: the newest)
        return {"version": max(counts, key=lambda v: (counts[v], v)), "source": "logs", "counts": counts}
    from pipeline.lineage import query
    try:
        stable = query.served_models(store).get("stable")
    except query.LineageError as e:
        raise BadInput(str(e)) from None
    if stable is None:
        raise BadInput(f"{found.files[0]}: the logs name no model version and nothing is served according to "
                       f"{store.where}")
    return {"version": registry.pushed_version(stable), "source": "served (logs name no version)",
            "counts": counts}


def _predictions_frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({contract.PREDICTION_KEY: values.astype("float64")})


def run(logs_dir: str, metadata: str, *, labels_path: Optional[str] = None, output_dir: Optional[str] = None,
        version: Optional[int] = None, retrain: bool = False, window: Optional[str] = None,
        data_root: Optional[str] = None, pipeline_output: Optional[str] = None, beam_args: Optional[List[str]] = None,
        progress: Callable[[str], None] = lambda line: None) -> Dict[str, Any]:
    """Monitors one window of logs; returns the result (the `--json` document). BadInput on unusable input."""
    from pipeline.local import runner
    found = _read_logs(logs_dir)
    label_map = _read_labels(labels_path) if labels_path is not None else None
    store = _open_store(metadata)
    chosen = _version(found, store, version)
    model_version = chosen["version"]
    served = _served_model(store, model_version)
    window = window or window_id()
    out = os.path.abspath(output_dir or default_output(metadata, window))
    os.makedirs(out, exist_ok=True)
    mine = found.select(found.versions == model_version) if chosen["counts"] else found
    progress(f"Monitoring {len(mine.frame)} logged rows of {contract.MODEL_NAME} v{model_version} "
             f"(trained on spans {served.training_spans}) into {out}")
    beam_args = beam_args if beam_args is not None else runner.beam_pipeline_args()
    reference = _eval_split_answers(served)
    answered = ~np.isnan(mine.predictions)
    stats = _statistics(mine, answered, reference.scores, out, beam_args)
    compared = _skew_and_drift(store, served, stats["inputs"], progress)
    prediction = checks.prediction_drift(stats["answers"], stats["reference"]) if answered.any() else None
    decay = _decay(mine, label_map, labels_path, reference, served, progress) if label_map is not None else None
    result = _result(found, mine, answered, logs_dir, chosen, served, window, out, compared, prediction, decay)
    history = [w["values"] for w in records.previous_windows(store, contract.MODEL_NAME)]
    result["page"] = page.write(os.path.join(out, PAGE), result, stats["inputs"], compared["training_stats"],
                                prediction, history)
    ids = record(store, result, served, found, logs_dir, labels_path, compared["previous"])
    result["metadata"] = ids
    if retrain:
        result["retrain"] = _retrain_on_alert(store, metadata, served, ids["report"], result, data_root,
                                              pipeline_output, progress)
    with open(os.path.join(out, RESULT), "w") as f:
        json.dump(result, f, indent=2, sort_keys=True, default=str)
    return result


def _served_model(store, model_version: int) -> served_io.ServedModel:
    try:
        return served_io.served_model(store, model_version)
    except served_io.LineageError as e:
        raise BadInput(str(e)) from None


def _retrain_on_alert(store, metadata: str, served: served_io.ServedModel, report_id: int, result: Dict[str, Any],
                      data_root: Optional[str], pipeline_output: Optional[str],
                      progress: Callable[[str], None]) -> Dict[str, Any]:
    """The retraining started by an alert (pipeline/monitor/retrain.py), or why none ran."""
    if not result["alert"]:
        return {"ran": False, "reason": "no alert"}
    from pipeline.monitor import retrain as retrain_io
    return retrain_io.retrain(store, metadata, served, report_id, result, data_root=data_root,
                              pipeline_output=pipeline_output, progress=progress)


def _read_logs(logs_dir: str) -> logs_io.Logs:
    try:
        return logs_io.read_logs(logs_dir)
    except logs_io.LogError as e:
        raise BadInput(str(e)) from None


def _read_labels(labels_path: str) -> Dict[tuple, int]:
    try:
        return spans_io.read_labels(labels_path)
    except (OSError, ValueError) as e:
        message = " ".join(str(e).split())
        raise BadInput(message if labels_path in message else f"{labels_path}: {message}") from None


def _open_store(metadata: str):
    """The MLMD store at `metadata` (a path or a MySQL spec); BadInput when there is none or it is unreadable."""
    try:
        mlmd_store.connection_config(metadata, create_dirs=False)
        if not mlmd_store.is_mysql_spec(metadata) and not os.path.isfile(metadata):
            raise BadInput(f"{metadata}: no metadata store there (run the pipeline first)")
        store = mlmd_store.open_store(metadata)
        store.get_context_types()  # a file that is no MLMD store fails here
    except BadInput:
        raise
    except Exception as e:  # MetadataSpecError, MLMD's own errors: all mean "cannot read it"
        raise BadInput(f"--metadata {metadata}: cannot open the metadata store ({' '.join(str(e).split())})") \
            from None
    return store


def _eval_split_answers(served: served_io.ServedModel) -> checks.Scored:
    """The model's answers on its eval split: the reference of prediction drift and decay."""
    from pipeline.ct import replay
    ref_labels, ref_scores, ref_columns = replay.score_examples(
        served.model_dir, served.examples.uri, splits=(served_io.EVAL_SPLIT,), columns=("month", "day"))
    return checks.Scored(labels=ref_labels, scores=ref_scores, days=ref_columns["month"] * 100 + ref_columns["day"])


def _statistics(mine: logs_io.Logs, answered: np.ndarray, ref_scores: np.ndarray, out: str,
                beam_args: List[str]) -> Dict[str, Any]:
    """Statistics (Beam + TFDV, one pipeline) of the logged inputs ("inputs") and, when some rows were answered,
    of the logged answers ("answers") and the eval split's answers ("reference")."""
    datasets = {"inputs": (mine.frame, os.path.join(out, "statistics"), statistics.SERVING_SPLIT)}
    if answered.any():
        answers_uri = os.path.join(out, "prediction_statistics")
        datasets["answers"] = (_predictions_frame(mine.predictions[answered]), answers_uri, statistics.SERVING_SPLIT)
        datasets["reference"] = (_predictions_frame(ref_scores), answers_uri, served_io.EVAL_SPLIT)
    return statistics.generate(datasets, beam_args)


def _skew_and_drift(store, served: served_io.ServedModel, serving_stats, progress: Callable[[str], None]) \
        -> Dict[str, Any]:
    """Skew against the newest training span, drift against the previous window without an alert:
    {training_stats, skew_report, previous, drift_report} (no previous window: both None)."""
    schema = _schema(store, served)
    training_stats = statistics.load(served.statistics.uri, served_io.TRAIN_SPLIT)
    skew_report = checks.compare(serving_stats, training_stats, schema)
    previous = [w for w in records.previous_windows(store, contract.MODEL_NAME)
                if w["statistics"] is not None and not w["values"].get("alert")]
    previous = previous[-1] if previous else None
    drift_report = None
    if previous is not None:
        drift_report = checks.compare(serving_stats, statistics.load(previous["statistics"].uri,
                                                                      statistics.SERVING_SPLIT), schema)
    progress(f"Skew: {len(checks.alerting(checks.findings(skew_report, checks.SKEW)))} alerting finding(s); "
             f"drift: {'no previous window' if previous is None else 'compared'}")
    return {"training_stats": training_stats, "skew_report": skew_report, "previous": previous,
            "drift_report": drift_report}


def _decay(mine: logs_io.Logs, label_map: Dict[tuple, int], labels_path: str, reference: checks.Scored,
           served: served_io.ServedModel, progress: Callable[[str], None]) -> Dict[str, Any]:
    """Decay of the labelled answers against the eval split's, with the validation TFMA metrics beside."""
    live = join_labels(mine, label_map, labels_path)
    decay = checks.decay(live, reference)
    decay["labelled_rows"] = int(len(live.labels))
    decay["validation_tfma"] = {k: served.validation.get(k) for k in ("auc", "recall", "calibration")}
    progress(f"Decay: live AUC {decay['metrics']['auc']['live']:.4f} vs {decay['metrics']['auc']['reference']:.4f} "
             f"on the eval split, {decay['days']} day(s)")
    return decay


def _reasons(skew: List[Dict], drift: List[Dict], prediction: Optional[Dict], decay: Optional[Dict]) -> List[str]:
    """Why the window alerts (empty: no alert)."""
    return ([f"skew: {', '.join(checks.alerting(skew))}"] if checks.alerting(skew) else []) + \
           ([f"drift: {', '.join(checks.alerting(drift))}"] if checks.alerting(drift) else []) + \
           (["prediction drift"] if prediction and prediction["alert"] else []) + \
           ([f"decay: {', '.join(k for k, m in decay['metrics'].items() if m['alert'])}"]
            if decay and decay["alert"] else [])


def _result(found: logs_io.Logs, mine: logs_io.Logs, answered: np.ndarray, logs_dir: str, chosen: Dict[str, Any],
            served: served_io.ServedModel, window: str, out: str, compared: Dict[str, Any],
            prediction: Optional[Dict], decay: Optional[Dict]) -> Dict[str, Any]:
    """The window's result (the `--json` document) before its page, MLMD ids and retraining are added."""
    skew = checks.findings(compared["skew_report"], checks.SKEW)
    drift = checks.findings(compared["drift_report"], checks.DRIFT) if compared["drift_report"] is not None else []
    reasons = _reasons(skew, drift, prediction, decay)
    previous = compared["previous"]
    result: Dict[str, Any] = {
        "alert": bool(reasons), "reasons": reasons, "window": window,
        "model_name": contract.MODEL_NAME, "model_version": chosen["version"], "version_source": chosen["source"],
        "versions_in_logs": chosen["counts"],
        "logs": {"folder": os.path.abspath(logs_dir), "files": len(found.files), "records": found.records,
                 "rows": int(len(mine.frame)), "answered": int(answered.sum())},
        "training": {"spans": served.training_spans, "span": served.span, "examples": served.examples.id,
                     "statistics": served.statistics.uri, "split": served_io.TRAIN_SPLIT, "runs": served.runs},
        "previous_window": previous["values"].get("window") if previous else None,
        "skew": skew, "drift": drift,
        "skew_alert": checks.alerting(skew), "drift_alert": checks.alerting(drift),
        "prediction_drift": {k: v for k, v in prediction.items() if k != "picture"} if prediction else None,
        "validation": served.validation,
        "output": out,
    }
    if decay is not None:
        result["decay"] = decay
    return result


def record(store, result: Dict[str, Any], served: served_io.ServedModel, found: logs_io.Logs, logs_dir: str,
           labels_path: Optional[str], previous: Optional[Dict]) -> Dict[str, int]:
    """The window in MLMD: MonitorStatistics (logs -> statistics) and Monitor (-> MonitoringReport)."""
    ctx = records.context(store, contract.MODEL_NAME)
    logs_artifact = records.new_artifact(store, R.PREDICTION_LOGS, os.path.abspath(logs_dir), {
        "files": len(found.files), "records": found.records, "rows": result["logs"]["rows"],
        "model_version": result["model_version"], "window": result["window"]})
    stats_artifact = records.statistics_artifact(store, os.path.join(result["output"], "statistics"))
    stats_execution, (logs_id, stats_id) = records.put_execution(
        store, R.MONITOR_STATISTICS_EXECUTION, ctx, {"window": result["window"]},
        [(logs_artifact, "logs")], [(stats_artifact, "statistics")])
    stats_artifact.id = stats_id
    inputs = [(stats_artifact, "statistics"), (served.statistics, "baseline_statistics"),
              (served.model, "baseline_model"), (served.pushed, "baseline_model")]
    if previous is not None:
        inputs.append((previous["statistics"], "baseline_statistics"))
    if labels_path is not None:
        inputs.append((records.new_artifact(store, R.LABEL_FILE, os.path.abspath(labels_path), {}), "labels"))
    decay = result.get("decay")
    report = records.new_artifact(store, R.MONITORING_REPORT, result["output"], {
        "alert": result["alert"], "blessed": int(not result["alert"]), "reasons": result["reasons"],
        "model_version": result["model_version"], "page": result["page"],
        "skew_alert": result["skew_alert"], "drift_alert": result["drift_alert"]})
    values = {"window": result["window"], "alert": result["alert"], "model_version": result["model_version"],
              "rows": result["logs"]["rows"], "training_span": served.span,
              "prediction_drift": (result["prediction_drift"] or {}).get("distance"),
              "live_auc": decay["metrics"]["auc"]["live"] if decay else None,
              "reference_auc": decay["metrics"]["auc"]["reference"] if decay else None,
              "live_auc_interval": decay["metrics"]["auc"]["interval"] if decay else None,
              "page": result["page"]}
    monitor_execution, ids = records.put_execution(store, R.MONITOR_EXECUTION, ctx, values, inputs,
                                                   [(report, "report")])
    report_id = ids[-1]
    return {"logs": logs_id, "statistics": stats_id, "report": report_id,
            "statistics_execution": stats_execution, "monitor_execution": monitor_execution, "context": ctx.id}
