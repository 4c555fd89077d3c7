"""Writes TFX-shaped pipeline runs into an MLMD store through the normal MLMD API.

Shape follows what TFX 1.16's LocalDagRunner records (checked against a real run): contexts
``pipeline`` (parent of each ``pipeline_run``), ``pipeline_run``, ``node`` (``<pipeline>.<node>``)
and ``execution_cache``; executions typed by component class path with exec properties as custom
properties; a cache hit is a CACHED execution re-linking the earlier outputs. Used by tests and
the benchmark; no TFX import needed.
"""
from __future__ import annotations

import json
import uuid
from typing import Dict, List, Optional, Sequence

from ml_metadata import metadata_store as mlmd
from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.lineage import records as R

_INT, _STR, _DOUBLE = pb.INT, pb.STRING, pb.DOUBLE

NODE_TYPES = {
    "CsvExampleGen": "tfx.components.example_gen.csv_example_gen.component.CsvExampleGen",
    "StatisticsGen": "tfx.components.statistics_gen.component.StatisticsGen",
    "ImportSchemaGen": "tfx.components.schema_gen.import_schema_gen.component.ImportSchemaGen",
    "ExampleValidator": "tfx.components.example_validator.component.ExampleValidator",
    "DriftValidator": "components.drift_validator.component.DriftValidator",
    "Trainer": "tfx.components.trainer.component.Trainer",
    "Evaluator": "tfx.components.evaluator.component.Evaluator",
    "Pusher": "tfx.components.pusher.component.Pusher",
}
ARTIFACT_TYPES = {
    R.EXAMPLES: {"span": _INT, "version": _INT, "split_names": _STR},
    R.STATISTICS: {"span": _INT, "split_names": _STR},
    R.SCHEMA: {},
    R.ANOMALIES: {"span": _INT, "split_names": _STR},
    "DriftReport": {},
    R.MODEL: {},
    R.EVALUATION: {},
    R.MODEL_BLESSING: {},
    R.PUSHED_MODEL: {},
}


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


class SyntheticPipeline:
    """Records runs of a flight-delay-like pipeline; caches like TFX (same node + inputs + params)."""

    def __init__(self, store: mlmd.MetadataStore, pipeline_name: str = "flight_delay",
                 root: str = "/synthetic/root"):
        self.store = store
        self.name = pipeline_name
        self.root = root
        self._types = {}
        self._ctx_types = {n: store.put_context_type(pb.ContextType(name=n))
                           for n in (R.PIPELINE_CONTEXT, R.RUN_CONTEXT, R.NODE_CONTEXT, R.CACHE_CONTEXT)}
        for name, ptypes in ARTIFACT_TYPES.items():
            t = pb.ArtifactType(name=name)
            for k, v in ptypes.items():
                t.properties[k] = v
            self._types[name] = store.put_artifact_type(t)
        self._exec_types = {n: store.put_execution_type(pb.ExecutionType(name=t)) for n, t in NODE_TYPES.items()}
        self.pipeline_ctx = self._context(R.PIPELINE_CONTEXT, pipeline_name)
        self._node_ctx = {n: self._context(R.NODE_CONTEXT, f"{pipeline_name}.{n}") for n in NODE_TYPES}
        self._cache: Dict[str, Dict] = {}
        self._blessed_models: List[int] = [
            R.prop(b, "current_model_id") for b in store.get_artifacts_by_type(R.MODEL_BLESSING)
            if R.prop(b, "blessed") == 1]
        self._n = 0

    def _context(self, type_name: str, name: str) -> int:
        existing = self.store.get_context_by_type_and_name(type_name, name)
        if existing is not None:
            return existing.id
        [cid] = self.store.put_contexts([pb.Context(type_id=self._ctx_types[type_name], name=name)])
        return cid

    def _artifact(self, type_name: str, node: str, key: str, props: Dict, custom: Dict) -> pb.Artifact:
        self._n += 1
        a = pb.Artifact(type_id=self._types[type_name], state=pb.Artifact.LIVE,
                        uri=f"{self.root}/{node}/{key}/{self._n}")
        for k, v in props.items():
            _set(a.properties, k, v)
        for k, v in {"tfx_version": "1.16.0", "is_external": 0, **custom}.items():
            _set(a.custom_properties, k, v)
        return a

    def _execute(self, run_ctx: int, node: str, inputs: Dict[str, List[int]],
                 params: Dict, outputs_fn, use_cache: bool, state=None) -> Dict[str, List[int]]:
        """One node: CACHED execution re-linking earlier outputs, or a new COMPLETE one."""
        key = json.dumps([node, inputs, params], sort_keys=True, default=str)
        cached = self._cache.get(key) if use_cache and state is None else None
        e = pb.Execution(type_id=self._exec_types[node], name=str(uuid.uuid4()))
        for k, v in params.items():
            _set(e.custom_properties, k, v if not isinstance(v, dict) else json.dumps(v, sort_keys=True))
        ctxs = [self.pipeline_ctx, run_ctx, self._node_ctx[node]]
        events = []
        for k, ids in inputs.items():
            for i, aid in enumerate(ids):
                ev = pb.Event(artifact_id=aid, type=pb.Event.INPUT)
                ev.path.steps.add(key=k)
                ev.path.steps.add(index=i)
                events.append(ev)
        if cached is not None:
            e.last_known_state = pb.Execution.CACHED
            self._record(e, events, cached["outputs"], ctxs + [cached["cache_ctx"]])
            return cached["outputs"]
        e.last_known_state = state if state is not None else pb.Execution.COMPLETE
        outs = outputs_fn() if e.last_known_state == pb.Execution.COMPLETE else {}
        result: Dict[str, List[int]] = {}
        for k, arts in outs.items():
            result[k] = list(self.store.put_artifacts(arts))
        cache_ctx = self._context(R.CACHE_CONTEXT, f"cache-{self.name}-{self._n}-{len(self._cache)}")
        self._record(e, events, result, ctxs + [cache_ctx])
        if e.last_known_state == pb.Execution.COMPLETE:
            self._cache[key] = {"outputs": result, "cache_ctx": cache_ctx}
        return result

    def _record(self, e: pb.Execution, input_events: List[pb.Event], outputs: Dict[str, List[int]],
                ctxs: Sequence[int]) -> int:
        [eid] = self.store.put_executions([e])
        events = []
        for ev in input_events:
            ev.execution_id = eid
            events.append(ev)
        for k, ids in outputs.items():
            for i, aid in enumerate(ids):
                ev = pb.Event(artifact_id=aid, execution_id=eid, type=pb.Event.OUTPUT)
                ev.path.steps.add(key=k)
                ev.path.steps.add(index=i)
                events.append(ev)
        self.store.put_events(events)
        arts = {ev.artifact_id for ev in events}
        self.store.put_attributions_and_associations(
            [pb.Attribution(context_id=c, artifact_id=a) for c in ctxs for a in arts],
            [pb.Association(context_id=c, execution_id=eid) for c in ctxs])
        return eid

    def run(self, span: int, run_id: Optional[str] = None, *, epochs: int = 3,
            code_version: str = "abc123", auc: float = 0.7, min_auc: float = 0.6,
            drift_ok: bool = True, anomalies: bool = False, use_cache: bool = True,
            schema_file: str = "data/schema/schema.pbtxt", fail_at: Optional[str] = None,
            extra_spans: Sequence[int] = ()) -> Dict[str, object]:
        """Records one run over ``span``; returns ids of what it made (or re-used) per node."""
        run_id = run_id or f"run-{span}-{self._n}"
        run_ctx = self._context(R.RUN_CONTEXT, run_id)
        self.store.put_parent_contexts([pb.ParentContext(child_id=run_ctx, parent_id=self.pipeline_ctx)])
        out: Dict[str, object] = {"run_id": run_id}

        def step(node, inputs, params, outputs_fn):
            if "failed" in out:
                return None
            state = pb.Execution.FAILED if fail_at == node else None
            r = self._execute(run_ctx, node, inputs, params, outputs_fn, use_cache, state)
            if state is not None:
                out["failed"] = node
                return None
            out[node] = r
            return r

        examples_ids = []
        for s in (span, *extra_spans):
            eg = step("CsvExampleGen", {}, {"input_base": "/data/spans", "span": s,
                                            "input_config": {"splits": [{"name": "train", "pattern": f"span-{s}/*"}]}},
                      lambda s=s: {"examples": [self._artifact(
                          R.EXAMPLES, "CsvExampleGen", "examples", {"split_names": '["train", "eval"]', "version": 0},
                          {"span": s, "file_format": "tfrecords_gzip", "input_fingerprint": f"span-{s}"})]})
            if eg is None:
                return out
            examples_ids += eg["examples"]
        out["examples"] = examples_ids
        sg = step("StatisticsGen", {"examples": examples_ids}, {"exclude_splits": "[]"},
                  lambda: {"statistics": [self._artifact(R.STATISTICS, "StatisticsGen", "statistics",
                                                         {"span": 0, "split_names": '["train", "eval"]'}, {})]})
        sc = step("ImportSchemaGen", {}, {"schema_file": schema_file},
                  lambda: {"schema": [self._artifact(R.SCHEMA, "ImportSchemaGen", "schema", {}, {})]})
        if sg is None or sc is None:
            return out
        verdict = {"train": 0 if anomalies else 1, "eval": 0 if anomalies else 1}
        step("ExampleValidator", {"statistics": sg["statistics"], "schema": sc["schema"]}, {"exclude_splits": "[]"},
             lambda: {"anomalies": [self._artifact(R.ANOMALIES, "ExampleValidator", "anomalies",
                                                   {"span": 0, "split_names": '["train", "eval"]'},
                                                   {"blessed": verdict})]})
        step("DriftValidator", {"statistics": sg["statistics"]}, {"max_drift": 0.1},
             lambda: {"report": [self._artifact("DriftReport", "DriftValidator", "report", {},
                                                {"blessed": int(drift_ok)})]})
        tr = step("Trainer", {"examples": examples_ids, "schema": sc["schema"]},
                  {"module_file": "/src/pipeline/trainer.py",
                   "custom_config": {"hparams": {"epochs": epochs}, "code_version": code_version},
                   "train_args": '{"num_steps": 100}'},
                  lambda: {"model": [self._artifact(R.MODEL, "Trainer", "model", {}, {})]})
        if tr is None:
            return out
        model = tr["model"][0]
        baseline = self._latest_blessed_model(exclude=model)
        inputs = {"examples": examples_ids, "model": [model]}
        if baseline is not None:
            inputs["baseline_model"] = [baseline]
        blessed = auc >= min_auc
        ev = step("Evaluator", inputs, {"eval_config": {"min_auc": min_auc}},
                  lambda: {"evaluation": [self._artifact(R.EVALUATION, "Evaluator", "evaluation", {},
                                                         {"auc": auc, "example_count": 1000})],
                           "blessing": [self._artifact(R.MODEL_BLESSING, "Evaluator", "blessing", {},
                                                       {"blessed": int(blessed), "current_model_id": model})]})
        if ev is None:
            return out
        version = f"{1700000000 + self._n}"
        pu = step("Pusher", {"model": [model], "model_blessing": ev["blessing"]},
                  {"push_destination": {"filesystem": {"base_directory": "/serving/flight_delay"}}},
                  lambda: {"pushed_model": [self._artifact(
                      R.PUSHED_MODEL, "Pusher", "pushed_model", {},
                      {"pushed": int(blessed), **({"pushed_version": version,
                                                   "pushed_destination": f"/serving/flight_delay/{version}"}
                                                  if blessed else {})})]})
        if blessed:
            self._blessed_models.append(model)
        out.update({"model": model, "baseline": baseline, "blessed": blessed,
                    "pushed_model": pu["pushed_model"][0] if pu else None})
        return out

    def _latest_blessed_model(self, exclude: int) -> Optional[int]:
        """Like TFX's latest-blessed-model resolver (remembers this writer's blessings)."""
        ids = [m for m in self._blessed_models if m != exclude]
        return max(ids) if ids else None
