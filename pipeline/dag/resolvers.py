"""Resolver strategies of the pipeline.

Training window: the latest Examples artifact of each span in [span - window + 1, span]. Evaluation
window (the behaviour validator's pooled eval splits): the same, for the spans that were ingested.

Baseline (Evaluator, behaviour validator, Trainer warm start): the model being SERVED, i.e. the Model of
the latest successful push, among models trained on EARLIER spans only.

"No worse than the baseline" must mean "no worse than what is serving": the latest blessed model may
never have been pushed (InfraValidator or the behaviour checks stopped it). The earlier-span filter
keeps a re-run of the same span fully cached: otherwise its baseline would be the candidate the first
run pushed, the Evaluator's inputs would change and Pusher would push the same model again.
"""
from typing import Dict, List, Optional, Set

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.types import standard_artifacts

from components.drift_validator.spans import artifact_span
from data import contract
from serving.delivery import registry


class SpanWindowStrategy(resolver.ResolverStrategy):
    """The newest Examples artifact of every span in [last_span - num_spans + 1, last_span].

    Unlike TFX's SpanRangeStrategy it keeps one artifact per span (re-ingesting a span must not
    duplicate its rows in training). With `every_span` (training) it fails, naming the spans, unless
    every span of the window was ingested; without (evaluation), it gives the spans there are.
    """

    def __init__(self, last_span: int, num_spans: int, every_span: bool = True):
        self._spans = range(int(last_span) - int(num_spans) + 1, int(last_span) + 1)
        self._every_span = bool(every_span)

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        result = {}
        for key, artifacts in input_dict.items():
            newest = {}
            for artifact in artifacts:
                span = artifact_span(artifact)
                if span in self._spans and (span not in newest or artifact.id > newest[span].id):
                    newest[span] = artifact
            missing = [s for s in self._spans if s not in newest]
            if missing and self._every_span:  # do not silently train on less than the window asked for
                raise RuntimeError(
                    f"training window {self._spans.start}..{self._spans.stop - 1} needs span(s) {missing}, "
                    f"which no earlier run ingested: run `python -m pipeline run --span N` for each first")
            result[key] = [newest[s] for s in sorted(newest)]
        return result


def ingested_spans(store: mlmd.MetadataStore, pipeline_name: str, example_gen_id: str) -> Set[int]:
    """Spans of the LIVE Examples the pipeline's ExampleGen node wrote into the store."""
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{example_gen_id}")
    if context is None:
        return set()
    spans = (artifact_span(a) for a in store.get_artifacts_by_context(context.id)
             if a.state == metadata_store_pb2.Artifact.LIVE)
    return {span for span in spans if span is not None}


def training_spans(store: mlmd.MetadataStore, model_id: int) -> List[int]:
    """Spans of the Examples the model's producing (Trainer) execution read."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
                 if e.type == metadata_store_pb2.Event.OUTPUT]
    if not producers:
        return []
    input_ids = [e.artifact_id for e in store.get_events_by_execution_ids(producers[:1])
                 if e.type == metadata_store_pb2.Event.INPUT]
    spans = (artifact_span(artifact) for artifact in store.get_artifacts_by_id(input_ids))
    return [span for span in spans if span is not None]


def _event_key(event: metadata_store_pb2.Event) -> str:
    return event.path.steps[0].key if event.path.steps else ""


def pushed_models(store: mlmd.MetadataStore) -> List[Dict]:
    """Every successful push, oldest first: {"pushed_model": PushedModel proto, "model_id": the Model it
    serves}. The Model is the one the Pusher's blessings were given for: a blessing's
    `current_model_id` (Evaluator) or the `model` input of the execution that wrote the blessing."""
    pushed_type = standard_artifacts.PushedModel.TYPE_NAME
    pushes = [a for a in store.get_artifacts_by_type(pushed_type) if registry.is_pushed(a)]
    if not pushes:
        return []
    producer = {e.artifact_id: e.execution_id for e in store.get_events_by_artifact_ids([a.id for a in pushes])
                if e.type == metadata_store_pb2.Event.OUTPUT}
    blessings_of: Dict[int, List[int]] = {}
    for e in store.get_events_by_execution_ids(sorted(set(producer.values()))):
        if e.type == metadata_store_pb2.Event.INPUT:
            blessings_of.setdefault(e.execution_id, []).append(e.artifact_id)
    model_of_blessing = {}
    blessing_ids = sorted({i for ids in blessings_of.values() for i in ids})
    for artifact in store.get_artifacts_by_id(blessing_ids):
        if "current_model_id" in artifact.custom_properties:
            model_of_blessing[artifact.id] = artifact.custom_properties["current_model_id"].int_value
    writer = {e.artifact_id: e.execution_id for e in store.get_events_by_artifact_ids(blessing_ids)
              if e.type == metadata_store_pb2.Event.OUTPUT and e.artifact_id not in model_of_blessing}
    model_input = {e.execution_id: e.artifact_id for e in store.get_events_by_execution_ids(sorted(set(writer.values())))
                   if e.type == metadata_store_pb2.Event.INPUT and _event_key(e) == "model"}
    for blessing_id, execution_id in writer.items():
        if execution_id in model_input:
            model_of_blessing[blessing_id] = model_input[execution_id]
    result = []
    for push in sorted(pushes, key=lambda a: (a.create_time_since_epoch, a.id)):
        models = {model_of_blessing[b] for b in blessings_of.get(producer.get(push.id), []) if b in model_of_blessing}
        if len(models) == 1:
            result.append({"pushed_model": push, "model_id": models.pop()})
    return result


def _version(push: Dict) -> Optional[int]:
    return registry.pushed_version(push["pushed_model"])


def serving_pushes(store: mlmd.MetadataStore, before_span: Optional[int] = None) -> List[Dict]:
    """Pushes in the order they count as "the model being served", most likely first: the registry's
    stable version when a deployment change was recorded (serving/delivery/registry.py: a rollback or a promotion
    decides), then the latest pushes. With `before_span`, only models trained on spans < before_span."""
    pushes = list(reversed(pushed_models(store)))
    try:
        state = registry.served(store, contract.MODEL_NAME)
    except registry.RegistryError:
        state = {"source": None}
    if state["source"] == "registry" and state.get("stable") is not None:
        pushes.sort(key=lambda p: _version(p) != state["stable"])  # stable first, then newest first
    if before_span is not None:
        pushes = [p for p in pushes
                  if (spans := training_spans(store, p["model_id"])) and max(spans) < before_span]
    return pushes


class LatestPushedModelFromEarlierSpanStrategy(resolver.ResolverStrategy):
    """The model being served (`serving_pushes`): the registry's stable version, else the latest successful
    push, among models trained on spans < `before_span` (so a re-run of a span compares with what served
    before it, and stays cached).

    Input keys: `model` (Model channel) and `pushed_model` (PushedModel channel); resolves both to the
    one Model and its PushedModel, or to empty lists when nothing was pushed yet.
    """

    def __init__(self, before_span: Optional[int]):
        self._before_span = None if before_span is None else int(before_span)

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        models = {m.id: m for m in input_dict.get("model", [])}
        pushes = {p.id: p for p in input_dict.get("pushed_model", [])}
        for push in serving_pushes(store, self._before_span):
            model, pushed = models.get(push["model_id"]), pushes.get(push["pushed_model"].id)
            if model is not None and pushed is not None:
                return {"model": [model], "pushed_model": [pushed]}
        return {"model": [], "pushed_model": []}
