"""The synthetic runs record the real DAG: node ids, execution types, input/output keys and artifact types equal
those of create_pipeline compiled by TFX."""
import pytest
from ml_metadata.proto import metadata_store_pb2 as pb
from tfx.dsl.compiler import compiler

from data import mlmd_store
from pipeline.mlmd import records as R
from pipeline.tools.synthetic_lineage import SyntheticPipeline
from pipeline.dag.pipeline import create_pipeline


def compiled(span, window=1):
    """{node id: (type name, {recorded input keys}, {output key: artifact type})} of the real pipeline."""
    ir = compiler.Compiler().compile(create_pipeline("/r", "/d", "/s.pbtxt", "/serving", span=span, window=window))
    nodes = {}
    for n in ir.nodes:
        pn = n.pipeline_node
        inputs = {k for k, spec in pn.inputs.inputs.items() if not spec.hidden}
        outputs = {k: spec.artifact_spec.type.name for k, spec in pn.outputs.outputs.items()}
        nodes[pn.node_info.id] = (pn.node_info.type.name, inputs, outputs)
    return ir.pipeline_info.id, nodes


def recorded(store, run_id):
    """The same, as the synthetic writer recorded one run in MLMD."""
    ctx = store.get_context_by_type_and_name(R.RUN_CONTEXT, run_id)
    types = {t.id: t.name for t in store.get_artifact_types()}
    exec_types = {t.id: t.name for t in store.get_execution_types()}
    nodes = {}
    for e in store.get_executions_by_context(ctx.id):
        node = next(c.name for c in store.get_contexts_by_execution(e.id)
                    if c.type_id == store.get_context_type(R.NODE_CONTEXT).id)
        inputs, outputs = set(), {}
        for ev in store.get_events_by_execution_ids([e.id]):
            if ev.type == pb.Event.INPUT:
                inputs.add(R.event_key(ev))
            elif ev.type == pb.Event.OUTPUT:
                [artifact] = store.get_artifacts_by_id([ev.artifact_id])
                outputs[R.event_key(ev)] = types[artifact.type_id]
            elif ev.type == pb.Event.INTERNAL_OUTPUT:  # a resolver's picks: keys of its inputs
                inputs.add(R.event_key(ev))
        nodes[node] = (exec_types[e.type_id], inputs, outputs)
    return nodes


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return mlmd_store.open_store(str(tmp_path_factory.mktemp("synthetic") / "metadata.sqlite"))


def test_every_node_key_and_type_is_create_pipelines(store):
    p = SyntheticPipeline(store)
    p.run(1, "first")
    p.run(2, "second")  # a baseline to resolve: every input key is recorded
    name, expected = compiled(span=2)
    assert p.name == name
    got = recorded(store, "second")
    assert set(got) == {f"{name}.{node}" for node in expected}
    for node, (type_name, inputs, outputs) in expected.items():
        got_type, got_inputs, got_outputs = got[f"{name}.{node}"]
        assert got_type == type_name, node
        assert got_outputs == outputs, node
        assert got_inputs == inputs, node  # (a resolver's picks are recorded under its input keys)


def test_window_adds_the_window_resolver_and_trains_on_each_span(store):
    p = SyntheticPipeline(store, pipeline_name="windowed")
    first, second = p.run(1, "w1"), p.run(2, "w2")
    windowed = p.run(2, "w3", window=2, epochs=9)
    _, expected = compiled(span=2, window=2)
    assert set(recorded(store, "w3")) == {f"windowed.{node}" for node in expected}
    trained_on = store.get_events_by_execution_ids(
        [ev.execution_id for ev in store.get_events_by_artifact_ids([windowed["model"]]) if ev.type == pb.Event.OUTPUT])
    examples = sorted(ev.artifact_id for ev in trained_on
                      if ev.type == pb.Event.INPUT and R.event_key(ev) == "examples")
    assert examples == first["examples"] + second["examples"]


def test_drift_cond_skips_training_and_records_nothing_for_it(store):
    p = SyntheticPipeline(store, pipeline_name="blocked")
    p.run(1, "b1")
    blocked = p.run(2, "b2", drift_ok=False)
    nodes = {n.split(".", 1)[1] for n in recorded(store, "b2")}
    assert "DriftValidator" in nodes and "Trainer" not in nodes and "Pusher" not in nodes
    assert "model" not in blocked
