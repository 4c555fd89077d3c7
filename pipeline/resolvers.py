"""Resolver strategies of the pipeline.

Training window: the latest Examples artifact of each span in [span - window + 1, span].

Baseline for the Evaluator: the latest blessed model trained on an EARLIER span.

TFX's LatestBlessedModelStrategy would pick the model that the previous run of the same span blessed,
which is the candidate itself on a re-run: the Evaluator's inputs change, it re-executes, and Pusher
pushes the same model again under a new version. Comparing against the latest blessed model of an
earlier span is also the meaningful question for continuous training ("no worse than what served
last month"), and it makes a re-run of the same span fully cached.
"""
from typing import Dict, List, Optional

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx.dsl.components.common import resolver
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import LatestBlessedModelStrategy


def _span(artifact: types.Artifact) -> int:
    return artifact.get_int_custom_property("span")


class SpanWindowStrategy(resolver.ResolverStrategy):
    """The newest Examples artifact of every span in [last_span - num_spans + 1, last_span].

    Unlike TFX's SpanRangeStrategy it keeps one artifact per span (re-ingesting a span must not
    duplicate its rows in training) and fails, naming the spans, unless every span of the window
    was ingested.
    """

    def __init__(self, last_span: int, num_spans: int):
        self._spans = range(int(last_span) - int(num_spans) + 1, int(last_span) + 1)

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        result = {}
        for key, artifacts in input_dict.items():
            newest = {}
            for artifact in artifacts:
                span = _span(artifact)
                if span in self._spans and (span not in newest or artifact.id > newest[span].id):
                    newest[span] = artifact
            missing = [s for s in self._spans if s not in newest]
            if missing:  # do not silently train on less than the window asked for
                raise RuntimeError(
                    f"training window {self._spans.start}..{self._spans.stop - 1} needs span(s) {missing}, "
                    f"which no earlier run ingested: run `python -m pipeline run --span N` for each first")
            result[key] = [newest[s] for s in sorted(newest)]
        return result


def training_spans(store: mlmd.MetadataStore, model_id: int) -> List[int]:
    """Spans of the Examples the model's producing (Trainer) execution read."""
    producers = [e.execution_id for e in store.get_events_by_artifact_ids([model_id])
                 if e.type == metadata_store_pb2.Event.OUTPUT]
    if not producers:
        return []
    input_ids = [e.artifact_id for e in store.get_events_by_execution_ids(producers[:1])
                 if e.type == metadata_store_pb2.Event.INPUT]
    spans = []
    for artifact in store.get_artifacts_by_id(input_ids):
        if "span" in artifact.custom_properties:
            spans.append(artifact.custom_properties["span"].int_value)
        elif "span" in artifact.properties:
            spans.append(artifact.properties["span"].int_value)
    return spans


class LatestBlessedModelFromEarlierSpanStrategy(LatestBlessedModelStrategy):
    """Latest blessed Model (and its blessing) whose training spans are all < `before_span`."""

    def __init__(self, before_span: int):
        self._before_span = int(before_span)

    def resolve_artifacts(self, store: mlmd.MetadataStore, input_dict: Dict[str, List[types.Artifact]]
                          ) -> Optional[Dict[str, List[types.Artifact]]]:
        filtered = dict(input_dict)
        for key, artifacts in input_dict.items():
            if artifacts and isinstance(artifacts[0], types.standard_artifacts.Model):
                filtered[key] = [m for m in artifacts
                                 if (spans := training_spans(store, m.id)) and max(spans) < self._before_span]
        return super().resolve_artifacts(store, filtered)
