"""CsvExampleGen's executor with an ordered split: whole values of the partition feature, in order, per split."""
from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import utils
from tfx.components.example_gen.csv_example_gen import executor as csv_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs
from tfx.utils import proto_utils

from components.ordered_split.split import assign_splits


def partition_value(example: tf.train.Example, feature: str):
    """The (first) value of the partition feature; an example without one is an error naming it."""
    value = example.features.feature.get(feature)
    kind = value.WhichOneof("kind") if value is not None else None
    values = getattr(value, kind).value if kind in ("int64_list", "bytes_list") else ()
    if not values:
        raise ValueError(f"ordered split: an example has no integer or string value for partition feature "
                         f"{feature!r}: {str(example)[:300]}")
    return values[0]


class Executor(csv_executor.Executor):
    """Reads the CSV files like CsvExampleGen; the SplitConfig's splits take consecutive runs of the
    partition feature's values (ascending), each holding about its `hash_buckets` share of the examples
    (components/ordered_split/split.py), instead of hash buckets."""

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
                               ) -> Dict[str, beam.pvalue.PCollection]:
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY], output_config)
        split_config = output_config.split_config
        feature = split_config.partition_feature_name
        if len(input_config.splits) != 1 or not split_config.splits or not feature:
            raise ValueError("ordered split needs one input split and an output SplitConfig with splits and "
                             "partition_feature_name")
        names = utils.generate_output_split_names(input_config, output_config)
        shares = [split.hash_buckets for split in split_config.splits]
        exec_properties["_beam_pipeline_args"] = self._beam_pipeline_args or []
        records = (pipeline | "InputToRecord" >>  # pylint: disable=no-value-for-parameter
                   self.GetInputSourceToExamplePTransform()(exec_properties, input_config.splits[0].pattern))
        assignment = (records
                      | "PartitionValue" >> beam.Map(partition_value, feature)
                      | "CountPerValue" >> beam.combiners.Count.PerElement()
                      | "AllCounts" >> beam.combiners.ToDict()
                      | "AssignSplits" >> beam.Map(assign_splits, shares, feature))
        splits = records | "SplitData" >> beam.Partition(
            lambda example, _, values: values[partition_value(example, feature)], len(names),
            beam.pvalue.AsSingleton(assignment))
        return {name: splits[index] for index, name in enumerate(names)}
