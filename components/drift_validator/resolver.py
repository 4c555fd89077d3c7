"""Resolves the drift validator's baseline: the statistics of the span before the current one.

Usage (StatisticsGen in the same pipeline), on LocalDagRunner and other IR-based orchestrators:

    baseline_statistics=previous_span_statistics(statistics_gen.outputs["statistics"])

KubeflowV2DagRunner (Vertex) compiles no resolver functions: use `latest_statistics_resolver`.

TFX's canned `rolling_range(skip_num_recent_spans=1)` does not fit: it needs a `version` property,
which ExampleStatistics lacks, and it is relative to the newest span rather than the current one.
"""
from typing import Dict, Mapping, Optional, Sequence, Union

from ml_metadata.proto import metadata_store_pb2

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import base_node
from tfx.dsl.input_resolution import resolver_function
from tfx.dsl.input_resolution import resolver_op

from components.drift_validator.spans import artifact_span

CURRENT = "current"
HISTORY = "history"


class PreviousSpan(
    resolver_op.ResolverOp,
    # The orchestrator looks unregistered ops up by this class path.
    canonical_name="components.drift_validator.resolver.PreviousSpan",
    arg_data_types=(resolver_op.DataType.ARTIFACT_MULTIMAP,),
    return_data_type=resolver_op.DataType.ARTIFACT_LIST,
):
    """From {current: [...], history: [...]}: the newest `history` artifact of the largest span
    below the current span (the smallest span in `current`); [] if there is none.

    The span of a statistics artifact is read from MLMD lineage: the `span` of the Examples its
    producing execution read. TFX 1.16's ExampleGen stores `span` as a custom property, so
    StatisticsGen's copy (`statistics.span = examples.span`) is always 0 and cannot be used. Without
    such lineage (e.g. an imported artifact) the artifact's own span is used.
    """

    def apply(self, input_dict: Mapping[str, Sequence[types.Artifact]]) -> Sequence[types.Artifact]:
        current = list(input_dict.get(CURRENT, []))
        history = list(input_dict.get(HISTORY, []))
        if not current:
            return []
        spans = artifact_spans(self.context.store, current + history)
        known_current = [spans[a.id] for a in current if spans.get(a.id) is not None]
        if not known_current:
            return []
        current_span = min(known_current)
        earlier = [a for a in history if spans.get(a.id) is not None and spans[a.id] < current_span]
        if not earlier:
            return []
        previous = max(spans[a.id] for a in earlier)
        candidates = [a for a in earlier if spans[a.id] == previous]
        return [max(candidates, key=lambda a: (a.mlmd_artifact.create_time_since_epoch, a.id))]


def artifact_spans(store, artifacts: Sequence[types.Artifact]) -> Dict[int, Optional[int]]:
    """{artifact id: span}: the largest known span among the inputs of the execution that produced
    the artifact, else the artifact's own span (`spans.artifact_span`), else None."""
    ids = [a.id for a in artifacts if a.id]
    producer = {}
    for event in store.get_events_by_artifact_ids(ids):
        if event.type in _OUTPUT_EVENTS:
            producer[event.artifact_id] = event.execution_id
    inputs_of = {}
    for event in store.get_events_by_execution_ids(sorted(set(producer.values()))):
        if event.type in _INPUT_EVENTS:
            inputs_of.setdefault(event.execution_id, []).append(event.artifact_id)
    input_ids = sorted({i for ids_ in inputs_of.values() for i in ids_})
    input_span = {a.id: artifact_span(a) for a in store.get_artifacts_by_id(input_ids)} if input_ids else {}
    result = {}
    for artifact in artifacts:
        upstream = [input_span.get(i) for i in inputs_of.get(producer.get(artifact.id), [])]
        upstream = [s for s in upstream if s is not None]
        if upstream:
            result[artifact.id] = max(upstream)
        else:
            result[artifact.id] = artifact_span(artifact)
    return result


_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


@resolver_function.resolver_function
def _previous_span(channels):
    return PreviousSpan(channels)


@_previous_span.output_type_inferrer
def _previous_span_type(channels):
    return channels[CURRENT].type


def previous_span_statistics(statistics: types.BaseChannel) -> types.BaseChannel:
    """Channel holding the statistics of the span before `statistics`' span (empty if none).

    `statistics` is the current run's output channel of a node (e.g. StatisticsGen's
    `statistics`); the history is that node's output over all runs of the pipeline in MLMD.
    """
    history = tfx.dsl.Channel(type=statistics.type,
                              producer_component_id=statistics.producer_component_id,
                              output_key=statistics.output_key)
    return _previous_span({CURRENT: statistics, HISTORY: history})


def latest_statistics_resolver(producer: Union[str, base_node.BaseNode], output_key: str = "statistics",
                               resolver_id: str = "drift_baseline_resolver") -> tfx.dsl.Resolver:
    """Resolver node: the newest ExampleStatistics that `producer` wrote in an earlier run.

    For orchestrators without resolver functions (KubeflowV2DagRunner / Vertex compiles only
    Resolver nodes). The caller must make the producer run after it, so the current run's
    statistics are not yet there: `statistics_gen.add_upstream_node(resolver)`. Its baseline is
    the previous run's statistics, which is the previous span when spans are run in order.
    On Vertex the query is every live ExampleStatistics of the metadata store (not per pipeline).
    """
    producer_id = producer if isinstance(producer, str) else producer.id
    history = tfx.dsl.Channel(type=tfx.types.standard_artifacts.ExampleStatistics,
                              producer_component_id=producer_id, output_key=output_key)
    return tfx.dsl.Resolver(strategy_class=tfx.dsl.experimental.LatestArtifactStrategy,
                            statistics=history).with_id(resolver_id)
