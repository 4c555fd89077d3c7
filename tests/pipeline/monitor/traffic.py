"""Request logs for the monitoring tests: rows of a span answered by a real SavedModel, written as TF Serving's
PredictionLog TFRecords (the format serving/server/request_log.py writes), batches alternating between the raw
signature and the tf.Example signature like real clients."""
import os
from typing import Callable, Optional

import numpy as np
import pandas as pd

from data import contract, spans_io


def read_span(data_root: str, span: int) -> pd.DataFrame:
    return spans_io.read_span(spans_io.span_path(data_root, span))


def _raw_inputs(frame: pd.DataFrame):
    import tensorflow as tf
    inputs = {}
    for name in contract.FEATURE_KEYS:
        kind = contract.tf_dtype_name(name)
        column = frame[name]
        if kind == "string":
            values = np.array([str(v).encode() for v in column], dtype=object)
        elif kind == "int64":
            values = column.astype("int64").to_numpy()
        else:
            values = column.astype("float64").fillna(np.nan).to_numpy().astype("float32")  # NaN = missing
        inputs[name] = tf.make_tensor_proto(values, dtype=contract.tf_dtype(name))
    return inputs


def model_answers(model_dir: str) -> Callable:
    """answer(signature, inputs) -> late_probability of a real SavedModel."""
    import tensorflow as tf
    model = tf.saved_model.load(model_dir)
    return lambda signature, inputs: model.signatures[signature](**inputs)[contract.PREDICTION_KEY].numpy()


def write_logs(folder: str, frame: pd.DataFrame, answer: Callable, version: Optional[int],
               batch_rows: int = 64, prefix: str = "requests") -> str:
    """Answers every row (`answer`, e.g. model_answers) and logs one predict_log per batch; returns the path."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{prefix}-20130101T000000Z-1-00000.tfrecord")
    rows = frame.reset_index(drop=True)
    with tf.io.TFRecordWriter(path) as writer:
        for number, start in enumerate(range(0, len(rows), batch_rows)):
            part = rows.iloc[start:start + batch_rows]
            log = prediction_log_pb2.PredictionLog()
            request, response = log.predict_log.request, log.predict_log.response
            request.model_spec.name = contract.MODEL_NAME
            if number % 2:  # the tf.Example signature
                signature = contract.EXAMPLES_SIGNATURE
                serialized = np.array([contract.example_from_row(r).SerializeToString()
                                       for r in _plain_rows(part)], dtype=object)
                request.inputs[contract.EXAMPLES_INPUT].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
                answers = answer(signature, {contract.EXAMPLES_INPUT: tf.constant(serialized)})
            else:
                signature = contract.SERVING_SIGNATURE
                inputs = _raw_inputs(part)
                for name, tensor in inputs.items():
                    request.inputs[name].CopyFrom(tensor)
                answers = answer(signature, {k: tf.constant(tf.make_ndarray(v)) for k, v in inputs.items()})
            request.model_spec.signature_name = signature
            log.log_metadata.model_spec.CopyFrom(request.model_spec)
            if version is not None:
                log.log_metadata.model_spec.version.value = version
                request.model_spec.version.value = version
            response.model_spec.CopyFrom(log.log_metadata.model_spec)
            response.outputs[contract.PREDICTION_KEY].CopyFrom(
                tf.make_tensor_proto(np.asarray(answers, dtype="float32")))
            writer.write(log.SerializeToString())
    return path


def _plain_rows(frame: pd.DataFrame):
    for row in frame.to_dict("records"):
        yield {k: (None if v is pd.NA else v) for k, v in row.items()}

