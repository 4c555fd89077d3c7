"""Resolves the drift validator's baseline: the statistics of the span before the current one.

Usage (StatisticsGen in the same pipeline), on LocalDagRunner and other IR-based orchestrators:

    baseline_statistics=previous_span_statistics(statistics_gen.outputs["statistics"])

KubeflowV2DagRunner (Vertex) compiles no resolver functions: use `latest_statistics_resolver`.

TFX's canned `rolling_range(skip_num_recent_spans=1)` does not fit: it needs a `version` property,
which ExampleStatistics lacks, and it is relative to the newest span rather than the current one.
"""
from typing import Mapping, Sequence, Union

from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.base import base_node
from tfx.dsl.input_resolution import resolver_function
from tfx.dsl.input_resolution import resolver_op

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
    below the current span (the smallest span in `current`); [] if there is none."""

    def apply(self, input_dict: Mapping[str, Sequence[types.Artifact]]) -> Sequence[types.Artifact]:
        current = [a for a in input_dict.get(CURRENT, []) if _has_span(a)]
        if not current:
            return []
        current_span = min(a.span for a in current)
        earlier = [a for a in input_dict.get(HISTORY, []) if _has_span(a) and a.span < current_span]
        if not earlier:
            return []
        previous = max(a.span for a in earlier)
        candidates = [a for a in earlier if a.span == previous]
        return [max(candidates, key=lambda a: (a.mlmd_artifact.create_time_since_epoch, a.id))]


def _has_span(artifact: types.Artifact) -> bool:
    return "span" in (artifact.PROPERTIES or {}) and artifact.has_property("span")


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
