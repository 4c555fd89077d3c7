"""Span windows: one (the newest) Examples artifact per span; all spans required for training, the
ingested ones for evaluation. The model being served."""
import pytest
from tfx.types import standard_artifacts

from pipeline.dag.resolvers import SpanWindowStrategy


def examples(artifact_id, span):
    artifact = standard_artifacts.Examples()
    artifact.id = artifact_id
    artifact.set_int_custom_property("span", span)
    return artifact


def test_window_keeps_the_newest_artifact_of_each_span_in_range():
    artifacts = [examples(1, 1), examples(2, 2), examples(3, 3), examples(4, 2), examples(5, 4)]
    resolved = SpanWindowStrategy(last_span=3, num_spans=2).resolve_artifacts(None, {"examples": artifacts})
    assert [(a.id, a.get_int_custom_property("span")) for a in resolved["examples"]] == [(4, 2), (3, 3)]


def test_window_with_a_span_never_ingested_fails_naming_it():
    artifacts = [examples(1, 1), examples(3, 3)]
    with pytest.raises(RuntimeError, match=r"needs span\(s\) \[2\]"):
        SpanWindowStrategy(last_span=3, num_spans=3).resolve_artifacts(None, {"examples": artifacts})


def test_evaluation_window_gives_the_spans_that_were_ingested():
    """The behaviour validator's pooled eval splits: the last 3 spans, fewer at the start of a replay
    or when a span was never run (nothing to fail on: the gate judges on what there is)."""
    artifacts = [examples(1, 1), examples(3, 3), examples(4, 1)]
    resolve = lambda last: [(a.id, a.get_int_custom_property("span")) for a in SpanWindowStrategy(  # noqa: E731
        last_span=last, num_spans=3, every_span=False).resolve_artifacts(None, {"examples": artifacts})["examples"]]
    assert resolve(3) == [(4, 1), (3, 3)]
    assert resolve(1) == [(4, 1)]


# ---- the model being served ----------------------------------------------------------------------
def _history(tmp_path, spans=(1, 2, 3)):
    """A real MLMD store as TFX leaves it after one push per span: Examples(span) -> Trainer -> Model ->
    BehaviorValidator -> ModelBlessing -> Pusher -> PushedModel(pushed, version). Returns (store, {span: ids})."""
    from ml_metadata.proto import metadata_store_pb2 as pb
    from data import mlmd_store
    store = mlmd_store.open_store(mlmd_store.prepare_store(str(tmp_path / "m.sqlite")))
    types = {name: store.put_artifact_type(pb.ArtifactType(name=name))
             for name in ("Examples", "Model", "ModelBlessing", "PushedModel")}
    execution_type = store.put_execution_type(pb.ExecutionType(name="step"))

    def artifact(kind, **props):
        a = pb.Artifact(type_id=types[kind], uri=f"/{kind}/{props}", state=pb.Artifact.LIVE)
        for key, value in props.items():
            if isinstance(value, int):
                a.custom_properties[key].int_value = value
            else:
                a.custom_properties[key].string_value = value
        return store.put_artifacts([a])[0]

    def step(inputs, outputs):
        execution_id = store.put_executions([pb.Execution(type_id=execution_type,
                                                          last_known_state=pb.Execution.COMPLETE)])[0]
        events = []
        for kind, ids in ((pb.Event.INPUT, inputs), (pb.Event.OUTPUT, outputs)):
            for key, artifact_id in ids.items():
                event = pb.Event(type=kind, artifact_id=artifact_id, execution_id=execution_id)
                event.path.steps.add().key = key
                events.append(event)
        store.put_events(events)

    ids = {}
    for span in spans:
        examples_id = artifact("Examples", span=span)
        model_id = artifact("Model")
        step({"examples": examples_id}, {"model": model_id})
        blessing_id = artifact("ModelBlessing", blessed=1)
        step({"model": model_id}, {"blessing": blessing_id})
        pushed_id = artifact("PushedModel", pushed=1, pushed_version=str(1000 + span))
        step({"model_blessing": blessing_id}, {"pushed_model": pushed_id})
        ids[span] = {"model": model_id, "pushed": pushed_id, "version": 1000 + span}
    return store, ids


def test_serving_model_is_the_latest_push_of_an_earlier_span(tmp_path):
    from pipeline.dag.resolvers import pushed_models, serving_pushes
    store, ids = _history(tmp_path)
    assert [p["model_id"] for p in pushed_models(store)] == [ids[s]["model"] for s in (1, 2, 3)]
    assert serving_pushes(store)[0]["model_id"] == ids[3]["model"]
    assert serving_pushes(store, before_span=3)[0]["model_id"] == ids[2]["model"]  # a re-run of span 3
    assert serving_pushes(store, before_span=1) == []


def test_serving_model_follows_the_registry_after_a_rollback(tmp_path):
    from data.contract import MODEL_NAME
    from pipeline.dag.resolvers import serving_pushes
    from serving.delivery import registry
    store, ids = _history(tmp_path)
    registry.record(store, MODEL_NAME, {ids[1]["version"]: "stable", ids[3]["version"]: "archived"},
                    change="rollback", reason="test: v3 misbehaved")
    assert serving_pushes(store)[0]["model_id"] == ids[1]["model"]
    assert serving_pushes(store, before_span=4)[0]["model_id"] == ids[1]["model"]
    # the stable version is not eligible for span 1 itself: nothing earlier was pushed
    assert serving_pushes(store, before_span=1) == []
