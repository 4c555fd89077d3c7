"""Scoring helpers: serving features from a schema, tf.Example edits."""
import os

import tensorflow as tf

from components.behavior_validator import scoring
from data import contract


def test_curated_schema_serving_features_match_the_contract():
    from tfx.utils import io_utils  # pylint: disable=import-outside-toplevel
    import data.schema  # pylint: disable=import-outside-toplevel
    path = os.path.join(os.path.dirname(data.schema.__file__), "schema.pbtxt")
    schema = io_utils.SchemaReader().read(path)
    assert scoring.serving_features_from_schema(schema, contract.LABEL_KEY) == {
        f: contract.tf_dtype_name(f) for f in contract.FEATURE_KEYS}


def test_set_feature_writes_the_schema_dtype():
    ex = contract.example_from_row({f: {"string": "x", "int64": 1, "float32": 0.5}[
        contract.tf_dtype_name(f)] for f in contract.FEATURE_KEYS})
    scoring.set_feature(ex, "flight", 4321.0, "int64")
    scoring.set_feature(ex, "carrier", "UA", "string")
    scoring.set_feature(ex, "precip", scoring.perturb(0.25, "add", 0.5), "float32")
    assert scoring.feature_values(ex, "flight") == [4321]
    assert scoring.feature_values(ex, "carrier") == [b"UA"]
    assert scoring.feature_values(ex, "precip") == [0.75]
    assert scoring.feature_values(ex, "tailnum") == []
    assert isinstance(tf.train.Example.FromString(ex.SerializeToString()), tf.train.Example)
