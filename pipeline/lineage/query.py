"""Questions about a TFX pipeline answered from ML-Metadata: trace, impact, runs, diff.

Every function takes a ``MetadataStore`` and returns plain JSON-serialisable dicts. Graph walks
use MLMD's lineage API (``get_lineage_subgraph``) with CACHED executions as ending nodes; the
in-memory :class:`~pipeline.mlmd.records.Graph` then drops cache hits and cache contexts.
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from ml_metadata import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.mlmd import records as R

Options = metadata_store_pb2.LineageSubgraphQueryOptions
UP, DOWN = "up", "down"
MAX_HOPS = 100  # MLMD's cap
_MAX_START = 100  # MLMD's cap on starting nodes per query
# Inputs that are a reference to compare against (an older model, an earlier span's statistics) or to
# start from (the Trainer's warm-start base model): listed as baselines, their own lineage is not walked
# as part of what a model was built from.
BASELINE_KEYS = ("baseline_model", "baseline_statistics", "base_model")
# Everything but attributions (artifact -> every run context that touched it; large and unused).
_FIELDS = ("artifacts", "executions", "contexts", "events", "associations",
           "artifact_types", "execution_types", "context_types")
Collector = Callable[..., R.Graph]  # (store, artifact_ids, direction, max_hops=MAX_HOPS) -> Graph
_CODE_KEYS = ("module_file", "module_path", "run_fn", "trainer_fn")  # Trainer's code reference
SIDE_HOPS = 4  # examples -> StatisticsGen -> statistics -> validator -> verdict


class LineageError(LookupError):
    """A question that the store cannot answer (unknown run, artifact, span...)."""


# --- collecting subgraphs ---------------------------------------------------------------------
def collect_api(store: mlmd.MetadataStore, artifact_ids: Sequence[int], direction: str,
                max_hops: int = MAX_HOPS) -> R.Graph:
    """Lineage subgraph up- or downstream of artifacts via ``get_lineage_subgraph``."""
    ids = sorted(set(artifact_ids))
    parts = []
    for i in range(0, len(ids), _MAX_START):
        chunk = ids[i:i + _MAX_START]
        opts = Options(
            starting_artifacts=Options.StartingNodes(filter_query=f"id IN ({', '.join(map(str, chunk))})"),
            ending_executions=Options.EndingNodes(filter_query="last_known_state = CACHED"),
            max_num_hops=max_hops,
            direction=Options.UPSTREAM if direction == UP else Options.DOWNSTREAM)
        parts.append(store.get_lineage_subgraph(opts, field_mask_paths=_FIELDS))
    merged = metadata_store_pb2.LineageGraph()
    for p in parts:
        merged.MergeFrom(p)
    return R.Graph.from_proto(merged)


def merge(*graphs: metadata_store_pb2.LineageGraph) -> metadata_store_pb2.LineageGraph:
    out = metadata_store_pb2.LineageGraph()
    for g in graphs:
        out.MergeFrom(g)
    return out


# --- resolving references ---------------------------------------------------------------------
def _where(store) -> str:
    return getattr(store, "where", "the metadata store")


def _latest(store, filter_query: str) -> Optional[metadata_store_pb2.Artifact]:
    found = store.get_artifacts(list_options=mlmd.ListOptions(
        limit=1, order_by=mlmd.OrderByField.ID, is_asc=False, filter_query=filter_query))
    return found[0] if found else None


def served_models(store) -> Dict[str, metadata_store_pb2.Artifact]:
    """{stage: PushedModel artifact} of what is served: the model registry's stable (and canary, shadow)
    versions (serving/delivery/registry.py), or the latest push when the registry recorded no deployment."""
    from serving.delivery import registry
    try:
        state = registry.served(store)
    except registry.RegistryError as e:
        raise LineageError(str(e)) from None
    pushed = registry.pushed_versions(store)
    return {stage: pushed[v] for stage, v in registry.served_by(state).items() if v in pushed}


def served_model(store) -> Optional[metadata_store_pb2.Artifact]:
    """The PushedModel artifact of the stable version (see served_models)."""
    return served_models(store).get("stable")


def served_state(store, server: Optional[str] = None) -> Dict[str, Any]:
    """The registry's answer to "what is served" (serving/delivery/registry.py:served); with ``server`` (gRPC
    host:port) also that server's GetModelStatus and the disagreements with it."""
    from serving import client
    from serving.delivery import registry
    state = dict(registry.served(store))
    if server:
        if not state["model_name"]:
            raise LineageError(f"no model name in {_where(store)} (registry or push destination) to ask {server}")
        try:
            live = client.version_states(server, state["model_name"])
        except client.ServingClientError as e:
            raise LineageError(f"server {server}: {e}") from None
        state.update(server=server, server_states=live,
                     mismatches=registry.live_mismatches(state, server, live))
    return state


def resolve_artifact(store, ref: Union[str, int]) -> metadata_store_pb2.Artifact:
    """``served``/``stable`` (the registry's stable version, else the latest push), ``canary``, ``shadow``,
    ``latest`` (latest Model) or an artifact id."""
    text = str(ref).strip().lower()
    if text in ("served", "serving", "pushed", "stable", "canary", "shadow"):
        stage = text if text in ("canary", "shadow") else "stable"
        a = served_models(store).get(stage)
        if a is None:
            raise LineageError(f"no {stage} PushedModel (model registry, or a push with pushed=1) in "
                               f"{_where(store)}: nothing is served as {stage}")
        return a
    if text in ("latest", "latest-model"):
        a = _latest(store, f"type = '{R.MODEL}'")
        if a is None:
            raise LineageError(f"no Model artifact in {_where(store)}")
        return a
    text = text.removeprefix("id:").removeprefix("#").removeprefix("artifact:")
    if not text.isdigit():
        raise LineageError(f"bad model reference {ref!r}: use 'served', 'latest' or an artifact id")
    found = store.get_artifacts_by_id([int(text)])
    if not found:
        raise LineageError(f"no artifact with id {text} in {_where(store)}")
    return found[0]


def examples_of_span(store, span: int) -> List[metadata_store_pb2.Artifact]:
    found = [a for a in store.get_artifacts_by_type(R.EXAMPLES) if R.artifact_span(a) == span]
    if not found:
        spans = sorted({R.artifact_span(a) for a in store.get_artifacts_by_type(R.EXAMPLES)} - {None})
        raise LineageError(f"no Examples artifact with span {span} in {_where(store)} (known spans: {spans})")
    return found


# --- helpers ----------------------------------------------------------------------------------
def _flatten(params: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Exec properties with JSON strings expanded: {'custom_config.hparams.epochs': 3, ...}."""
    out: Dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, str) and v[:1] in "{[":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _code_version(params: Dict[str, Any]) -> Optional[str]:
    flat = _flatten(params)
    for k, v in flat.items():
        if k.rsplit(".", 1)[-1] in ("code_version", "git_sha", "git_commit") and v:
            return str(v)
    return None


def _verdicts(g: R.Graph, execution_ids: Iterable[int]) -> List[Dict[str, Any]]:
    out = []
    for e in sorted(execution_ids, key=lambda x: (g.executions[x].create_time_since_epoch, x)):
        for a, key in g.outputs.get(e, []):
            art = g.artifacts[a]
            if not R.is_verdict(art, g.type_of(a)):
                continue
            raw = R.prop(art, "blessed")
            out.append({"node": g.node_of(e), "execution": e, "runs": g.runs_of(e),
                        "artifact": a, "type": g.type_of(a), "output": key,
                        "blessed": R.parse_blessed(raw), "blessed_raw": raw, "report_uri": art.uri,
                        "details": {k: v for k, v in R.props(art, R._HIDDEN_PROPS).items()
                                    if k not in ("blessed", "span", "split_names") and not isinstance(v, dict)},
                        "checked": sorted({g.type_of(i) for i, _ in g.inputs.get(e, [])})})
    return out


def _example_summary(g: R.Graph, a: int) -> Dict[str, Any]:
    art = g.artifacts[a]
    return {"id": a, "span": R.artifact_span(art), "version": R.prop(art, "version"),
            "splits": R.split_names(R.prop(art, "split_names")), "uri": art.uri,
            "producer": g.node_of(g.producers[a][0]) if g.producers.get(a) else None,
            "input_fingerprint": R.prop(art, "input_fingerprint"),
            "used_by": sorted({g.node_of(e) for e in g.consumers.get(a, [])})}


def _run_times(store, run_ids: Iterable[str]) -> Dict[str, Any]:
    """First start and last end of the runs' own executions (their cache hits included; the earlier
    runs whose outputs a cache hit re-used are not part of it)."""
    execs = []
    for run_id in run_ids:
        ctx = store.get_context_by_type_and_name(R.RUN_CONTEXT, run_id)
        execs += store.get_executions_by_context(ctx.id) if ctx is not None else []
    starts = [e.create_time_since_epoch for e in execs if e.create_time_since_epoch]
    ends = [e.last_update_time_since_epoch for e in execs if e.last_update_time_since_epoch]
    if not starts or not ends:
        return {"started": None, "finished": None, "seconds": None}
    start, end = min(starts), max(ends)
    return {"started": R.iso(start), "finished": R.iso(end), "seconds": round((end - start) / 1000.0, 3)}


def file_metrics(evaluation_uri: str) -> Dict[str, float]:
    """Overall-slice headline metrics from a TFMA output folder (imports TFMA; opt-in: read_files)."""
    from pipeline.mlmd import evaluation  # lazy: TFMA/TF import costs seconds
    return evaluation.headline_metrics(evaluation_uri)


def _judged_models(store, execution_id: int) -> List[int]:
    """The Models an execution took as inputs, baselines left out, read from MLMD (a hop-limited walk may
    not reach them)."""
    events = [e for e in store.get_events_by_execution_ids([execution_id])
              if e.type == metadata_store_pb2.Event.INPUT
              and (e.path.steps[0].key if e.path.steps else "") not in BASELINE_KEYS]
    model_type = store.get_artifact_type(R.MODEL).id
    return [a.id for a in store.get_artifacts_by_id([e.artifact_id for e in events]) if a.type_id == model_type]


# --- trace ------------------------------------------------------------------------------------
def trace(store, ref: Union[str, int] = "served", collector: Collector = collect_api,
          read_files: bool = False) -> Dict[str, Any]:
    """Everything upstream of a model (or pushed model / any artifact), grouped for a reader.

    Metrics come from numeric custom properties in MLMD; ``read_files`` adds TFMA's metrics
    read from the ModelEvaluation artifact's folder. ``served``: what is served (served_state).
    """
    target = resolve_artifact(store, ref)
    g = collector(store, [target.id], UP)
    tid = target.id
    model_id = tid if g.type_of(tid) == R.MODEL else _model_behind(g, tid)
    arts, execs = g.ancestors(tid, skip_input_keys=BASELINE_KEYS)
    arts.add(tid)
    side = _side_lineage(store, collector, g, arts, execs, model_id)
    full, derived, validator_execs = side["full"], side["derived"], side["validator_execs"]
    shown_execs = set(execs) | validator_execs | side["stats_execs"]
    shown_arts = derived | {a for e in validator_execs for a, _ in full.outputs.get(e, [])}
    made_and_judged = _training_and_evaluation(store, g, full, arts, model_id, set(execs) | validator_execs,
                                               read_files)
    runs = sorted({r for e in [g.producers[x][0] for x in (model_id, tid) if x and g.producers.get(x)]
                   for r in g.runs_of(e)})
    pipelines = sorted({g.pipeline_of(e) for e in shown_execs} - {None})
    served_ids = {a.id for a in served_models(store).values()}
    return {
        "question": "trace", "reference": str(ref), "target": g.artifact_summary(tid),
        "serving": tid in served_ids, "served": served_state(store),
        "model": g.artifact_summary(model_id) if model_id else None,
        "pushed": _push_summary(g.artifacts[tid]) if g.type_of(tid) == R.PUSHED_MODEL else None,
        "pushes": _pushes_of(full, model_id, served_ids) if model_id else [],
        "pipeline": pipelines[0] if len(pipelines) == 1 else pipelines,
        "runs": runs,
        **_data_entries(g, full, arts, derived, model_id),
        "validators": _verdicts(full, validator_execs),
        **made_and_judged,
        "executions": [full.execution_summary(e) for e in
                       sorted(shown_execs, key=lambda x: (full.executions[x].create_time_since_epoch, x))],
        "times": _run_times(store, runs),  # of the run(s) that made the target
        "graph": full.to_dict(shown_arts, shown_execs),
        "triggered_by": triggered_by(store, runs),
    }


def _side_lineage(store, collector: Collector, g: R.Graph, arts: Set[int], execs: Set[int],
                  model_id: Optional[int]) -> Dict[str, Any]:
    """Validators that are not upstream of the target (e.g. ExampleValidator is a leaf in TFX), found a few
    hops downstream of the training data and the model, with the statistics computed from that data:
    {full: g merged with that side graph, derived: our artifacts and those statistics,
    validator_execs, stats_execs}."""
    examples_ids = [a for a in arts if g.type_of(a) == R.EXAMPLES]
    starts = examples_ids + ([model_id] if model_id else [])
    side = collector(store, starts, DOWN, max_hops=SIDE_HOPS) if starts else None
    found = {"full": g, "derived": set(arts), "validator_execs": set(e for e in execs if _is_validator(g, e)),
             "stats_execs": set()}
    if side is None:
        return found
    found["full"] = R.Graph.from_proto(merge(_as_proto(g), _as_proto(side)))
    side_execs = sorted(side.executions, key=lambda x: (side.executions[x].create_time_since_epoch, x))
    derived = found["derived"]
    for e in side_execs:  # statistics computed from our data
        ins, outs = side.inputs.get(e, []), side.outputs.get(e, [])
        if (outs and all(side.type_of(a) == R.STATISTICS for a, _ in outs)
                and ins and all(a in derived for a, _ in ins if side.type_of(a) != R.SCHEMA)):
            found["stats_execs"].add(e)
            derived |= {a for a, _ in outs}
    for e in side_execs:
        if e not in execs and _is_validator(side, e) and _judges_ours(store, side, e, derived, model_id):
            found["validator_execs"].add(e)
    found["stats_execs"] = {e for e in found["stats_execs"] if e not in execs}
    return found


def _judges_ours(store, side: R.Graph, e: int, derived: Set[int], model_id: Optional[int]) -> bool:
    """Whether validator execution `e` judges our data or model (and no other model)."""
    if any(m != model_id for m in _judged_models(store, e)):
        return False  # judges another model (e.g. a later run's validator that pooled our eval data)
    return any((a in derived or a == model_id) and side.type_of(a) != R.SCHEMA and k not in BASELINE_KEYS
               for a, k in side.inputs.get(e, []))


def _data_entries(g: R.Graph, full: R.Graph, arts: Set[int], derived: Set[int], model_id: Optional[int]) -> Dict[str, Any]:
    """The trace's data entries: spans, training_spans, examples, statistics, schema."""
    examples = [_example_summary(full, a) for a in full.of_type(R.EXAMPLES, arts)]
    training = sorted(g.ancestors(model_id, skip_input_keys=BASELINE_KEYS)[0]) if model_id else sorted(arts)
    return {
        "spans": sorted({e["span"] for e in examples if e["span"] is not None}),
        "training_spans": sorted({R.artifact_span(g.artifacts[a]) for a in training
                                  if g.type_of(a) == R.EXAMPLES} - {None}),
        "examples": examples,
        "statistics": [{**full.artifact_summary(a), "examples": sorted(
            i for e in full.producers.get(a, []) for i, _ in full.inputs.get(e, []) if full.type_of(i) == R.EXAMPLES)}
            for a in full.of_type(R.STATISTICS, derived)],
        "schema": [g.artifact_summary(a) for a in g.of_type(R.SCHEMA, arts)],
    }


def _training_and_evaluation(store, g: R.Graph, full: R.Graph, arts: Set[int], model_id: Optional[int], execs: Set[int],
               read_files: bool) -> Dict[str, Any]:
    """The trace's entries on how the model was made and judged: trainer, evaluations, metrics, blessed,
    baselines, baseline_models."""
    evaluations = _evaluations(full, arts, model_id)
    baselines = _baselines(store, full, model_id, execs)
    metrics: Dict[str, float] = {}
    for ev in evaluations:
        if ev["type"] != R.EVALUATION:
            continue
        if read_files and not ev["metrics"]:
            ev["metrics"] = file_metrics(ev["uri"])
        metrics.update(ev["metrics"])
    if model_id:
        metrics = {**R.metrics_of(g.artifacts[model_id]), **metrics}
    return {
        "trainer": _trainer(g, model_id),
        "evaluations": evaluations,
        "metrics": metrics,
        "blessed": _all_blessed(evaluations),
        "baselines": baselines,  # what was compared against: older model, earlier span's statistics
        "baseline_models": [b for b in baselines if b["input"] == "baseline_model"],
    }


def _trainer(g: R.Graph, model_id: Optional[int]) -> Optional[Dict[str, Any]]:
    """The Trainer execution that made the model, with its code reference and flattened parameters."""
    if not (model_id and g.producers.get(model_id)):
        return None
    t = g.execution_summary(g.producers[model_id][0])
    code = next((t["parameters"][k] for k in _CODE_KEYS if t["parameters"].get(k)), None)
    return {**t, "module_file": code, "code_version": _code_version(t["parameters"]),
            "parameters_flat": _flatten(t["parameters"])}


def _evaluations(full: R.Graph, arts: Set[int], model_id: Optional[int]) -> List[Dict[str, Any]]:
    """The ModelEvaluation and blessing artifacts about the model, with their metrics from MLMD."""
    eval_arts = set(full.of_type(R.EVALUATION, arts)) | set(full.of_type(R.MODEL_BLESSING, arts))
    if model_id:  # the Evaluator's other output is not upstream of the push: take it from `full`
        for e in full.consumers.get(model_id, []):
            if any(a == model_id and k not in BASELINE_KEYS for a, k in full.inputs.get(e, [])):
                eval_arts |= {a for a, _ in full.outputs.get(e, [])
                              if full.type_of(a) in (R.EVALUATION, R.MODEL_BLESSING)}
    evaluations = []
    for a in sorted(eval_arts):
        art = full.artifacts[a]
        evaluations.append({"artifact": a, "type": full.type_of(a), "uri": art.uri,
                            "node": full.node_of(full.producers[a][0]) if full.producers.get(a) else None,
                            "blessed": R.parse_blessed(R.prop(art, "blessed")),
                            "metrics": R.metrics_of(art)})
    return evaluations


def _push_summary(pushed: metadata_store_pb2.Artifact) -> Dict[str, Any]:
    return {"artifact": pushed.id, "pushed": bool(R.prop(pushed, "pushed", 0)),
            "version": R.prop(pushed, "pushed_version"), "destination": R.prop(pushed, "pushed_destination"),
            "created": R.iso(pushed.create_time_since_epoch)}


def _pushes_of(full: R.Graph, model_id: int, served_ids: Set[int]) -> List[Dict[str, Any]]:
    """Where the model went (the Pusher is downstream of it, maybe through blessings only)."""
    pushes = []
    for a in full.of_type(R.PUSHED_MODEL):
        if _model_behind(full, a) == model_id:
            art = full.artifacts[a]
            pushes.append({"artifact": a, "pushed": bool(R.prop(art, "pushed", 0)),
                           "version": R.prop(art, "pushed_version"), "serving": a in served_ids})
    return sorted(pushes, key=lambda p: p["artifact"])


def triggered_by(store, run_ids: Iterable[str]) -> List[Dict[str, Any]]:
    """Monitoring alerts that started these pipeline runs: the MonitorRetrain executions (pipeline/monitor)
    naming a run, each with the alert (MonitoringReport) it read."""
    run_ids = set(run_ids)
    if not run_ids or R.RETRAIN_EXECUTION not in {t.name for t in store.get_execution_types()}:
        return []
    found = [e for e in store.get_executions_by_type(R.RETRAIN_EXECUTION) if R.prop(e, "run_id") in run_ids]
    if not found:
        return []
    alert_of = {ev.execution_id: ev.artifact_id for ev in store.get_events_by_execution_ids([e.id for e in found])
                if ev.type == R.Event.INPUT and R.event_key(ev) == "alert"}
    alerts = {a.id: a for a in store.get_artifacts_by_id(sorted(set(alert_of.values())))}
    out = []
    for e in sorted(found, key=lambda x: x.id):
        alert = alerts.get(alert_of.get(e.id))
        reasons = R.prop(alert, "reasons") if alert is not None else None
        out.append({"execution": e.id, "run_id": R.prop(e, "run_id"), "span": R.prop(e, "span"),
                    "alert": alert.id if alert is not None else None,
                    "reasons": json.loads(reasons) if isinstance(reasons, str) and reasons[:1] == "[" else reasons,
                    "served_version": R.prop(alert, "model_version") if alert is not None else None,
                    "report_uri": alert.uri if alert is not None else None,
                    "page": R.prop(alert, "page") if alert is not None else None})
    return out


def _baselines(store, g: R.Graph, model_id: Optional[int], execs) -> List[Dict[str, Any]]:
    """Models the evaluations of ``model_id`` compared against (their lineage is not ours)."""
    evaluators = set(e for e in execs if any(k in BASELINE_KEYS for _, k in g.inputs.get(e, [])))
    if model_id:
        evaluators |= {e for e in g.consumers.get(model_id, [])
                       if any(a == model_id and k not in BASELINE_KEYS for a, k in g.inputs.get(e, []))}
    if not evaluators:
        return []
    keys: Dict[int, str] = {}
    for ev in store.get_events_by_execution_ids(sorted(evaluators)):
        key = ev.path.steps[0].key if ev.path.steps and ev.path.steps[0].HasField("key") else ""
        if ev.type == R.Event.INPUT and key in BASELINE_KEYS:
            keys[ev.artifact_id] = key
    return [{"id": a.id, "input": keys[a.id], "uri": a.uri, "created": R.iso(a.create_time_since_epoch)}
            for a in sorted(store.get_artifacts_by_id(sorted(keys)), key=lambda a: a.id)] if keys else []


def _all_blessed(evaluations) -> Optional[bool]:
    vals = [e["blessed"] for e in evaluations if e["blessed"] is not None]
    return all(vals) if vals else None


def _is_validator(g: R.Graph, e: int) -> bool:
    return g.role_of(e) == R.VALIDATOR


def _model_behind(g: R.Graph, tid: int) -> Optional[int]:
    """The Model a pushed model / blessing is about (not the baseline)."""
    for e in g.producers.get(tid, []):
        direct = [a for a, k in g.inputs.get(e, []) if g.type_of(a) == R.MODEL and k not in BASELINE_KEYS]
        if direct:
            return max(direct)
        for a, _ in g.inputs.get(e, []):  # e.g. Pusher <- InfraBlessing (stamped model)
            ref = R.prop(g.artifacts[a], "current_model_id") or R.prop(g.artifacts[a], "validated_model_id")
            if ref and ref in g.artifacts:
                return int(ref)
    arts, _ = g.ancestors(tid, skip_input_keys=BASELINE_KEYS)
    models = g.of_type(R.MODEL, arts)
    return max(models) if models else None


def _as_proto(g: R.Graph) -> metadata_store_pb2.LineageGraph:
    """Back to a LineageGraph (for merging two collected graphs)."""
    lg = metadata_store_pb2.LineageGraph()
    lg.artifacts.extend(g.artifacts.values())
    lg.executions.extend(g.executions.values())
    lg.contexts.extend(g.contexts.values())
    for e, pairs in g.inputs.items():
        for a, k in pairs:
            lg.events.add(artifact_id=a, execution_id=e, type=R.Event.INPUT).path.steps.add(key=k)
    for e, pairs in g.outputs.items():
        for a, k in pairs:
            lg.events.add(artifact_id=a, execution_id=e, type=R.Event.OUTPUT).path.steps.add(key=k)
    for e, pairs in g.resolved.items():
        for a, k in pairs:
            lg.events.add(artifact_id=a, execution_id=e, type=R.Event.INTERNAL_OUTPUT).path.steps.add(key=k)
    for e, ctxs in g.exec_contexts.items():
        for c in ctxs:
            lg.associations.add(execution_id=e, context_id=c)
    lg.artifact_types.extend(metadata_store_pb2.ArtifactType(id=i, name=n) for i, n in g.artifact_type.items())
    lg.execution_types.extend(metadata_store_pb2.ExecutionType(id=i, name=n) for i, n in g.execution_type.items())
    lg.context_types.extend(metadata_store_pb2.ContextType(id=i, name=n) for i, n in g.context_type.items())
    return lg


# --- impact -----------------------------------------------------------------------------------
def parse_data_ref(ref: Union[str, int]) -> Tuple[str, int]:
    """'3' / 'span:3' -> ('span', 3); 'id:42' / '#42' / 'artifact:42' -> ('artifact', 42)."""
    text = str(ref).strip().lower()
    for prefix, kind in (("span:", "span"), ("id:", "artifact"), ("artifact:", "artifact"), ("#", "artifact")):
        if text.startswith(prefix):
            text, k = text[len(prefix):], kind
            break
    else:
        k = "span"
    if not text.lstrip("-").isdigit():
        raise LineageError(f"bad data reference {ref!r}: use a span number (3, span:3) or an artifact id (id:42)")
    return k, int(text)


def impact(store, ref: Union[str, int], collector: Collector = collect_api) -> Dict[str, Any]:
    """Everything downstream of a span (all its Examples artifacts) or of one artifact."""
    kind, number = parse_data_ref(ref)
    if kind == "span":
        starts = [a.id for a in examples_of_span(store, number)]
    else:
        starts = [resolve_artifact(store, number).id]
    g = collector(store, starts, DOWN)
    arts, execs = set(starts), set()
    for s in starts:
        a2, e2 = g.descendants(s, BASELINE_KEYS)
        arts |= a2
        execs |= e2
    served = served_model(store)
    served_id = served.id if served is not None else None
    served_ids = {a.id for a in served_models(store).values()}
    models = []
    for m in g.of_type(R.MODEL, arts):
        m_arts, _ = g.descendants(m, BASELINE_KEYS)
        trainer = g.producers.get(m, [None])[0]
        pushes = []
        for p in g.of_type(R.PUSHED_MODEL, m_arts):
            art = g.artifacts[p]
            pushes.append({"artifact": p, "pushed": bool(R.prop(art, "pushed", 0)),
                           "version": R.prop(art, "pushed_version"),
                           "destination": R.prop(art, "pushed_destination"),
                           "serving": p in served_ids,
                           "runs": g.runs_of(g.producers[p][0]) if g.producers.get(p) else []})
        blessings = [{"artifact": b, "type": g.type_of(b), "node": g.node_of(g.producers[b][0]),
                      "blessed": R.parse_blessed(R.prop(g.artifacts[b], "blessed"))}
                     for b in sorted(m_arts) if R.prop(g.artifacts[b], "blessed") is not None]
        models.append({"artifact": m, "uri": g.artifacts[m].uri, "created": R.iso(g.artifacts[m].create_time_since_epoch),
                       "trained_by": g.node_of(trainer) if trainer else None,
                       "runs": g.runs_of(trainer) if trainer else [],
                       "metrics": {k: v for b in m_arts if g.type_of(b) == R.EVALUATION
                                   for k, v in R.metrics_of(g.artifacts[b]).items()},
                       "blessings": blessings, "pushes": pushes,
                       "serving": any(p["serving"] for p in pushes)})
    return {
        "question": "impact", "reference": str(ref), "kind": kind, "value": number,
        "starts": [g.artifact_summary(a) for a in sorted(starts)],
        "spans": sorted({R.artifact_span(g.artifacts[a]) for a in starts} - {None}),
        "statistics": [g.artifact_summary(a) for a in g.of_type(R.STATISTICS, arts)],
        "validators": _verdicts(g, [e for e in execs if _is_validator(g, e)]),
        "models": models,
        "serving": any(m["serving"] for m in models),
        "served_model": served_id,
        "executions": [g.execution_summary(e) for e in
                       sorted(execs, key=lambda x: (g.executions[x].create_time_since_epoch, x))],
        "graph": g.to_dict(arts, execs),
    }


# --- runs ---------------------------------------------------------------------------------------
def _node_map(store) -> Dict[int, str]:
    """execution id -> node id, from the ``node`` contexts (one query per node)."""
    out: Dict[int, str] = {}
    pipelines = [c.name for c in store.get_contexts_by_type(R.PIPELINE_CONTEXT)]
    for ctx in store.get_contexts_by_type(R.NODE_CONTEXT):
        name = R.node_id(ctx.name, pipelines)
        for e in store.get_executions_by_context(ctx.id):
            out[e.id] = name
    return out


def _nodes_of(store, executions) -> Dict[int, str]:
    """execution id -> node id for a few executions (one query each; the type's short name if no node)."""
    types = {t.id: t.name for t in store.get_execution_types_by_id(sorted({e.type_id for e in executions}))}
    context_types = {t.id: t.name for t in store.get_context_types()}
    out = {}
    for e in executions:
        by_type: Dict[str, List[str]] = {}
        for c in store.get_contexts_by_execution(e.id):
            by_type.setdefault(context_types.get(c.type_id), []).append(c.name)
        nodes = by_type.get(R.NODE_CONTEXT)
        out[e.id] = (R.node_id(nodes[0], by_type.get(R.PIPELINE_CONTEXT, [])) if nodes
                     else R.short_type(types.get(e.type_id, str(e.type_id))))
    return out


def _run_contexts(store, pipeline: Optional[str] = None) -> List[metadata_store_pb2.Context]:
    if pipeline:
        p = store.get_context_by_type_and_name(R.PIPELINE_CONTEXT, pipeline)
        if p is None:
            known = [c.name for c in store.get_contexts_by_type(R.PIPELINE_CONTEXT)]
            raise LineageError(f"no pipeline {pipeline!r} in {_where(store)} (known: {known})")
        return list(store.get_children_contexts_by_context(p.id))
    return list(store.get_contexts_by_type(R.RUN_CONTEXT))


def _run_context(store, run: Union[str, metadata_store_pb2.Context]) -> metadata_store_pb2.Context:
    if not isinstance(run, str):
        return run
    ctx = store.get_context_by_type_and_name(R.RUN_CONTEXT, run)
    if ctx is None:
        raise LineageError(f"no pipeline run {run!r} in {_where(store)}")
    return ctx


def read_run(store, run: Union[str, metadata_store_pb2.Context], *, node_map: Optional[Dict[int, str]] = None,
             executions=None, events=None, artifacts: Optional[Dict[int, Any]] = None,
             types: Optional[Dict[int, str]] = None) -> R.RunRecord:
    """One run read back from MLMD (by run id or context). The keyword arguments let a caller that reads
    many runs pass what it already fetched."""
    ctx = _run_context(store, run)
    executions = sorted(executions if executions is not None else store.get_executions_by_context(ctx.id),
                        key=lambda x: (x.create_time_since_epoch, x.id))
    eids = {e.id for e in executions}
    if events is None:
        events = store.get_events_by_execution_ids(sorted(eids)) if eids else []
    if artifacts is None:
        aids = sorted({ev.artifact_id for ev in events})
        artifacts = {a.id: a for a in store.get_artifacts_by_id(aids)} if aids else {}
    if types is None:
        types = {t.id: t.name for t in store.get_artifact_types()}
    if node_map is None:
        node_map = _nodes_of(store, executions) if executions else {}
    inputs: Dict[int, Dict[str, List]] = {}
    outputs: Dict[int, Dict[str, List]] = {}
    for ev in events:
        a = artifacts.get(ev.artifact_id)
        side = {R.Event.INPUT: inputs, R.Event.OUTPUT: outputs}.get(ev.type)
        if a is None or side is None or ev.execution_id not in eids:
            continue
        side.setdefault(ev.execution_id, {}).setdefault(R.event_key(ev), []).append(a)
    node_of = {e.id: node_map.get(e.id) or R.short_type(str(e.type)) or str(e.type_id) for e in executions}
    return R.RunRecord(ctx, executions, node_of, inputs, outputs, types)


def run_details(record: R.RunRecord, read_files: bool = False) -> Dict[str, Any]:
    """What a run did: executed/cached/failed nodes, spans, models, trainer parameters, metrics, verdicts,
    pushed version. Metrics are MLMD's; ``read_files`` adds TFMA's from the evaluation folder."""
    executions = {e.id: e for e in record.executions}
    nodes = record.nodes()
    outputs = [(eid, a) for eid, by_key in record.outputs.items() for arts in by_key.values() for a in arts]
    inputs = [(eid, a) for eid, by_key in record.inputs.items() for arts in by_key.values() for a in arts]
    tname = record.type_of
    examples = {a.id: a for _, a in outputs + inputs if tname(a) == R.EXAMPLES}
    schema = sorted({a.id: a for _, a in inputs + outputs if tname(a) == R.SCHEMA}.values(), key=lambda a: a.id)
    models = sorted({a.id for _, a in outputs if tname(a) == R.MODEL})
    verdicts: Dict[str, Any] = {}
    metrics: Dict[str, float] = {}
    pushed = None
    for eid, a in sorted(outputs, key=lambda x: (x[1].id)):
        raw = R.prop(a, "blessed")
        if raw is not None:
            verdicts[record.node_of[eid]] = R.parse_blessed(raw)
        if tname(a) in (R.EVALUATION, R.MODEL):
            metrics.update(R.metrics_of(a))
            if read_files and tname(a) == R.EVALUATION and not R.metrics_of(a):
                metrics.update(file_metrics(a.uri))
        if tname(a) == R.PUSHED_MODEL and R.prop(a, "pushed"):
            pushed = {"version": R.prop(a, "pushed_version"), "artifact": a.id,
                      "destination": R.prop(a, "pushed_destination"),
                      "cached": executions[eid].last_known_state == R.Execution.CACHED}
    trainer_params: Dict[str, Any] = {}
    for eid, a in outputs:
        if tname(a) == R.MODEL:
            trainer_params = _flatten({k: v for k, v in R.props(executions[eid]).items() if not k.startswith("__")})
    starts = [e.create_time_since_epoch for e in record.executions if e.create_time_since_epoch]
    ends = [e.last_update_time_since_epoch for e in record.executions if e.last_update_time_since_epoch]
    states = [n["state"] for n in nodes]
    return {
        "run_id": record.run_id, "context_id": record.context.id,
        "started": R.iso(min(starts)) if starts else None,
        "seconds": round((max(ends) - min(starts)) / 1000.0, 3) if starts and ends else None,
        "executed": states.count("COMPLETE"), "cached": states.count("CACHED"),
        "failed": [n["node"] for n in nodes if n["state"] == "FAILED"],
        "other": [f"{n['node']}:{n['state']}" for n in nodes if n["state"] not in ("COMPLETE", "CACHED", "FAILED")],
        "nodes": nodes,
        "spans": sorted({R.artifact_span(a) for a in examples.values()} - {None}),
        "examples": sorted(examples),
        "schema": [{"artifact": a.id, "uri": a.uri} for a in schema],
        "models": models,
        "parameters": trainer_params,
        "metrics": metrics, "verdicts": verdicts,
        "pushed": pushed,
    }


def runs(store, pipeline: Optional[str] = None, limit: Optional[int] = None,
         read_files: bool = False) -> Dict[str, Any]:
    """Run history, newest first like the report's index (the last ``limit`` runs if given)."""
    return {"question": "runs", "pipeline": pipeline,
            "runs": [run_details(r, read_files) for r in reversed(read_runs(store, pipeline, limit))]}


def read_runs(store, pipeline: Optional[str] = None, limit: Optional[int] = None) -> List[R.RunRecord]:
    """Every run (of one pipeline if given), oldest first (the last ``limit`` if given); a few batched reads."""
    ctxs = _run_contexts(store, pipeline)
    node_map = _node_map(store)
    types = {t.id: t.name for t in store.get_artifact_types()}
    per_run = {c.id: store.get_executions_by_context(c.id) for c in ctxs}
    all_ids = [e.id for ex in per_run.values() for e in ex]
    events = store.get_events_by_execution_ids(all_ids) if all_ids else []
    aids = sorted({ev.artifact_id for ev in events})
    artifacts = {a.id: a for a in store.get_artifacts_by_id(aids)} if aids else {}
    ev_by_exec: Dict[int, List] = {}
    for ev in events:
        ev_by_exec.setdefault(ev.execution_id, []).append(ev)
    ctxs.sort(key=lambda c: (min([e.create_time_since_epoch for e in per_run[c.id]] or [0]), c.id))
    if limit:
        ctxs = ctxs[-limit:]
    return [read_run(store, c, node_map=node_map, executions=per_run[c.id],
                     events=[ev for e in per_run[c.id] for ev in ev_by_exec.get(e.id, [])],
                     artifacts=artifacts, types=types) for c in ctxs]


def run_graph(store, run: Union[str, metadata_store_pb2.Context]) -> R.Graph:
    """One run as a graph: its executions (cache hits included) and the artifacts they read, wrote or picked."""
    ctx = _run_context(store, run)
    executions = store.get_executions_by_context(ctx.id)
    events = store.get_events_by_execution_ids([e.id for e in executions]) if executions else []
    artifact_ids = sorted({ev.artifact_id for ev in events})
    artifacts = store.get_artifacts_by_id(artifact_ids) if artifact_ids else []
    contexts, associations = {}, []
    for e in executions:
        for c in store.get_contexts_by_execution(e.id):
            contexts[c.id] = c
            associations.append(metadata_store_pb2.Association(execution_id=e.id, context_id=c.id))
    return R.Graph(artifacts, executions, events, contexts.values(), associations, store.get_artifact_types(),
                   store.get_execution_types(), store.get_context_types(), keep_cached=True)


# --- diff -------------------------------------------------------------------------------------
def resolve_run(store, ref: str) -> metadata_store_pb2.Context:
    """A pipeline_run context by run id, or the run that produced a model reference."""
    ctx = store.get_context_by_type_and_name(R.RUN_CONTEXT, str(ref))
    if ctx is not None:
        return ctx
    try:
        art = resolve_artifact(store, ref)
    except LineageError:
        raise LineageError(f"{ref!r} is neither a pipeline run id nor a model reference in {_where(store)}") from None
    producers = [ev.execution_id for ev in store.get_events_by_artifact_ids([art.id]) if ev.type == R.Event.OUTPUT]
    for e in store.get_executions_by_id(producers):
        if e.last_known_state == R.Execution.CACHED:
            continue
        for c in store.get_contexts_by_execution(e.id):
            if c.type_id == store.get_context_type(R.RUN_CONTEXT).id:
                return c
    raise LineageError(f"artifact {art.id} has no producing pipeline run")


def diff(store, ref_a: str, ref_b: str, read_files: bool = False) -> Dict[str, Any]:
    """Two runs (or the runs of two models) side by side, with the fields that differ."""
    node_map = _node_map(store)
    a, b = (run_details(read_run(store, resolve_run(store, ref), node_map=node_map), read_files)
            for ref in (ref_a, ref_b))
    rows = []

    def add(field, va, vb):
        rows.append({"field": field, "a": va, "b": vb, "changed": va != vb})

    add("run_id", a["run_id"], b["run_id"])
    add("started", a["started"], b["started"])
    add("spans", a["spans"], b["spans"])
    add("examples", a["examples"], b["examples"])
    add("schema", [s["artifact"] for s in a["schema"]], [s["artifact"] for s in b["schema"]])
    add("executed/cached", f"{a['executed']}/{a['cached']}", f"{b['executed']}/{b['cached']}")
    add("models", a["models"], b["models"])
    for k in sorted(set(a["parameters"]) | set(b["parameters"])):
        add(f"param {k}", a["parameters"].get(k), b["parameters"].get(k))
    for k in sorted(set(a["metrics"]) | set(b["metrics"])):
        add(f"metric {k}", a["metrics"].get(k), b["metrics"].get(k))
    for k in sorted(set(a["verdicts"]) | set(b["verdicts"])):
        add(f"verdict {k}", a["verdicts"].get(k), b["verdicts"].get(k))
    add("pushed_version", (a["pushed"] or {}).get("version"), (b["pushed"] or {}).get("version"))
    schema_changes = None
    if read_files and a["schema"] and b["schema"]:
        schema_changes = schema_diff(a["schema"][0]["uri"], b["schema"][0]["uri"])
    return {"question": "diff", "a": a, "b": b, "rows": rows,
            "changed": [r["field"] for r in rows if r["changed"]], "schema_changes": schema_changes}


def schema_diff(uri_a: str, uri_b: str) -> Optional[Dict[str, Any]]:
    """Feature-level differences of two Schema artifacts (reads schema.pbtxt under each uri)."""
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    def load(uri):
        path = os.path.join(uri, "schema.pbtxt")
        if not os.path.isfile(path):
            return None
        with open(path) as f:
            return text_format.Parse(f.read(), schema_pb2.Schema())

    sa, sb = load(uri_a), load(uri_b)
    if sa is None or sb is None:
        return None
    fa = {f.name: f for f in sa.feature}
    fb = {f.name: f for f in sb.feature}
    changed = sorted(n for n in set(fa) & set(fb) if fa[n] != fb[n])
    return {"added": sorted(set(fb) - set(fa)), "removed": sorted(set(fa) - set(fb)),
            "changed": changed,
            "details": {n: {"a": text_format.MessageToString(fa[n], as_one_line=True),
                            "b": text_format.MessageToString(fb[n], as_one_line=True)} for n in changed}}
