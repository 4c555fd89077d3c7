"""A tiny SavedModel that follows the export contract of data/contract.py, for the serving benchmark
and the serving tests when no trained model is at hand.

`serving_default` takes one [None] tensor per feature, `serving_tf_example` takes serialized
tf.Examples, both return `late_probability` float32 [None]. The `bias` makes versions
distinguishable in answers.
"""
import os
import tempfile

from data import contract
from serving.client import tf_dtype


def write_contract_model(export_dir: str, bias: float = 0.0, warmup_requests: int = 0) -> str:
    """Export a contract SavedModel to export_dir (written to a temp dir, then renamed: atomic push)."""
    import tensorflow as tf

    class Model(tf.Module):
        def __init__(self):
            super().__init__()
            self.bias = tf.Variable(bias, dtype=tf.float32)
            self.lookup = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(["UA", "AA", "B6", "DL"], [0.4, -0.2, 0.3, -0.4]), 0.0)

        def _score(self, f):
            logit = (self.bias + self.lookup.lookup(f["carrier"])
                     + 0.08 * (tf.cast(f["sched_dep_hour"], tf.float32) - 12.0)
                     + 0.02 * tf.cast(f["month"], tf.float32)
                     + 0.03 * f["precip"] - 0.01 * f["visib"]
                     + 0.0001 * tf.cast(f["distance"], tf.float32))
            return {contract.PREDICTION_KEY: tf.sigmoid(logit)}

    model = Model()
    raw_spec = {k: tf.TensorSpec([None], tf_dtype(k), name=k) for k in contract.FEATURE_KEYS}
    serving_default = tf.function(lambda **kw: model._score(kw)).get_concrete_function(**raw_spec)

    feature_spec = {k: tf.io.FixedLenFeature([], tf_dtype(k), default_value=(
        "" if contract.tf_dtype_name(k) == "string" else 0 if contract.tf_dtype_name(k) == "int64" else 0.0))
        for k in contract.FEATURE_KEYS}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])
    def serving_tf_example(examples):
        return model._score(tf.io.parse_example(examples, feature_spec))

    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(export_dir)))
    tf.saved_model.save(model, tmp, signatures={
        contract.SERVING_SIGNATURE: serving_default,
        contract.EXAMPLES_SIGNATURE: serving_tf_example.get_concrete_function()})
    if warmup_requests:
        write_warmup(tmp, warmup_requests)
    os.rename(tmp, export_dir)
    return export_dir


def example_row(i: int = 0) -> dict:
    """A valid feature row (python values) for the contract model."""
    carriers = ["UA", "AA", "B6", "DL", "WN"]
    row = {
        "carrier": carriers[i % len(carriers)], "origin": ["EWR", "JFK", "LGA"][i % 3], "dest": "ORD",
        "month": 1 + i % 12, "day": 1 + i % 28, "day_of_week": i % 7, "sched_dep_hour": 6 + i % 16,
        "sched_dep_minute": (7 * i) % 60, "sched_arr_hour": 8 + i % 14, "flight": 100 + i,
        "distance": 200 + 37 * i,
    }
    for j, k in enumerate(contract.FLOAT_FEATURES):
        row[k] = float((i + j) % 10) + 0.5
    return row


def write_warmup(export_dir: str, count: int) -> str:
    """assets.extra/tf_serving_warmup_requests with `count` PredictionLogs on serving_tf_example."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    os.makedirs(os.path.join(export_dir, "assets.extra"), exist_ok=True)
    path = os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")
    with tf.io.TFRecordWriter(path) as writer:
        for i in range(count):
            req = predict_pb2.PredictRequest()
            req.model_spec.signature_name = contract.EXAMPLES_SIGNATURE
            req.inputs[contract.EXAMPLES_INPUT].CopyFrom(
                tf.make_tensor_proto([contract.example_from_row(example_row(i)).SerializeToString()], dtype=tf.string))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=req))
            writer.write(log.SerializeToString())
    return path
