"""Writes runs of the real pipeline DAG into an MLMD store through the MLMD API, without running any component.

The DAG is not a copy: every run builds :func:`pipeline.dag.pipeline.create_pipeline` with placeholder paths and
compiles it to TFX's IR, which gives the node ids, execution type names, parameters, input/output keys,
artifact types (with their properties), resolver nodes and the drift ``Cond``. What is recorded follows what
TFX 1.16's LocalDagRunner writes (checked against real runs): contexts ``pipeline`` (parent of each
``pipeline_run``), ``pipeline_run``, ``node`` (``<pipeline>.<node id>``) and ``execution_cache``; a component
execution carries its parameters as custom properties and INPUT/OUTPUT events keyed like the component's spec
(hidden inputs are not recorded, the Cond's input is); a cache hit is a CACHED execution re-linking the earlier
outputs; a resolver node is a COMPLETE execution (never cached) with INTERNAL_OUTPUT events on what it picked;
a node whose Cond is false, or that misses a required input, records nothing.

Only the values are made up, from the arguments of :meth:`SyntheticPipeline.run`: spans, verdicts, the AUC
(written as a custom property of the ModelEvaluation, where a real run keeps TFMA's files) and pushed versions.
Resolver inputs (``input_graph_ref``) are resolved the way the pipeline's resolvers do, by artifact type: the
newest Examples of each span of the training window, the statistics of the previous span, the latest blessed
Model (and its blessing) trained on an earlier span.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import uuid
from typing import Callable, Dict, List, Optional, Tuple

from ml_metadata import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.dag.configs import BEHAVIOR_EVAL_SPANS, EVALUATION_RESOLVER_ID
from pipeline.mlmd import records as R

RESOLVER_TYPE = "tfx.dsl.components.common.resolver.Resolver"
INTEGER = "Integer"  # the value artifact of a @component's int return value
_ROOT = "/synthetic"
_SPLITS = '["train", "eval"]'


@dataclasses.dataclass(frozen=True)
class Input:
    producer: Optional[str]  # node id of the channel's producer; None for a resolver function's input
    output_key: str
    type_name: str
    min_count: int
    hidden: bool  # read by a resolver function only; not recorded


@dataclasses.dataclass(frozen=True)
class Node:
    id: str
    type_name: str
    inputs: Dict[str, Input]
    outputs: Dict[str, str]  # output key -> artifact type name
    parameters: Dict[str, object]
    conditional: bool  # inside a tfx.dsl.Cond: runs only when its condition input is blessed

    @property
    def is_resolver(self) -> bool:
        return self.type_name == RESOLVER_TYPE


@dataclasses.dataclass(frozen=True)
class Dag:
    pipeline_name: str
    nodes: Tuple[Node, ...]  # topological order, as compiled
    artifact_types: Dict[str, Dict[str, int]]  # name -> {property: MLMD property type}


def _graph_input_type(node_inputs, graph_id: str, key: str) -> str:
    """Artifact type behind output ``key`` of a resolver function / strategy graph (the type of the channel its
    input node reads)."""
    graph = node_inputs.input_graphs[graph_id].nodes
    inputs = [n.input_node.input_key for n in graph.values() if n.HasField("input_node")]
    for graph_node in graph.values():  # a strategy's {key: input node} argument
        if graph_node.HasField("dict_node") and key in graph_node.dict_node.node_ids:
            inputs = [graph[graph_node.dict_node.node_ids[key]].input_node.input_key]
    for input_key in inputs:
        channels = node_inputs.inputs[input_key].channels
        if channels:
            return channels[0].artifact_query.type.name
    return "?"


@functools.lru_cache(maxsize=64)
def pipeline_dag(span: int = 1, window: int = 1, epochs: int = 3, code_version: str = "",
                 min_auc: Optional[float] = None) -> Dag:
    """The DAG of ``create_pipeline`` built for these arguments (placeholder paths), read from its IR."""
    from tfx.dsl.compiler import compiler

    from pipeline.dag.pipeline import create_pipeline
    kwargs = {"min_auc": min_auc} if min_auc is not None else {}
    ir = compiler.Compiler().compile(create_pipeline(
        f"{_ROOT}/root", f"{_ROOT}/spans", f"{_ROOT}/schema.pbtxt", f"{_ROOT}/serving", span=span, window=window,
        hparams={"epochs": epochs}, code_version=code_version, **kwargs))
    nodes, types = [], {}
    for wrapper in ir.nodes:
        pn = wrapper.pipeline_node
        inputs = {}
        for key, spec in pn.inputs.inputs.items():
            if spec.HasField("input_graph_ref"):
                ref = spec.input_graph_ref
                inputs[key] = Input(None, ref.key or key, _graph_input_type(pn.inputs, ref.graph_id, ref.key or key),
                                    spec.min_count, False)
                continue
            channel = spec.channels[0]
            inputs[key] = Input(channel.producer_node_query.id or None, channel.output_key,
                                channel.artifact_query.type.name, spec.min_count, spec.hidden)
            types.setdefault(channel.artifact_query.type.name, dict(channel.artifact_query.type.properties))
        outputs = {}
        for key, spec in pn.outputs.outputs.items():
            outputs[key] = spec.artifact_spec.type.name
            types[spec.artifact_spec.type.name] = dict(spec.artifact_spec.type.properties)
        parameters = {}
        for key, value in pn.parameters.parameters.items():
            if value.HasField("field_value"):
                kind = value.field_value.WhichOneof("value")
                parameters[key] = getattr(value.field_value, kind)
        nodes.append(Node(pn.node_info.id, pn.node_info.type.name, inputs, outputs, parameters,
                          bool(pn.inputs.conditionals)))
    return Dag(ir.pipeline_info.id, tuple(nodes), types)


def _set(msg_map, key, v):
    if isinstance(v, bool):
        msg_map[key].int_value = int(v)
    elif isinstance(v, int):
        msg_map[key].int_value = v
    elif isinstance(v, float):
        msg_map[key].double_value = v
    elif isinstance(v, dict):
        msg_map[key].struct_value.update(v)
    else:
        msg_map[key].string_value = str(v)


@dataclasses.dataclass
class _Facts:
    """The made-up values of one run."""
    span: int
    window: int
    auc: float
    min_auc: float
    drift_ok: bool
    anomalies: bool
    infra_ok: bool
    behavior_ok: bool


class SyntheticPipeline:
    """Records runs of the pipeline's DAG; caches like TFX (same node + input artifacts + parameters).

    What it resolved before (statistics per span, blessed models) is remembered by this writer only.
    ``dag_of`` (default :func:`pipeline_dag`, which imports TFX) lets a process that must not spend seconds
    importing TFX use DAGs compiled elsewhere.
    """

    def __init__(self, store: mlmd.MetadataStore, pipeline_name: Optional[str] = None, root: str = _ROOT,
                 dag_of: Callable[..., Dag] = pipeline_dag):
        self.store = store
        self._dag_of = dag_of
        dag = dag_of()
        self.name = pipeline_name or dag.pipeline_name
        self.root = root
        self._types: Dict[str, int] = {}
        self._exec_types: Dict[str, int] = {}
        self._ctx_types = {n: store.put_context_type(pb.ContextType(name=n))
                           for n in (R.PIPELINE_CONTEXT, R.RUN_CONTEXT, R.NODE_CONTEXT, R.CACHE_CONTEXT)}
        self.pipeline_ctx = self._context(R.PIPELINE_CONTEXT, self.name)
        for node in dag.nodes:  # registered up front: concurrent writers race here, not in run()
            self._execution_type(node.type_name)
        for type_name in dag.artifact_types:
            self._artifact_type(dag, type_name)
        self._cache: Dict[str, Dict] = {}
        self._statistics: List[Tuple[int, int]] = []  # (span, statistics artifact id)
        self._examples: Dict[int, int] = {}  # span -> newest Examples artifact id
        self._blessed: List[Tuple[int, int, int]] = []  # (training span, model id, Evaluator's blessing id)
        self._pushed: List[Tuple[int, int, int]] = []  # (training span, model id, PushedModel id)
        self._n = 0

    # --- MLMD writing ------------------------------------------------------------------------
    def _context(self, type_name: str, name: str) -> int:
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing.id
        [cid] = self.store.put_contexts([pb.Context(type_id=self._ctx_types[type_name], name=name)])
        return cid

    def _artifact_type(self, dag: Dag, name: str) -> int:
        if name not in self._types:
            t = pb.ArtifactType(name=name)
            for k, v in dag.artifact_types.get(name, {}).items():
                t.properties[k] = v
            self._types[name] = self.store.put_artifact_type(t)
        return self._types[name]

    def _execution_type(self, name: str) -> int:
        if name not in self._exec_types:
            self._exec_types[name] = self.store.put_execution_type(pb.ExecutionType(name=name))
        return self._exec_types[name]

    def _record(self, e: pb.Execution, inputs: Dict[str, List[int]], outputs: Dict[str, List[int]],
                ctxs: List[int], output_type=pb.Event.OUTPUT) -> int:
        [eid] = self.store.put_executions([e])
        events = []
        for side, event_type in ((inputs, pb.Event.INPUT), (outputs, output_type)):
            for k, ids in side.items():
                for i, aid in enumerate(ids):
                    ev = pb.Event(artifact_id=aid, execution_id=eid, type=event_type)
                    ev.path.steps.add(key=k)
                    ev.path.steps.add(index=i)
                    events.append(ev)
        self.store.put_events(events)
        arts = {ev.artifact_id for ev in events}
        self.store.put_attributions_and_associations(
            [pb.Attribution(context_id=c, artifact_id=a) for c in ctxs for a in arts],
            [pb.Association(context_id=c, execution_id=eid) for c in ctxs])
        return eid

    # --- made-up values ----------------------------------------------------------------------
    def _verdict(self, node: Node, inputs: Dict[str, List[pb.Artifact]], facts: _Facts) -> Tuple[bool, bool]:
        """(this node's own check, by what it reads and writes; every blessing it was given)."""
        outs, ins = set(node.outputs.values()), {i.type_name for i in node.inputs.values()}
        if R.PUSHED_MODEL in outs:
            own = True
        elif R.ANOMALIES in outs:
            own = not facts.anomalies
        elif R.EVALUATION in outs:
            own = facts.auc >= facts.min_auc
        elif R.INFRA_BLESSING in outs:
            own = facts.infra_ok
        elif R.MODEL in ins:
            own = facts.behavior_ok
        else:
            own = facts.drift_ok
        given = [R.prop(a, "blessed") for k, arts in inputs.items() if not k.startswith("_") for a in arts]
        return own, all(bool(v) for v in given if v is not None)

    def _outputs(self, dag: Dag, node: Node, inputs: Dict[str, List[pb.Artifact]], facts: _Facts,
                 eid_hint: int) -> Dict[str, List[pb.Artifact]]:
        own, upstream = self._verdict(node, inputs, facts)
        verdict = own and upstream
        validates_model = R.MODEL in {i.type_name for i in node.inputs.values()}
        failed_checks = "" if own else "slice_regression_vs_baseline"
        model = next((a for a in inputs.get("model", [])), None)
        baseline = next((a for a in inputs.get("baseline_model", [])), None)
        out = {}
        for key, type_name in node.outputs.items():
            a = pb.Artifact(type_id=self._artifact_type(dag, type_name), state=pb.Artifact.LIVE,
                            uri=f"{self.root}/{node.id}/{key}/{eid_hint}")
            props: Dict[str, object] = {}
            custom: Dict[str, object] = {"tfx_version": "1.16.0", "is_external": 0}
            if type_name == R.EXAMPLES:
                props["split_names"] = _SPLITS
                custom.update(span=facts.span, file_format="tfrecords_gzip", payload_format="FORMAT_TF_EXAMPLE",
                              input_fingerprint=f"span-{facts.span}")
            elif type_name in (R.STATISTICS, R.ANOMALIES):
                props.update(span=0, split_names=_SPLITS)  # TFX 1.16 writes span 0 here
                if type_name == R.ANOMALIES:
                    custom["blessed"] = {"train": int(verdict), "eval": int(verdict)}
            elif type_name == INTEGER:
                custom["__is_null__"] = 0
            elif type_name == R.EVALUATION:
                custom.update(auc=facts.auc, example_count=1000)
            elif type_name == R.MODEL_BLESSING:  # the Evaluator's names the model like TFX, a validator's not
                if R.EVALUATION in node.outputs.values():
                    custom.update(blessed=int(verdict), current_model_id=model.id if model else 0)
                else:  # the behaviour validator's: its checks AND the Evaluator's blessing
                    custom.update(blessed=int(verdict), behavior_checks_passed=int(own), upstream_blessed=int(upstream),
                                  failed_checks=failed_checks, validated_model_id=model.id if model else 0)
                if baseline is not None:
                    custom["baseline_model_id"] = baseline.id
            elif type_name == R.INFRA_BLESSING:
                custom.update(blessed=int(verdict), has_model=1)
            elif type_name == R.PUSHED_MODEL:
                custom["pushed"] = int(verdict)
                if verdict:
                    version = str(1700000000 + self._n)
                    custom.update(pushed_version=version, pushed_destination=f"{self.root}/serving/{version}")
            elif "." in type_name and validates_model:  # the behaviour report ("<namespace>.<Name>")
                custom.update(behavior_checks_passed=int(own), failed_checks=failed_checks)
            elif "." in type_name:  # the drift report
                has_baseline = bool(inputs.get("baseline_statistics"))
                custom.update(blessed=int(verdict), has_baseline=int(has_baseline),
                              verdict=("PASS" if verdict else "BLOCKED") if has_baseline else "NO_BASELINE")
            for k, v in props.items():
                _set(a.properties, k, v)
            for k, v in custom.items():
                _set(a.custom_properties, k, v)
            out[key] = [a]
        return out

    def _resolve(self, inp: Input, facts: _Facts, served: bool = True, window: Optional[int] = None) -> List[int]:
        """A resolver function's / strategy's input, resolved like the pipeline's resolvers: the newest Examples
        of each span of the window (``window``, default the training window), the previous span's statistics,
        and the model of an earlier span that is served (``served``: latest push, with its PushedModel) or else
        the latest blessed (with its blessing)."""
        if inp.type_name == R.EXAMPLES:
            spans = range(facts.span - (window or facts.window) + 1, facts.span + 1)
            return [self._examples[s] for s in spans if s in self._examples]
        if inp.type_name == R.STATISTICS:
            earlier = [(s, a) for s, a in self._statistics if s < facts.span]
            return [max(earlier)[1]] if earlier else []
        earlier = [m for m in (self._pushed if served else self._blessed) if m[0] < facts.span]
        if not earlier:
            return []
        _, model, evidence = max(earlier, key=lambda m: m[2])
        return [model] if inp.type_name == R.MODEL else [evidence]

    # --- a run -------------------------------------------------------------------------------
    def run(self, span: int, run_id: Optional[str] = None, *, epochs: int = 3, code_version: str = "abc123",
            auc: float = 0.7, min_auc: float = 0.6, drift_ok: bool = True, anomalies: bool = False,
            infra_ok: bool = True, behavior_ok: bool = True, use_cache: bool = True, window: int = 1,
            fail_at: Optional[str] = None) -> Dict[str, object]:
        """Records one run over ``span``; returns its run id and, per node that ran, {output key: [ids]}, plus
        examples / model / baseline / blessed / pushed_model ids (and ``failed`` = the node made to fail)."""
        dag = self._dag_of(span=span, window=window, epochs=epochs, code_version=code_version, min_auc=min_auc)
        facts = _Facts(span, window, auc, min_auc, drift_ok, anomalies, infra_ok, behavior_ok)
        run_id = run_id or f"run-{span}-{self._n}"
        run_ctx = self._context(R.RUN_CONTEXT, run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=run_ctx, parent_id=self.pipeline_ctx)])
        produced: Dict[str, Dict[str, List[int]]] = {}
        out: Dict[str, object] = {"run_id": run_id}
        for node in dag.nodes:
            inputs: Dict[str, List[int]] = {}
            skip = False
            for key, inp in node.inputs.items():
                if inp.hidden:
                    continue
                ids = (self._resolve(inp, facts) if inp.producer is None
                       else produced.get(inp.producer, {}).get(inp.output_key, []))
                if len(ids) < inp.min_count:
                    skip = True
                if ids:
                    inputs[key] = ids
            arts = {a.id: a for a in self.store.get_artifacts_by_id(sorted({i for v in inputs.values() for i in v}))}
            by_key = {k: [arts[i] for i in v] for k, v in inputs.items()}
            if node.conditional and not all(R.prop(a, "blessed") == 1 for k, v in by_key.items()
                                            if k.startswith("_") for a in v):
                skip = True
            if skip:  # TFX records nothing for a skipped node
                continue
            produced[node.id] = self._execute(dag, node, run_ctx, inputs, by_key, facts, use_cache,
                                              failed=fail_at == node.id)
            for key, ids in produced[node.id].items():  # this run's span is part of the span windows
                if not node.is_resolver and node.outputs.get(key) == R.EXAMPLES:
                    self._examples[facts.span] = ids[0]
            if fail_at == node.id:
                out["failed"] = node.id
                break
            out[node.id] = produced[node.id]
        self._remember(dag, produced, facts, out)
        return out

    def _execute(self, dag: Dag, node: Node, run_ctx: int, inputs: Dict[str, List[int]],
                 by_key: Dict[str, List[pb.Artifact]], facts: _Facts, use_cache: bool,
                 failed: bool) -> Dict[str, List[int]]:
        self._n += 1
        e = pb.Execution(type_id=self._execution_type(node.type_name), name=str(uuid.uuid4()))
        ctxs = [self.pipeline_ctx, run_ctx, self._context(R.NODE_CONTEXT, f"{self.name}.{node.id}")]
        if node.is_resolver:
            e.last_known_state = pb.Execution.COMPLETE
            served = any(inp.type_name == R.PUSHED_MODEL for inp in node.inputs.values())
            window = BEHAVIOR_EVAL_SPANS if node.id == EVALUATION_RESOLVER_ID else None
            resolved = {k: self._resolve(inp, facts, served, window) for k, inp in node.inputs.items()
                        if not inp.hidden}
            resolved = {k: v for k, v in resolved.items() if v}
            self._record(e, {}, resolved, ctxs, output_type=pb.Event.INTERNAL_OUTPUT)
            return resolved
        for k, v in node.parameters.items():
            _set(e.custom_properties, k, v)
        key = json.dumps([node.id, inputs, node.parameters], sort_keys=True, default=str)
        cached = self._cache.get(key) if use_cache and not failed else None
        if cached is not None:
            e.last_known_state = pb.Execution.CACHED
            self._record(e, inputs, cached["outputs"], ctxs + [cached["cache_ctx"]])
            return cached["outputs"]
        if failed:
            e.last_known_state = pb.Execution.FAILED
            self._record(e, inputs, {}, ctxs)
            return {}
        e.last_known_state = pb.Execution.COMPLETE
        outputs = {k: list(self.store.put_artifacts(arts))
                   for k, arts in self._outputs(dag, node, by_key, facts, self._n).items()}
        cache_ctx = self._context(R.CACHE_CONTEXT, f"cache-{self.name}-{self._n}")
        self._record(e, inputs, outputs, ctxs + [cache_ctx])
        self._cache[key] = {"outputs": outputs, "cache_ctx": cache_ctx}
        return outputs

    def _remember(self, dag: Dag, produced: Dict[str, Dict[str, List[int]]], facts: _Facts,
                  out: Dict[str, object]) -> None:
        """What later runs resolve (examples and statistics per span, blessed models) and the run's summary ids."""
        by_type: Dict[str, List[Tuple[Node, str, int]]] = {}
        for node in dag.nodes:
            if node.is_resolver:
                continue
            for key, ids in produced.get(node.id, {}).items():
                for i in ids:
                    by_type.setdefault(node.outputs[key], []).append((node, key, i))
        for _, _, i in by_type.get(R.EXAMPLES, []):
            self._examples[facts.span] = i
            out["examples"] = [i]
        for _, _, i in by_type.get(R.STATISTICS, []):
            self._statistics.append((facts.span, i))
        models = [i for _, _, i in by_type.get(R.MODEL, [])]
        if not models:
            return
        pushed = [i for _, _, i in by_type.get(R.PUSHED_MODEL, [])]
        blessings = [i for node, _, i in by_type.get(R.MODEL_BLESSING, [])
                     if R.EVALUATION in node.outputs.values()]
        resolver_outputs = [i for node in dag.nodes if node.is_resolver
                            for key, inp in node.inputs.items() if inp.type_name == R.MODEL
                            for i in produced.get(node.id, {}).get(key, [])]
        blessed = bool(blessings) and R.prop(self.store.get_artifacts_by_id(blessings[:1])[0], "blessed") == 1
        out.update(model=models[0], baseline=resolver_outputs[0] if resolver_outputs else None, blessed=blessed,
                   pushed_model=pushed[0] if pushed else None)
        if blessed:
            self._blessed.append((facts.span, models[0], blessings[0]))
        if pushed and R.prop(self.store.get_artifacts_by_id(pushed)[0], "pushed") == 1:
            self._pushed.append((facts.span, models[0], pushed[0]))
