"""The ordered-split executor on real Beam: whole days in order per split, as assign_splits decides."""
import collections
import csv
import glob
import os

import pytest
import tensorflow as tf
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from components.ordered_split import assign_splits
from components.ordered_split.executor import Executor

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


def run_executor(input_base, pattern, out_dir, beam_args=()):
    examples = standard_artifacts.Examples()
    examples.uri = str(out_dir)
    output = example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=3),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=1)], partition_feature_name="day"))
    exec_properties = {
        standard_component_specs.INPUT_BASE_KEY: input_base,
        standard_component_specs.INPUT_CONFIG_KEY: proto_utils.proto_to_json(
            example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])),
        standard_component_specs.OUTPUT_CONFIG_KEY: proto_utils.proto_to_json(output),
        standard_component_specs.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
    }
    # --setup_file: the workers' dependencies are installed (else TFX builds an sdist of the project)
    context = base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=list(beam_args) + [f"--setup_file={os.path.join(REPO_ROOT, 'setup.py')}"])
    Executor(context).Do(
        {}, {standard_component_specs.EXAMPLES_KEY: [examples]}, exec_properties)
    days = {}
    for split in ("train", "eval"):
        files = glob.glob(os.path.join(out_dir, f"Split-{split}", "*.gz"))
        days[split] = collections.Counter(
            tf.train.Example.FromString(r.numpy()).features.feature["day"].int64_list.value[0]
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))
    return days


@pytest.mark.parametrize("beam_args", [(), ("--direct_running_mode=multi_processing", "--direct_num_workers=2")],
                         ids=["in_memory", "multi_processing"])
def test_splits_are_the_assigned_runs_of_days(tmp_path, beam_args):
    days = run_executor(FIXTURES, "span-1/*", tmp_path / "out", beam_args)
    with open(os.path.join(FIXTURES, "span-1", "flights.csv")) as f:
        counts = collections.Counter(int(row["day"]) for row in csv.DictReader(f))
    expected = assign_splits(counts, [3, 1], "day")
    assert {d for d, s in expected.items() if s == 1} == set(days["eval"])
    assert {d for d, s in expected.items() if s == 0} == set(days["train"])
    assert max(days["train"]) < min(days["eval"])
    assert days["train"] + days["eval"] == counts  # every row once


def test_a_missing_partition_value_fails_naming_the_feature(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "rows.csv").write_text("day,x\n1,a\n2,b\n,c\n")
    with pytest.raises(Exception, match="no integer or string value for partition feature 'day'"):
        run_executor(str(tmp_path / "in"), "*.csv", tmp_path / "out")
