"""Request logs in TF Serving's own format: reading them (TFRecord files of tensorflow.serving.PredictionLog).

The reading part of the request-logging module (issue 19); the server's writer lives on the branch that adds it.
"""
import glob
import os

FILE_SUFFIX = ".tfrecord"


# ---- reading ------------------------------------------------------------------------------------
def log_files(path: str) -> list:
    """Log files of a directory (every *.tfrecord in it), a filename_prefix, or the file itself; sorted."""
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(glob.escape(path), f"*{FILE_SUFFIX}")))
    if os.path.isfile(path):
        return [path]
    return sorted(glob.glob(f"{glob.escape(path)}-*{FILE_SUFFIX}"))


def read_logs(paths):
    """PredictionLogs of the files (paths: a path or a list, each as log_files takes it).

    A file's truncated last record (one being written) ends that file; corruption raises ValueError
    naming the file.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    files = []
    for path in [paths] if isinstance(paths, str) else paths:
        found = log_files(path)
        if not found:
            raise FileNotFoundError(f"{path}: no request log files ({FILE_SUFFIX})")
        files += found
    from google.protobuf.message import DecodeError
    from tensorflow.python.util import deprecation
    for path in files:
        try:
            with deprecation.silence():
                iterator = tf.compat.v1.io.tf_record_iterator(path)
            for data in iterator:
                yield prediction_log_pb2.PredictionLog.FromString(data)
        except tf.errors.DataLossError as exc:
            if "truncated" not in str(exc).lower():
                raise ValueError(f"{path}: not a TFRecord file of PredictionLogs ({exc.message})") from None
        except DecodeError as exc:
            raise ValueError(f"{path}: a record is not a PredictionLog ({exc})") from None


def _value(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v.item() if hasattr(v, "item") else v


def _example_row(example) -> dict:
    row = {}
    for name, feature in example.features.feature.items():
        values = getattr(feature, feature.WhichOneof("kind")).value if feature.WhichOneof("kind") else []
        row[name] = _value(values[0]) if len(values) == 1 else [_value(v) for v in values]
    return row


def rows(record, examples_input: str = None) -> list:
    """[(inputs, outputs)] per row of a record: {name: python value} each (bytes decoded as UTF-8).

    predict_log: one [batch, ...] tensor per input/output alias; with `examples_input` (the alias of a
    serialized tf.Example input), that input's examples give the row's features. classify_log /
    regress_log: the examples' features; outputs {"classes": [(label, score)]} or {"value": v}.
    A log without a response (the proxy's) gives empty outputs.
    """
    import tensorflow as tf
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        request, response = record.predict_log.request, record.predict_log.response
        inputs = {alias: tf.make_ndarray(t) for alias, t in request.inputs.items()}
        outputs = {alias: tf.make_ndarray(t) for alias, t in response.outputs.items()}
        batch = max([len(a) if a.ndim else 1 for a in inputs.values()] or [0])
        result = []
        for i in range(batch):
            if examples_input and examples_input in inputs:
                row = _example_row(tf.train.Example.FromString(inputs[examples_input][i]))
            else:
                row = {alias: _value(a[i] if a.ndim else a) for alias, a in inputs.items()}
            out = {}
            for alias, a in outputs.items():
                v = a[i] if a.ndim and len(a) == batch else a
                out[alias] = _value(v) if getattr(v, "ndim", 0) == 0 else v.tolist()
            result.append((row, out))
        return result
    if kind in ("classify_log", "regress_log"):
        entry = getattr(record, kind)
        request_input = entry.request.input
        if request_input.WhichOneof("kind") == "example_list_with_context":
            context = _example_row(request_input.example_list_with_context.context)
            examples = [{**context, **_example_row(e)} for e in request_input.example_list_with_context.examples]
        else:
            examples = [_example_row(e) for e in request_input.example_list.examples]
        if kind == "classify_log":
            outs = [{"classes": [(c.label, c.score) for c in r.classes]}
                    for r in entry.response.result.classifications]
        else:
            outs = [{"value": r.value} for r in entry.response.result.regressions]
        return [(row, outs[i] if i < len(outs) else {}) for i, row in enumerate(examples)]
    return []
