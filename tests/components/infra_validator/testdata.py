"""Test data: tiny real SavedModels following the export contract, eval Examples, artifacts."""
import os

import random
import shutil

import tensorflow as tf
from tfx.types import standard_artifacts

from data import contract
from serving.client import tf_dtype

_DEFAULTS = {"string": "", "int64": 0, "float32": 0.0}
_CARRIERS = ("UA", "AA", "B6", "DL", "EV")
_AIRPORTS = ("EWR", "JFK", "LGA", "ATL", "ORD", "LAX")

GOOD = "good"
NO_EXAMPLES_SIGNATURE = "no_examples_signature"   # only serving_default
FAILS_ON_QUERY = "fails_on_query"                 # serving_tf_example needs a feature absent from data


class _Model(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable([0.3, 0.08, 0.02], name="w")
        self.b = tf.Variable(-2.0, name="b")

    def predict(self, feats):
        x = tf.stack([tf.cast(feats["distance"], tf.float32) / 1000.0,
                      tf.cast(feats["sched_dep_hour"], tf.float32),
                      tf.cast(feats["precip"], tf.float32) * 10.0], axis=1)
        return {contract.PREDICTION_KEY: tf.sigmoid(tf.linalg.matvec(x, self.w) + self.b)}


def build_saved_model(export_dir: str, variant: str = GOOD) -> str:
    """Write a SavedModel with the contract's signatures (or a broken variant) to export_dir."""
    model = _Model()
    raw_specs = {k: tf.TensorSpec([None], tf_dtype(k), name=k)
                 for k in contract.FEATURE_KEYS}
    parse_spec = {k: tf.io.FixedLenFeature([], tf_dtype(k),
                                           default_value=_DEFAULTS[contract.tf_dtype_name(k)])
                  for k in contract.FEATURE_KEYS}
    if variant == FAILS_ON_QUERY:
        parse_spec["not_in_examples"] = tf.io.FixedLenFeature([], tf.float32)  # required

    @tf.function(input_signature=[raw_specs])
    def serve_raw(feats):
        return model.predict(feats)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])
    def serve_examples(examples):
        return model.predict(tf.io.parse_example(examples, parse_spec))

    signatures = {contract.SERVING_SIGNATURE: serve_raw.get_concrete_function()}
    if variant != NO_EXAMPLES_SIGNATURE:
        signatures[contract.EXAMPLES_SIGNATURE] = serve_examples.get_concrete_function()
    tf.saved_model.save(model, export_dir, signatures=signatures)
    return export_dir


def make_example(rng: random.Random) -> tf.train.Example:
    values = {
        "carrier": rng.choice(_CARRIERS), "origin": rng.choice(_AIRPORTS[:3]),
        "dest": rng.choice(_AIRPORTS[3:]), "month": rng.randint(1, 12), "day": rng.randint(1, 28),
        "day_of_week": rng.randint(0, 6), "sched_dep_hour": rng.randint(5, 23),
        "sched_dep_minute": rng.randint(0, 59), "sched_arr_hour": rng.randint(0, 23),
        "flight": rng.randint(1, 6000), "distance": rng.randint(80, 2500),
    }
    for w in contract.FLOAT_FEATURES:  # floats may be missing (None: left out of the Example)
        values[w] = round(rng.uniform(0, 50), 2) if rng.random() > 0.1 else None
    values[contract.LABEL_KEY] = rng.randint(0, 1)
    return contract.example_from_row(values, with_label=True)


def write_examples(uri: str, split: str = "eval", n: int = 20) -> str:
    """ExampleGen layout: <uri>/Split-<split>/data_tfrecord-00000-of-00001.gz (gzipped TFRecord)."""
    split_dir = os.path.join(uri, f"Split-{split}")
    os.makedirs(split_dir, exist_ok=True)
    rng = random.Random(7)
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz"),
                              options="GZIP") as w:
        for _ in range(n):
            w.write(make_example(rng).SerializeToString())
    return uri


def corrupt_saved_model_pb(model_dir: str) -> None:
    with open(os.path.join(model_dir, "saved_model.pb"), "wb") as f:
        f.write(b"this is not a SavedModel protobuf")


def corrupt_variables(model_dir: str) -> None:
    var_dir = os.path.join(model_dir, "variables")
    for name in os.listdir(var_dir):
        if name.startswith("variables.data"):
            with open(os.path.join(var_dir, name), "wb") as f:
                f.write(b"\x00garbage")


def model_artifact(uri: str, saved_model_dir: str) -> standard_artifacts.Model:
    """A Model artifact whose <uri>/Format-Serving is a copy of saved_model_dir."""
    shutil.copytree(saved_model_dir, os.path.join(uri, "Format-Serving"))
    artifact = standard_artifacts.Model()
    artifact.uri = uri
    return artifact


def examples_artifact(uri: str) -> standard_artifacts.Examples:
    artifact = standard_artifacts.Examples()
    artifact.uri = uri
    artifact.split_names = '["eval"]'
    return artifact
