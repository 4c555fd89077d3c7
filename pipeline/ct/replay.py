"""Continuous training: replay spans in order in one process, keep the best model serving, and record
forward figures (a model trained up to span N scored on span N+1) and every decision in ML-Metadata.

For each span N the replay
  1. runs the pipeline on span N (`runner.run_local`): the Evaluator and the behaviour validator compare
     the candidate with the model being served (the latest push of an earlier span);
  2. scores, on all of span N's flights (which none of them saw), the model that served at the start of
     month N, the previous month's candidate and the model frozen after the first month
     (`ct.ForwardEvaluation` executions);
  3. records the decision (`ct.Decision`: gates, pushed version, reasons) in the replay's context.
The report (`ct_report.write_report`) and `--json` are views over those MLMD records.
"""
import dataclasses
import datetime
import glob
import json
import os
import time
import uuid
from typing import Callable, Dict, List, Optional, Sequence, Union

from ml_metadata.proto import metadata_store_pb2 as pb

from data import contract
from pipeline.dag import configs
from pipeline.mlmd import records
from serving.server import custom_ops
from pipeline.dag.window import Window, parse_window, window_for  # noqa: F401 (ct.window_for)
from pipeline.local import summary as run_summary

REPLAY_CONTEXT = "ct_replay"
FORWARD_EXECUTION = "ct.ForwardEvaluation"
DECISION_EXECUTION = "ct.Decision"
# Roles of a forward evaluation.
SERVED = "served"                  # the model serving when the span arrived
PREVIOUS_CANDIDATE = "candidate"   # last span's candidate, pushed or not ("push every candidate")
FROZEN = "frozen"                  # the first span's model, never replaced
REPLACED = "replaced"              # the model the last push replaced (scored on the span after the push)
ROLES = (SERVED, PREVIOUS_CANDIDATE, FROZEN)

# ---- forward scoring ----------------------------------------------------------------------------
def score_examples(model_dir: str, examples_uri: str, splits: Sequence[str] = ("train", "eval"),
                   batch_size: int = 4096, files: Optional[Sequence[str]] = None, columns: Sequence[str] = ()):
    """(labels, scores) of every example of the given splits of an Examples artifact (or of `files`,
    gzipped tf.Example TFRecords), scored by the SavedModel's tf.Example signature; with `columns` (int
    features, e.g. the day) also {column: values}."""
    import numpy as np
    import tensorflow as tf
    files = list(files) if files is not None else sorted(
        f for split in splits for f in glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz")))
    if not files:
        raise FileNotFoundError(f"no example files for splits {list(splits)} under {examples_uri}")
    signature = custom_ops.load(model_dir).signatures[contract.EXAMPLES_SIGNATURE]
    spec = {name: tf.io.FixedLenFeature([], tf.int64, default_value=0) for name in (contract.LABEL_KEY, *columns)}
    labels, scores, extra = [], [], {name: [] for name in columns}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size):
        parsed = tf.io.parse_example(batch, spec)
        labels.append(parsed[contract.LABEL_KEY].numpy())
        for name in columns:
            extra[name].append(parsed[name].numpy())
        scores.append(signature(**{contract.EXAMPLES_INPUT: batch})[contract.PREDICTION_KEY].numpy())
    if columns:
        return np.concatenate(labels), np.concatenate(scores), {k: np.concatenate(v) for k, v in extra.items()}
    return np.concatenate(labels), np.concatenate(scores)


def forward_metrics(labels, scores) -> Dict[str, float]:
    """AUC, AUC-PR, example count and late rate (sklearn)."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    return {"auc": float(roc_auc_score(labels, scores)),
            "auc_precision_recall": float(average_precision_score(labels, scores)),
            "example_count": int(len(labels)), "late_rate": float(labels.mean())}


# ---- MLMD records -------------------------------------------------------------------------------
def _type_id(store, name: str, properties: Dict[str, int]) -> int:
    execution_type = pb.ExecutionType(name=name)
    for key, kind in properties.items():
        execution_type.properties[key] = kind
    return store.put_execution_type(execution_type, can_add_fields=True)


def replay_context(store, name: str) -> pb.Context:
    """The context grouping one replay's forward evaluations and decisions (created when new)."""
    found = store.get_context_by_type_and_name(REPLAY_CONTEXT, name)
    if found is not None:
        return found
    type_id = store.put_context_type(pb.ContextType(name=REPLAY_CONTEXT))
    context = pb.Context(type_id=type_id, name=name)
    context.id = store.put_contexts([context])[0]
    return context


def _put(store, type_name: str, context: pb.Context, values: Dict, inputs: Sequence[int]) -> int:
    properties = {"span": pb.INT}
    type_id = _type_id(store, type_name, properties)
    execution = pb.Execution(type_id=type_id, last_known_state=pb.Execution.COMPLETE)
    execution.properties["span"].int_value = int(values["span"])
    for key, value in values.items():
        if key == "span" or value is None:
            continue
        records.set_value(execution.custom_properties[key], value)
    # Events go in separately: put_execution's artifact list would overwrite the artifacts themselves.
    execution_id, _, _ = store.put_execution(execution, [], [context], reuse_context_if_already_exist=True)
    store.put_events([pb.Event(type=pb.Event.INPUT, artifact_id=artifact_id, execution_id=execution_id)
                      for artifact_id in inputs])
    return execution_id


def record_forward(store, context: pb.Context, *, span: int, role: str, model_id: int, examples_id: int,
                   metrics: Dict[str, float], version: Optional[int] = None) -> int:
    """One forward evaluation: `model_id` scored on all of span `span` (Examples `examples_id`)."""
    return _put(store, FORWARD_EXECUTION, context,
                {"span": span, "role": role, "model_id": model_id, "version": version, **metrics},
                [model_id, examples_id])


def record_decision(store, context: pb.Context, row: Dict, candidate_id: Optional[int],
                    serving_id: Optional[int]) -> int:
    """The replay's decision for one span (gates, pushed version, reasons), linked to both models."""
    values = {k: row[k] for k in ("span", "pushed", "pushed_version", "serving_version", "run_id")}
    values.update(gates=row["gates"], reasons=row["reasons"], trained_on=row["trained_on"],
                  drift=row["drift"], trainer_start=row.get("trainer_start"), seconds=row["seconds"])
    return _put(store, DECISION_EXECUTION, context, values,
                [i for i in (candidate_id, serving_id) if i is not None])


def read_replay(store, name: str) -> Dict[str, List[Dict]]:
    """{"decisions": [...], "forward": [...]} of a replay, in span order, as recorded in MLMD."""
    context = store.get_context_by_type_and_name(REPLAY_CONTEXT, name)
    if context is None:
        raise LookupError(f"no continuous-training replay {name!r} in the metadata store")
    types = {t.id: t.name for t in store.get_execution_types()}
    out = {"decisions": [], "forward": []}
    for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
        record = {"span": execution.properties["span"].int_value}
        record.update({k: records.json_value(v) for k, v in execution.custom_properties.items()})
        kind = types.get(execution.type_id)
        if kind == DECISION_EXECUTION:
            out["decisions"].append(record)
        elif kind == FORWARD_EXECUTION:
            out["forward"].append(record)
    for rows in out.values():
        rows.sort(key=lambda r: r["span"])
    return out


# ---- the replay ---------------------------------------------------------------------------------
@dataclasses.dataclass
class _Model:
    id: int
    uri: str            # the Trainer's Model artifact uri
    version: Optional[int] = None  # pushed version, when pushed

    @property
    def serving_dir(self) -> str:
        return os.path.join(self.uri, "Format-Serving")


def _serving_model(store) -> Optional[_Model]:
    """The model being served now (pipeline/dag/resolvers.py `serving_pushes`)."""
    from pipeline.dag.resolvers import serving_pushes
    pushes = serving_pushes(store)
    if not pushes:
        return None
    model = store.get_artifacts_by_id([pushes[0]["model_id"]])[0]
    from serving.delivery.registry import pushed_version
    return _Model(model.id, model.uri, pushed_version(pushes[0]["pushed_model"]))


def _gates(summary: Dict) -> Dict[str, str]:
    """Gate -> PASS / FAIL / WARN / SKIPPED / NO_BASELINE."""
    drift = summary.get("drift") or {}
    gates = {"drift": drift.get("verdict", "SKIPPED")}
    if "blessed" in summary:
        gates["evaluator"] = "PASS" if summary["blessed"] else "FAIL"
    else:
        gates["evaluator"] = "SKIPPED"
    behavior = summary.get("behavior")
    gates["behavior"] = ("SKIPPED" if behavior is None else "PASS" if behavior.get("checks_passed") else "FAIL")
    infra = summary.get("infra_blessed")
    gates["infra"] = "SKIPPED" if infra is None else "PASS" if infra else "FAIL"
    return gates


def _reasons(summary: Dict, gates: Dict[str, str], pushed: bool) -> List[str]:
    reasons = []
    drift = summary.get("drift") or {}
    if gates["drift"] == "BLOCKED":
        reasons.append(f"drift blocked training: {drift.get('summary', '')}".strip())
    if gates["evaluator"] == "FAIL":
        reasons.append("Evaluator: " + "; ".join(
            summary.get("validation", {}).get("failures", []) or ["thresholds not met"]))
    if gates["behavior"] == "FAIL":
        behavior = summary.get("behavior") or {}
        failed = [run_summary.failed_test_text(t) for t in behavior.get("failed_tests", [])]
        if (behavior.get("auc_vs_baseline") or {}).get("verdict") == "FAIL":
            failed.insert(0, run_summary.auc_text(behavior))
        reasons.append(f"behaviour checks failed: {behavior.get('failed_checks', '')}"
                       + (f" ({'; '.join(failed)})" if failed else ""))
    if gates["infra"] == "FAIL":
        reasons.append("InfraValidator: the model did not load or answer in a model server")
    if pushed:
        reasons.append("all gates passed: pushed")
    elif not reasons:
        reasons.append("not pushed")
    return reasons


def _headline(metrics: Optional[Dict]) -> Optional[Dict[str, float]]:
    if not metrics:
        return None
    keep = ("auc", "auc_precision_recall", "precision", "recall", "example_count", "calibration")
    return {k: metrics[k] for k in keep if k in metrics}


def replay(first: int, last: int, *, window: Window = configs.TRAINING_WINDOW, output_dir: str = "outputs",
           metadata: Optional[str] = None, data_root: Optional[str] = None, schema_path: Optional[str] = None,
           hparams: Optional[Dict] = None, model_family: str = configs.MODEL_FAMILY,
           replay_name: Optional[str] = None, beam_mode: str = "in_process",
           progress: Optional[Callable[[str], None]] = None, verbose: bool = False,
           on_span: Callable[[Dict], None] = lambda row: None) -> Dict:
    """Runs spans first..last in order; returns {"replay": name, "spans": [row per span]}."""
    from data import mlmd_store
    from pipeline.local import runner
    from pipeline.mlmd import evaluation
    from pipeline.lineage import query
    if last < first:
        raise ValueError(f"--to {last} is before --from {first}")
    layout = runner.OutputLayout(os.path.abspath(output_dir))
    metadata_spec = metadata or layout.metadata_path
    name = replay_name or f"ct-{datetime.datetime.now().isoformat(timespec='seconds')}-{uuid.uuid4().hex[:6]}"
    rows, frozen, previous_candidate, replaced = [], None, None, None
    for span in range(first, last + 1):
        store = mlmd_store.open_store(mlmd_store.prepare_store(metadata_spec))
        serving_before = _serving_model(store)
        started = time.monotonic()
        result = runner.run_local(
            **({"data_root": data_root} if data_root else {}),
            **({"schema_path": schema_path} if schema_path else {}),
            output_dir=output_dir, span=span, window=window_for(span, window), metadata=metadata,
            hparams=hparams, model_family=model_family, beam_mode=beam_mode, progress=progress, verbose=verbose)
        summary = result.summary
        store = mlmd_store.open_store(mlmd_store.prepare_store(metadata_spec))
        record = query.read_run(store, result.run_id)
        examples = record.node_output("CsvExampleGen", "examples")
        model = record.node_output("Trainer", "model")
        candidate = _Model(model.id, model.uri) if model is not None else None
        context = replay_context(store, name)

        forward = {}
        with runner.captured_output(layout.log_path(name), verbose):  # TF's loading noise to the log
            for role, scored in ((SERVED, serving_before), (PREVIOUS_CANDIDATE, previous_candidate),
                                 (FROZEN, frozen), (REPLACED, replaced)):
                if scored is None or examples is None:
                    continue
                metrics = forward_metrics(*score_examples(scored.serving_dir, examples.uri))
                record_forward(store, context, span=span, role=role, model_id=scored.id,
                               examples_id=examples.id, metrics=metrics, version=scored.version)
                forward[role] = metrics
        evaluation_artifact = record.node_output("Evaluator", "evaluation")
        serving_metrics = (evaluation.overall_metrics(evaluation_artifact.uri, evaluation.BASELINE)
                           if evaluation_artifact is not None and serving_before is not None else None)
        serving_after = _serving_model(store)
        pushed = bool(summary.get("pushed")) and (serving_before is None or serving_after.id != serving_before.id)
        gates = _gates(summary)
        start = _trainer_start(record.node_output("Trainer", "model_run"))
        row = {
            "span": span, "run_id": result.run_id,
            "trained_on": summary.get("training_spans") or [],
            "candidate": _headline(summary.get("metrics")),
            "serving_version": serving_before.version if serving_before else None,
            "serving": _headline(serving_metrics),
            "drift": gates["drift"], "gates": gates,
            # the behaviour gate's paired, day-aware tests with their intervals (summary.behavior_lines)
            "behavior": {k: v for k, v in (summary.get("behavior") or {}).items()
                         if k in ("eval_spans", "auc_vs_baseline", "failed_tests")} or None,
            "pushed": pushed,
            "pushed_version": summary.get("pushed_version") if pushed else None,
            "reasons": _reasons(summary, gates, pushed),
            "forward": forward, "trainer_start": start,
            "seconds": round(time.monotonic() - started, 1),
        }
        record_decision(store, context, row, candidate.id if candidate else None,
                        serving_before.id if serving_before else None)
        rows.append(row)
        on_span(row)
        replaced = serving_before if pushed else None
        if candidate is not None:
            previous_candidate = candidate
            if frozen is None:
                frozen = candidate
    return {"replay": name, "metadata": mlmd_store.describe(metadata_spec), "spans": rows}


def _trainer_start(model_run) -> Optional[Dict]:
    """The Trainer's warm/cold start record (training_summary.json in its ModelRun), None if absent."""
    if model_run is None:
        return None
    path = os.path.join(model_run.uri, "training_summary.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f).get("start")


def format_row(row: Dict) -> str:
    """One line per span: candidate and serving AUC, forward AUC of the served model, decision."""
    def auc(metrics):
        return f"{metrics['auc']:.3f}" if metrics and "auc" in metrics else "  -  "
    served = row["forward"].get(SERVED)
    decision = f"pushed v{row['pushed_version']}" if row["pushed"] else "kept v%s" % row["serving_version"]
    return (f"span {row['span']:>2}: trained on {row['trained_on'] or '-'}; candidate AUC {auc(row['candidate'])}, "
            f"serving {auc(row['serving'])}; served model on this span {auc(served)}; drift {row['drift']}; "
            f"{decision} ({'; '.join(row['reasons'])[:160]})")
