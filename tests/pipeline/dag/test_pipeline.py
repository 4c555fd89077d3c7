"""create_pipeline on the real 2013 spans and its wiring (no run): the eval split (20-30% of the flights,
>= 7 whole days, the last ones) and what the behaviour validator is given to judge on."""
import collections
import csv
import json

import pytest

from components.ordered_split import assign_splits
from data import spans_io
from pipeline.dag import configs
from pipeline.dag.configs import EVALUATION_RESOLVER_ID
from pipeline.dag.pipeline import create_pipeline
from pipeline.dag.pipeline import split_config
from pipeline.dag.resolvers import SpanWindowStrategy
from pipeline.local.runner import DEFAULT_DATA_ROOT


def eval_days_per_span():
    """{span: (flights per day, eval days)} of every committed span, split as create_pipeline splits it."""
    config = split_config()
    eval_index = [s.name for s in config.splits].index("eval")
    result = {}
    for span in spans_io.list_spans(DEFAULT_DATA_ROOT):
        with open(spans_io.span_path(DEFAULT_DATA_ROOT, span), newline="") as f:
            counts = collections.Counter(int(row[config.partition_feature_name]) for row in csv.DictReader(f))
        splits = assign_splits(counts, [s.hash_buckets for s in config.splits], config.partition_feature_name)
        result[span] = (counts, sorted(d for d, s in splits.items() if s == eval_index))
    return result


@pytest.fixture(scope="module")
def real_spans():
    return eval_days_per_span()


def test_every_real_span_evaluates_on_20_to_30_percent_of_its_flights_over_at_least_7_days(real_spans):
    assert sorted(real_spans) == list(range(1, 13))
    for span, (counts, eval_days) in real_spans.items():
        share = sum(counts[d] for d in eval_days) / sum(counts.values())
        assert 0.2 <= share <= 0.3 and len(eval_days) >= 7, (span, share, eval_days)


def test_eval_days_are_the_last_days_of_each_span_and_change_with_the_month(real_spans):
    for span, (counts, eval_days) in real_spans.items():
        assert eval_days == sorted(counts)[-len(eval_days):], span  # after every training day
    # e.g. February ends on the 28th, June on the 30th: the eval days follow the calendar
    assert len({tuple(days) for _, days in real_spans.values()}) >= 3


def test_the_split_is_the_configured_one():
    config = split_config()
    assert [(s.name, s.hash_buckets) for s in config.splits] == list(configs.SPLIT_SHARES)
    assert config.partition_feature_name == configs.SPLIT_PARTITION_FEATURE


def _nodes(**kwargs):
    pipeline = create_pipeline("/root", "/data", "/schema.pbtxt", "/serving", **kwargs)
    return {node.id: node for node in pipeline.components}


def test_behaviour_validator_judges_on_eval_days_no_model_trained_on():
    """The eval splits of the last BEHAVIOR_EVAL_SPANS spans, pooled: the Trainer reads train splits only
    (train_args), so neither the candidate nor the serving model (trained on earlier spans) saw them."""
    nodes = _nodes(span=6, window=6)
    resolver = nodes[EVALUATION_RESOLVER_ID]
    assert resolver.exec_properties["resolver_class"] is SpanWindowStrategy
    assert resolver.exec_properties["source_uri"] == {"last_span": 6, "num_spans": configs.BEHAVIOR_EVAL_SPANS,
                                                      "every_span": False}
    behavior = nodes["BehaviorValidator"]
    assert behavior.inputs["examples"].producer_component_id == EVALUATION_RESOLVER_ID
    assert json.loads(nodes["Trainer"].exec_properties["train_args"]) == {"splits": ["train"]}
    assert nodes["Evaluator"].inputs["examples"].producer_component_id == "CsvExampleGen"  # this span


def test_without_a_known_span_or_on_vertex_the_validator_judges_this_span_alone():
    for nodes in (_nodes(), _nodes(span=6, vertex=True)):
        assert EVALUATION_RESOLVER_ID not in nodes
        assert nodes["BehaviorValidator"].inputs["examples"].producer_component_id == "CsvExampleGen"
