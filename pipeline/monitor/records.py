"""A monitoring run in ML-Metadata: logs -> statistics -> report (alert), linked to the model version that served,
and the retraining an alert started.

    PredictionLogs --logs--> MonitorStatistics --statistics--> ExampleStatistics (split "serving")
    ExampleStatistics --statistics--> Monitor --report--> MonitoringReport (alert; blessed = not alert)
       + baseline_statistics (the training span's, the previous window's), baseline_model (Model and
         PushedModel of the version that served), labels (LabelFile)
    MonitoringReport --alert--> MonitorRetrain (run_id, span, pushed_version of the retraining run)

Executions sit in one `monitoring` context per model name. Reference inputs use the lineage library's
baseline keys (query.BASELINE_KEYS), so tracing a model does not wander into the model it replaced.
"""
import json
from typing import Any, Dict, List, Sequence, Tuple

from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import records as R
from pipeline.monitor.statistics import SERVING_SPLIT


def _artifact_type(store, name: str) -> int:
    return store.put_artifact_type(pb.ArtifactType(name=name), can_add_fields=True)


def _execution_type(store, name: str) -> int:
    return store.put_execution_type(pb.ExecutionType(name=name), can_add_fields=True)


def context(store, model_name: str) -> pb.Context:
    """The `monitoring` context of a model name (created when new)."""
    name = f"{R.MONITOR_CONTEXT}-{model_name}"
    found = store.get_context_by_type_and_name(R.MONITOR_CONTEXT, name)
    if found is not None:
        return found
    type_id = store.put_context_type(pb.ContextType(name=R.MONITOR_CONTEXT))
    [context_id] = store.put_contexts([pb.Context(type_id=type_id, name=name)])
    return store.get_contexts_by_id([context_id])[0]


def new_artifact(store, type_name: str, uri: str, values: Dict[str, Any]) -> pb.Artifact:
    artifact = pb.Artifact(type_id=_artifact_type(store, type_name), uri=uri, state=pb.Artifact.LIVE)
    for key, value in values.items():
        if value is not None:
            R.set_value(artifact.custom_properties[key], value)
    return artifact


def statistics_artifact(store, uri: str) -> pb.Artifact:
    """An ExampleStatistics artifact (TFX's type, so the report pages and TFDV readers take it)."""
    found = [t for t in store.get_artifact_types() if t.name == R.STATISTICS]
    type_id = found[0].id if found else _artifact_type(store, R.STATISTICS)
    artifact = pb.Artifact(type_id=type_id, uri=uri, state=pb.Artifact.LIVE)
    target = artifact.properties if found and "split_names" in found[0].properties else artifact.custom_properties
    target["split_names"].string_value = json.dumps([SERVING_SPLIT])
    return artifact


def put_execution(store, type_name: str, ctx: pb.Context, values: Dict[str, Any],
                  inputs: Sequence[Tuple[pb.Artifact, str]], outputs: Sequence[Tuple[pb.Artifact, str]]
                  ) -> Tuple[int, List[int]]:
    """One COMPLETE execution with its input and output events (keyed like a component's); new artifacts
    (id 0) are created. Returns (execution id, the ids of the input and output artifacts, in order)."""
    execution = pb.Execution(type_id=_execution_type(store, type_name), last_known_state=pb.Execution.COMPLETE)
    for key, value in values.items():
        if value is not None:
            R.set_value(execution.custom_properties[key], value)
    new, existing = [], []
    for artifact, key, kind in ([(a, k, pb.Event.INPUT) for a, k in inputs]
                                + [(a, k, pb.Event.OUTPUT) for a, k in outputs]):
        event = pb.Event(type=kind)
        event.path.steps.add().key = key
        event.path.steps.add().index = 0
        (existing if artifact.id else new).append((artifact, event))
    # Existing artifacts get their events on their own: put_execution would write the artifacts back.
    execution_id, artifact_ids, _ = store.put_execution(execution, new, [ctx], reuse_context_if_already_exist=True)
    for artifact, event in existing:
        event.artifact_id, event.execution_id = artifact.id, execution_id
    if existing:
        store.put_events([event for _, event in existing])
    made = dict(zip((id(a) for a, _ in new), artifact_ids))
    return execution_id, [made[id(a)] if not a.id else a.id for a, _ in list(inputs) + list(outputs)]


def _executions(store, model_name: str, type_name: str) -> List[pb.Execution]:
    """Executions of one type in a model name's monitoring context, oldest first."""
    ctx = store.get_context_by_type_and_name(R.MONITOR_CONTEXT, f"{R.MONITOR_CONTEXT}-{model_name}")
    if ctx is None:
        return []
    types = {t.id: t.name for t in store.get_execution_types()}
    return sorted((e for e in store.get_executions_by_context(ctx.id) if types.get(e.type_id) == type_name),
                  key=lambda e: e.id)


def previous_windows(store, model_name: str) -> List[Dict[str, Any]]:
    """Earlier monitoring runs of a model name, oldest first: {execution, report, statistics, values}."""
    executions = _executions(store, model_name, R.MONITOR_EXECUTION)
    if not executions:
        return []
    events = store.get_events_by_execution_ids([e.id for e in executions])
    ids = sorted({ev.artifact_id for ev in events})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(ids)}
    out = []
    for e in executions:
        mine = [ev for ev in events if ev.execution_id == e.id]
        stats = [artifacts[ev.artifact_id] for ev in mine
                 if ev.type == pb.Event.INPUT and R.event_key(ev) == "statistics"]
        report = [artifacts[ev.artifact_id] for ev in mine if ev.type == pb.Event.OUTPUT]
        out.append({"execution": e, "statistics": stats[0] if stats else None, "report": report[0] if report else None,
                    "values": {k: R.json_value(v) for k, v in e.custom_properties.items()}})
    return out


def record_retrain(store, model_name: str, report_id: int, values: Dict[str, Any]) -> int:
    """The retraining an alert started: a MonitorRetrain execution reading the alert (key "alert"), with the
    pipeline run id, span and pushed version as properties (query.trace finds it by run id)."""
    report = store.get_artifacts_by_id([report_id])[0]
    execution_id, _ = put_execution(store, R.RETRAIN_EXECUTION, context(store, model_name), values,
                                    [(report, "alert")], [])
    return execution_id


def retrains(store, model_name: str) -> List[Dict[str, Any]]:
    """The retrainings alerts started, oldest first: {execution, alert (report id), run_id, values}."""
    executions = _executions(store, model_name, R.RETRAIN_EXECUTION)
    if not executions:
        return []
    alert = {ev.execution_id: ev.artifact_id for ev in store.get_events_by_execution_ids([e.id for e in executions])
             if ev.type == pb.Event.INPUT and R.event_key(ev) == "alert"}
    return [{"execution": e.id, "alert": alert.get(e.id), "run_id": R.prop(e, "run_id"),
             "values": {k: R.json_value(v) for k, v in e.custom_properties.items()}}
            for e in executions]
