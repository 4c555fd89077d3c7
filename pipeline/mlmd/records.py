"""How TFX records a pipeline in ML-Metadata, and an in-memory index over a lineage subgraph.

TFX (1.16, IR-based orchestrators) writes: contexts of type ``pipeline`` (name = pipeline name,
parent of each run), ``pipeline_run`` (name = run id), ``node`` (name = ``<pipeline>.<node id>``)
and ``execution_cache`` (one per cache key; not a user concept). Every execution is associated
with its pipeline, run and node contexts; a cache hit is an execution in state CACHED whose events
point at the artifacts of the original COMPLETE execution. Exec properties are custom properties of
the execution; artifact facts (``span``, ``blessed``, ``pushed``...) are properties or custom
properties of the artifact.
"""
from __future__ import annotations

import collections
import dataclasses
import datetime
import json
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from google.protobuf import json_format
from ml_metadata.proto import metadata_store_pb2

from components.drift_validator.spans import artifact_span

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
CACHE_CONTEXT = "execution_cache"
TFX_CONTEXT_TYPES = (PIPELINE_CONTEXT, RUN_CONTEXT, NODE_CONTEXT)

EXAMPLES = "Examples"
STATISTICS = "ExampleStatistics"
SCHEMA = "Schema"
ANOMALIES = "ExampleAnomalies"
MODEL = "Model"
EVALUATION = "ModelEvaluation"
MODEL_BLESSING = "ModelBlessing"
INFRA_BLESSING = "InfraBlessing"
PUSHED_MODEL = "PushedModel"
# What the monitoring job (pipeline/monitor) records: logs -> statistics -> report, and the retraining an
# alert started (pipeline/monitor/records.py).
MONITOR_CONTEXT = "monitoring"
MONITOR_STATISTICS_EXECUTION = "MonitorStatistics"
MONITOR_EXECUTION = "Monitor"
RETRAIN_EXECUTION = "MonitorRetrain"
PREDICTION_LOGS = "PredictionLogs"
LABEL_FILE = "LabelFile"
MONITORING_REPORT = "MonitoringReport"

# TFX's value artifacts (a @component's returned values, e.g. DriftValidator's `blessed`).
VALUE_TYPES = ("Integer", "Float", "String", "Boolean", "Bytes", "JsonValue")

# What an execution is to a reader: it makes artifacts, it judges them (writes a verdict), or it picks
# existing ones (a resolver node: COMPLETE on every run, never cached, INTERNAL_OUTPUT events).
COMPONENT, VALIDATOR, RESOLVER = "component", "validator", "resolver"
RESOLVER_TYPE_SUFFIX = ".Resolver"  # tfx.dsl.components.common.resolver.Resolver

Execution = metadata_store_pb2.Execution
Event = metadata_store_pb2.Event
STATE_NAMES = {v: k for k, v in Execution.State.items()}
ARTIFACT_STATE_NAMES = {v: k for k, v in metadata_store_pb2.Artifact.State.items()}

# Bookkeeping properties that say nothing to a reader.
_HIDDEN_PROPS = {"tfx_version", "is_external", "state", "stats_dashboard_link"}
# Numeric artifact properties that are ids/flags, not metrics.
_NOT_METRICS = {"blessed", "pushed", "current_model_id", "baseline_model_id", "validated_model_id", "span",
                "version", "has_model", "has_baseline", "is_external", "payload_format", "pushed_version",
                "behavior_checks_passed", "upstream_blessed", "num_failed_checks", "baseline_ignored"}


def value(v: metadata_store_pb2.Value) -> Any:
    """Python value of an MLMD property value (structs become dicts/lists)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "struct_value":
        d = json_format.MessageToDict(v.struct_value)
        # TFX's set_json_value_custom_property wraps non-dict values in {"__value__": ...}.
        return d["__value__"] if set(d) == {"__value__"} else d
    if kind == "proto_value":
        return f"<{v.proto_value.type_url.rsplit('/', 1)[-1]}>"
    if kind == "bool_value":
        return bool(v.bool_value)
    return getattr(v, kind)


def set_value(target: metadata_store_pb2.Value, x: Any) -> None:
    """Stores a Python value the way this project's own records do (ct, monitoring): bools and ints as ints,
    floats, strings, anything else as a JSON string (read back with `json_value`)."""
    if isinstance(x, bool):
        target.int_value = int(x)
    elif isinstance(x, int):
        target.int_value = x
    elif isinstance(x, float):
        target.double_value = x
    elif isinstance(x, str):
        target.string_value = x
    else:
        target.string_value = json.dumps(x, sort_keys=True)


def json_value(v: metadata_store_pb2.Value) -> Any:
    """`value`, with the JSON strings `set_value` writes for lists and dicts parsed."""
    raw = value(v)
    if isinstance(raw, str) and raw[:1] in ("[", "{"):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def props(node, hidden: Iterable[str] = ()) -> Dict[str, Any]:
    """Properties and custom properties of an artifact/execution/context as one dict."""
    skip = set(hidden)
    out = {k: value(v) for k, v in node.properties.items() if k not in skip}
    out.update({k: value(v) for k, v in node.custom_properties.items()
                if k not in skip and k not in out})
    return out


def prop(node, name: str, default: Any = None) -> Any:
    if name in node.properties:
        return value(node.properties[name])
    if name in node.custom_properties:
        return value(node.custom_properties[name])
    return default


def event_key(event: metadata_store_pb2.Event) -> str:
    """The component's input/output key an event records ('' when the event has no path)."""
    steps = event.path.steps
    return steps[0].key if steps and steps[0].HasField("key") else ""


def node_id(node_context_name: str, pipeline_names: Iterable[str]) -> str:
    """'<pipeline>.<node id>' (a node context's name) -> node id."""
    for pipeline in pipeline_names:
        if node_context_name.startswith(pipeline + "."):
            return node_context_name[len(pipeline) + 1:]
    return node_context_name.split(".", 1)[-1]


def seconds(execution: metadata_store_pb2.Execution) -> Optional[float]:
    """Wall time an execution took (last update - creation), None when a timestamp is missing."""
    start, end = execution.create_time_since_epoch, execution.last_update_time_since_epoch
    return round(max(0, end - start) / 1000.0, 3) if start and end else None


def iso(ms: int) -> Optional[str]:
    """UTC ISO time of an MLMD millisecond timestamp."""
    if not ms:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(
        timespec="seconds").replace("+00:00", "Z")


def short_type(type_name: str) -> str:
    """'tfx.components.trainer.component.Trainer' -> 'Trainer'."""
    return type_name.rsplit(".", 1)[-1]


def split_names(raw: Any) -> List[str]:
    if raw is None:
        return []
    if isinstance(raw, list):
        return [str(x) for x in raw]
    try:
        parsed = json.loads(raw)
        return [str(x) for x in parsed] if isinstance(parsed, list) else [str(parsed)]
    except (TypeError, ValueError):
        return [str(raw)]


def parse_blessed(raw: Any) -> Optional[bool]:
    """Verdict of a ``blessed`` property: int 0/1, or ExampleValidator's per-split {split: 0/1}."""
    if raw is None:
        return None
    if isinstance(raw, dict):
        vals = [v for v in raw.values() if isinstance(v, (int, float, bool))]
        return all(bool(v) for v in vals) if vals else None
    if isinstance(raw, str):
        try:
            return parse_blessed(json.loads(raw))
        except ValueError:
            return raw.strip().lower() in ("1", "true", "blessed")
    return bool(raw)


def is_verdict(artifact, type_name: str) -> bool:
    """An artifact that says pass/fail: a ``blessed`` property, or ExampleValidator's anomalies."""
    return prop(artifact, "blessed") is not None or type_name == ANOMALIES


def metrics_of(artifact) -> Dict[str, float]:
    """Numeric custom properties of an evaluation/blessing/model artifact that look like metrics."""
    out = {}
    for k, v in artifact.custom_properties.items():
        x = value(v)
        if k in _NOT_METRICS or k.startswith("__") or isinstance(x, bool):
            continue
        if isinstance(x, (int, float)):
            out[k.removeprefix("metric:").removeprefix("metric_")] = x
    return out


class Graph:
    """Index over artifacts, executions, events and TFX contexts of a lineage (sub)graph.

    CACHED executions and ``execution_cache`` contexts are dropped on construction: a cache hit
    re-links existing artifacts and would otherwise show every artifact twice. A resolver node records the
    artifacts it picked as INTERNAL_OUTPUT events: kept in ``resolved``, not as outputs (it made nothing).
    """

    def __init__(self, artifacts=(), executions=(), events=(), contexts=(), associations=(),
                 artifact_types=(), execution_types=(), context_types=(), keep_cached=False):
        self.artifact_type = {t.id: t.name for t in artifact_types}
        self.execution_type = {t.id: t.name for t in execution_types}
        self.context_type = {t.id: t.name for t in context_types}
        self.executions = {e.id: e for e in executions
                           if keep_cached or e.last_known_state != Execution.CACHED}
        self.artifacts = {a.id: a for a in artifacts}
        self.contexts = {c.id: c for c in contexts
                         if self.context_type.get(c.type_id) in TFX_CONTEXT_TYPES}
        self.inputs: Dict[int, List[Tuple[int, str]]] = collections.defaultdict(list)
        self.outputs: Dict[int, List[Tuple[int, str]]] = collections.defaultdict(list)
        self.producers: Dict[int, List[int]] = collections.defaultdict(list)
        self.consumers: Dict[int, List[int]] = collections.defaultdict(list)
        self.resolved: Dict[int, List[Tuple[int, str]]] = collections.defaultdict(list)
        seen = set()
        for ev in events:
            if ev.execution_id not in self.executions or ev.artifact_id not in self.artifacts:
                continue
            key = event_key(ev)
            sig = (ev.execution_id, ev.artifact_id, ev.type, key)
            if sig in seen:
                continue
            seen.add(sig)
            if ev.type == Event.INTERNAL_OUTPUT:
                self.resolved[ev.execution_id].append((ev.artifact_id, key))
            elif ev.type in (Event.OUTPUT, Event.DECLARED_OUTPUT, Event.PENDING_OUTPUT):
                self.outputs[ev.execution_id].append((ev.artifact_id, key))
                self.producers[ev.artifact_id].append(ev.execution_id)
            else:
                self.inputs[ev.execution_id].append((ev.artifact_id, key))
                self.consumers[ev.artifact_id].append(ev.execution_id)
        self.exec_contexts: Dict[int, List[int]] = collections.defaultdict(list)
        for assoc in associations:
            if assoc.context_id in self.contexts and assoc.execution_id in self.executions:
                if assoc.context_id not in self.exec_contexts[assoc.execution_id]:
                    self.exec_contexts[assoc.execution_id].append(assoc.context_id)

    @classmethod
    def from_proto(cls, lg: metadata_store_pb2.LineageGraph, **kw) -> "Graph":
        return cls(lg.artifacts, lg.executions, lg.events, lg.contexts, lg.associations,
                   lg.artifact_types, lg.execution_types, lg.context_types, **kw)

    # --- names -------------------------------------------------------------------------------
    def type_of(self, artifact_id: int) -> str:
        return self.artifact_type.get(self.artifacts[artifact_id].type_id, "?")

    def _ctx_names(self, execution_id: int, ctx_type: str) -> List[str]:
        return [self.contexts[c].name for c in self.exec_contexts.get(execution_id, [])
                if self.context_type.get(self.contexts[c].type_id) == ctx_type]

    def node_of(self, execution_id: int) -> str:
        nodes = self._ctx_names(execution_id, NODE_CONTEXT)
        if nodes:
            return node_id(nodes[0], self._ctx_names(execution_id, PIPELINE_CONTEXT))
        e = self.executions[execution_id]
        return short_type(self.execution_type.get(e.type_id, "?"))

    def role_of(self, execution_id: int) -> str:
        """COMPONENT, VALIDATOR (writes a verdict) or RESOLVER (picks existing artifacts)."""
        type_name = self.execution_type.get(self.executions[execution_id].type_id, "")
        if execution_id in self.resolved or type_name.endswith(RESOLVER_TYPE_SUFFIX):
            return RESOLVER
        if any(is_verdict(self.artifacts[a], self.type_of(a)) for a, _ in self.outputs.get(execution_id, [])):
            return VALIDATOR
        return COMPONENT

    def runs_of(self, execution_id: int) -> List[str]:
        return self._ctx_names(execution_id, RUN_CONTEXT)

    def pipeline_of(self, execution_id: int) -> Optional[str]:
        names = self._ctx_names(execution_id, PIPELINE_CONTEXT)
        return names[0] if names else None

    # --- walking (in memory) ---------------------------------------------------------------
    def ancestors(self, artifact_id: int, skip_input_keys: Iterable[str] = ()) -> Tuple[Set[int], Set[int]]:
        """(artifact ids, execution ids) upstream of an artifact within this graph."""
        skip = set(skip_input_keys)
        arts, execs = set(), set()
        todo = [artifact_id]
        while todo:
            a = todo.pop()
            for e in self.producers.get(a, []):
                if e in execs:
                    continue
                execs.add(e)
                for src, key in self.inputs.get(e, []):
                    if key in skip or src in arts:
                        continue
                    arts.add(src)
                    todo.append(src)
        return arts, execs

    def descendants(self, artifact_id: int, skip_input_keys: Iterable[str] = ()) -> Tuple[Set[int], Set[int]]:
        """(artifact ids, execution ids) downstream of an artifact within this graph; an execution that takes
        an artifact only under a key in `skip_input_keys` (a baseline, say) is not followed from it."""
        skip = set(skip_input_keys)
        arts, execs = set(), set()
        todo = [artifact_id]
        while todo:
            a = todo.pop()
            for e in self.consumers.get(a, []):
                if e in execs or (skip and all(k in skip for src, k in self.inputs.get(e, []) if src == a)):
                    continue
                execs.add(e)
                for dst, _ in self.outputs.get(e, []):
                    if dst not in arts:
                        arts.add(dst)
                        todo.append(dst)
        return arts, execs

    def of_type(self, type_name: str, ids: Optional[Iterable[int]] = None) -> List[int]:
        pool = self.artifacts if ids is None else ids
        return sorted(i for i in pool if self.type_of(i) == type_name)

    # --- summaries ---------------------------------------------------------------------------
    def artifact_summary(self, artifact_id: int) -> Dict[str, Any]:
        a = self.artifacts[artifact_id]
        producers = self.producers.get(artifact_id, [])
        out = {"id": a.id, "type": self.type_of(artifact_id), "uri": a.uri,
               "state": ARTIFACT_STATE_NAMES.get(a.state, str(a.state)),
               "created": iso(a.create_time_since_epoch),
               "producer": self.node_of(producers[0]) if producers else None,
               "properties": props(a, _HIDDEN_PROPS)}
        if a.name:
            out["name"] = a.name
        return out

    def execution_summary(self, execution_id: int) -> Dict[str, Any]:
        e = self.executions[execution_id]
        return {"id": e.id, "node": self.node_of(execution_id),
                "type": self.execution_type.get(e.type_id, "?"),
                "state": STATE_NAMES.get(e.last_known_state, str(e.last_known_state)),
                "pipeline": self.pipeline_of(execution_id), "runs": self.runs_of(execution_id),
                "started": iso(e.create_time_since_epoch), "finished": iso(e.last_update_time_since_epoch),
                "seconds": seconds(e),
                "parameters": {k: v for k, v in props(e).items() if not k.startswith("__")},
                "inputs": sorted(a for a, _ in self.inputs.get(execution_id, [])),
                "outputs": sorted(a for a, _ in self.outputs.get(execution_id, []))}

    def to_dict(self, artifact_ids: Optional[Iterable[int]] = None,
                execution_ids: Optional[Iterable[int]] = None) -> Dict[str, Any]:
        """Nodes and edges (for JSON/DOT/HTML), restricted to the given ids if any."""
        arts = set(self.artifacts if artifact_ids is None else artifact_ids)
        execs = set(self.executions if execution_ids is None else execution_ids)
        nodes = []
        for a in sorted(arts):
            art = self.artifacts[a]
            label = short_type(self.type_of(a))  # 'components.DriftReport' -> 'DriftReport'
            if label in VALUE_TYPES:  # a component's returned value: name it by its producer and output key
                made = [(e, k) for e in self.producers.get(a, []) for b, k in self.outputs.get(e, []) if b == a]
                label = f"{self.node_of(made[0][0])}.{made[0][1]}" if made else label
            span = artifact_span(art)
            if label == EXAMPLES and span is not None:
                label += f" span {span}"
            blessed = parse_blessed(prop(art, "blessed"))
            if prop(art, "pushed") is not None:
                label += f" v{prop(art, 'pushed_version', '?')}" if prop(art, "pushed") else " (not pushed)"
            nodes.append({"id": f"a{a}", "kind": "artifact", "label": f"{label} #{a}",
                          "type": self.type_of(a), "uri": art.uri, "verdict": blessed})
        for e in sorted(execs):
            nodes.append({"id": f"e{e}", "kind": "execution", "label": f"{self.node_of(e)} #{e}",
                          "type": self.execution_type.get(self.executions[e].type_id, "?"),
                          "state": STATE_NAMES.get(self.executions[e].last_known_state),
                          "role": self.role_of(e), "runs": self.runs_of(e)})
        edges = []
        for e in sorted(execs):
            for a, key in self.inputs.get(e, []):
                if a in arts:
                    edges.append({"from": f"a{a}", "to": f"e{e}", "label": key})
            for a, key in self.outputs.get(e, []):
                if a in arts:
                    edges.append({"from": f"e{e}", "to": f"a{a}", "label": key})
            for a, key in self.resolved.get(e, []):
                if a in arts:
                    edges.append({"from": f"e{e}", "to": f"a{a}", "label": f"{key} (picked)", "resolved": True})
        return {"nodes": nodes, "edges": edges}

    def ids(self) -> Tuple[Set[int], Set[int]]:
        return set(self.artifacts), set(self.executions)


@dataclasses.dataclass
class RunRecord:
    """One pipeline run as MLMD holds it: its executions in start order, each named by its node id, and the
    artifacts each execution read and wrote, by the input/output key of the component's spec."""
    context: metadata_store_pb2.Context
    executions: List[metadata_store_pb2.Execution]
    node_of: Dict[int, str]  # execution id -> node id
    inputs: Dict[int, Dict[str, List[metadata_store_pb2.Artifact]]]  # execution id -> key -> artifacts
    outputs: Dict[int, Dict[str, List[metadata_store_pb2.Artifact]]]
    artifact_type: Dict[int, str]  # artifact type id -> name

    @property
    def run_id(self) -> str:
        return self.context.name

    def nodes(self) -> List[Dict[str, Any]]:
        """[{node, execution, state, seconds}] in start order."""
        return [{"node": self.node_of[e.id], "execution": e.id,
                 "state": STATE_NAMES.get(e.last_known_state, "?"), "seconds": seconds(e) or 0.0}
                for e in self.executions]

    def type_of(self, artifact: metadata_store_pb2.Artifact) -> str:
        return self.artifact_type.get(artifact.type_id, "?")

    def execution_of(self, node: str) -> Optional[metadata_store_pb2.Execution]:
        """The (last) execution of a node in this run, None when it did not run."""
        found = [e for e in self.executions if self.node_of[e.id] == node]
        return found[-1] if found else None

    def _side(self, side: Dict, node: str, key: str) -> List[metadata_store_pb2.Artifact]:
        return [a for e in self.executions if self.node_of[e.id] == node for a in side.get(e.id, {}).get(key, [])]

    def node_inputs(self, node: str, key: str) -> List[metadata_store_pb2.Artifact]:
        return self._side(self.inputs, node, key)

    def node_output(self, node: str, key: str) -> Optional[metadata_store_pb2.Artifact]:
        """The (first) artifact a node wrote under an output key, None when it wrote none."""
        found = self._side(self.outputs, node, key)
        return found[0] if found else None
