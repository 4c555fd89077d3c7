"""create_pipeline's eval split on the real 2013 spans: 20-30% of the flights, >= 7 whole days, the last ones."""
import collections
import csv

import pytest

from components.ordered_split import assign_splits
from data import spans_io
from pipeline.dag import configs
from pipeline.dag.pipeline import split_config
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
