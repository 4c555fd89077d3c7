"""OrderedSplitCsvExampleGen: TFX's CsvExampleGen whose output splits are consecutive runs of an ordered
partition feature (e.g. the last days of a month for eval) instead of hash buckets."""
from tfx.components import CsvExampleGen
from tfx.dsl.components.base import executor_spec

from components.ordered_split.executor import Executor


class OrderedSplitCsvExampleGen(CsvExampleGen):
    """CsvExampleGen (same parameters, driver, outputs and Vertex compilation) with an ordered split:
    `output_config.split_config.partition_feature_name` names the feature whose values are taken in
    ascending order; each split's `hash_buckets` is its share of the examples."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
