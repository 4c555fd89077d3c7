"""Reference collector that walks events hop by hop with the basic MLMD getters.

Same result as :func:`pipeline.lineage.query.collect_api` (the tests check that); kept as the
baseline for ``python -m pipeline.tools.lineage_bench`` and as a cross-check of the lineage API.
"""
from __future__ import annotations

from typing import Sequence

from ml_metadata.proto import metadata_store_pb2 as pb

from pipeline.mlmd import records as R

_OUT = (pb.Event.OUTPUT, pb.Event.DECLARED_OUTPUT, pb.Event.INTERNAL_OUTPUT, pb.Event.PENDING_OUTPUT)


def collect_naive(store, artifact_ids: Sequence[int], direction: str, max_hops: int = 100) -> R.Graph:
    """Breadth-first walk over events, skipping CACHED executions, one query batch per hop."""
    up = direction == "up"
    artifacts = {a.id: a for a in store.get_artifacts_by_id(list(artifact_ids))}
    executions = {}
    events = []
    frontier = set(artifacts)
    hops = 0
    while frontier and hops < max_hops:
        hops += 2  # artifact -> execution -> artifact
        a_events = store.get_events_by_artifact_ids(sorted(frontier))
        # upstream: who produced these artifacts; downstream: who consumed them
        wanted = [ev for ev in a_events if (ev.type in _OUT) == up]
        new_exec_ids = sorted({ev.execution_id for ev in wanted} - set(executions))
        new_execs = [e for e in store.get_executions_by_id(new_exec_ids)
                     if e.last_known_state != pb.Execution.CACHED]
        for e in new_execs:
            executions[e.id] = e
        events += [ev for ev in wanted if ev.execution_id in executions]
        if not new_execs:
            break
        e_events = store.get_events_by_execution_ids([e.id for e in new_execs])
        nxt = [ev for ev in e_events if (ev.type in _OUT) != up]
        events += nxt
        next_ids = sorted({ev.artifact_id for ev in nxt} - set(artifacts))
        for a in store.get_artifacts_by_id(next_ids):
            artifacts[a.id] = a
        frontier = set(next_ids)
    contexts, associations = {}, []
    for eid in executions:
        for c in store.get_contexts_by_execution(eid):
            contexts[c.id] = c
            associations.append(pb.Association(execution_id=eid, context_id=c.id))
    return R.Graph(
        artifacts.values(), executions.values(), events, contexts.values(), associations,
        store.get_artifact_types_by_id(sorted({a.type_id for a in artifacts.values()})),
        store.get_execution_types_by_id(sorted({e.type_id for e in executions.values()})),
        store.get_context_types_by_id(sorted({c.type_id for c in contexts.values()})))
