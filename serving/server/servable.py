"""One loaded model version: a SavedModel's signatures called like TF Serving's Predict/Classify/Regress.

TF Serving semantics kept here (tensorflow_serving/servables/tensorflow/*_util.cc):
  * signature "" means "serving_default";
  * request inputs must be exactly the signature inputs, dtypes must match, shapes must be compatible;
  * classify/regress need a signature with the matching method_name and one string input "inputs".
"""
import functools
import os
import threading

import numpy as np

from serving.server import custom_ops, errors

PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
DEFAULT_SIGNATURE = "serving_default"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000


@functools.lru_cache(maxsize=None)
def dtype_string(dtype_enum: int) -> str:
    """TF's DataTypeString: DT_FLOAT -> 'float'."""
    from tensorflow.core.framework import types_pb2
    return types_pb2.DataType.Name(dtype_enum)[3:].lower()


@functools.lru_cache(maxsize=None)
def numpy_dtype(dtype_enum: int):
    import tensorflow as tf
    return tf.dtypes.as_dtype(dtype_enum).as_numpy_dtype


def shape_string(shape) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]"


def tensor_proto_to_ndarray(name: str, proto) -> np.ndarray:
    import tensorflow as tf
    try:
        return tf.make_ndarray(proto)
    except Exception as exc:  # malformed TensorProto (e.g. value count does not match shape)
        raise errors.invalid_argument(f"Cannot parse tensor for input '{name}': {exc}") from exc


@functools.lru_cache(maxsize=None)
def proto_field(np_dtype) -> tuple:
    """(DataType enum, typed *_val field or None) of a numpy dtype."""
    import tensorflow as tf
    dtype = tf.dtypes.as_dtype(np_dtype)
    fields = {tf.string: "string_val", tf.float32: "float_val", tf.float64: "double_val", tf.int64: "int64_val",
              tf.int32: "int_val", tf.int16: "int_val", tf.int8: "int_val", tf.uint8: "int_val",
              tf.bool: "bool_val", tf.uint32: "uint32_val", tf.uint64: "uint64_val"}
    return dtype.as_datatype_enum, fields.get(dtype)


def ndarray_to_tensor_proto(array: np.ndarray, proto=None):
    """TensorProto using the typed *_val fields, like TF Serving's AsProtoField responses (filled into
    `proto` when given, e.g. a request's inputs map entry)."""
    dtype_enum, field = proto_field(array.dtype)
    if proto is None:
        from tensorflow.core.framework import tensor_pb2
        proto = tensor_pb2.TensorProto()
    if field is None:
        import tensorflow as tf
        proto.CopyFrom(tf.make_tensor_proto(array))
        return proto
    proto.dtype = dtype_enum
    for size in array.shape:
        proto.tensor_shape.dim.add().size = int(size)
    flat = array.ravel()
    if field == "string_val":
        proto.string_val.extend(v if isinstance(v, bytes) else str(v).encode() for v in flat)
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def serialize_input(input_proto) -> list:
    """tensorflow.serving.Input (ExampleList or ExampleListWithContext) -> serialized tf.Examples."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples = list(input_proto.example_list.examples)
        serialized = [e.SerializeToString() for e in examples]
    elif kind == "example_list_with_context":
        context = input_proto.example_list_with_context.context
        serialized = []
        for example in input_proto.example_list_with_context.examples:
            merged = type(context)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            serialized.append(merged.SerializeToString())
    else:
        raise errors.invalid_argument("Input is empty")
    if not serialized:
        raise errors.invalid_argument("Input is empty")
    return serialized


class Servable:
    """A loaded SavedModel version (tf.saved_model.load) plus its SignatureDefs for metadata."""

    def __init__(self, name: str, version: int, path: str, tags=("serve",), batching=None):
        import tensorflow as tf
        from tensorflow.python.saved_model import loader_impl

        self.name = name
        self.version = version
        self.path = path
        saved_model = loader_impl.parse_saved_model(path)
        wanted = set(tags)
        meta_graphs = [m for m in saved_model.meta_graphs if set(m.meta_info_def.tags) == wanted]
        if not meta_graphs:
            raise errors.ServingError(
                errors.grpc.StatusCode.NOT_FOUND,
                f"Could not find meta graph def matching supplied tags: {{ {' '.join(sorted(wanted))} }}."
                f" To inspect available tag-sets in the SavedModel, please use the SavedModel CLI:"
                f" `saved_model_cli`")
        self.signature_defs = dict(meta_graphs[0].signature_def)
        self._loaded = custom_ops.load(path, tags=list(tags))  # TF-DF's ops when the model has them
        self._functions = dict(self._loaded.signatures)
        self._batching = batching  # BatchingOptions or None
        self._batchers = {}
        self._lock = threading.Lock()

    # ---- signatures -------------------------------------------------------------------------
    def signature(self, signature_name: str, method: str = PREDICT_METHOD):
        """(key, SignatureDef); unknown: predict_util.cc FAILED_PRECONDITION, classifier/regressor.cc
        INVALID_ARGUMENT."""
        key = signature_name or DEFAULT_SIGNATURE
        sig = self.signature_defs.get(key)
        if sig is None or key not in self._functions:
            if method == PREDICT_METHOD:
                raise errors.failed_precondition(f'Serving signature key "{key}" not found.')
            raise errors.invalid_argument(f"No signature was found with the name: {key}")
        return key, sig

    def signature_def_map(self):
        from tensorflow_serving.apis import get_model_metadata_pb2
        sig_map = get_model_metadata_pb2.SignatureDefMap()
        for key, sig in self.signature_defs.items():
            sig_map.signature_def[key].CopyFrom(sig)
        return sig_map

    # ---- predict ----------------------------------------------------------------------------
    def predict(self, signature_name: str, inputs: dict, output_filter=()) -> tuple:
        """Run a signature on numpy inputs; returns (signature key, {output alias: ndarray})."""
        key, sig = self.signature(signature_name)
        expected = set(sig.inputs)
        sent = set(inputs)
        if sent != expected:
            for alias in sorted(sent - expected):
                if len(sent) == len(expected):
                    raise errors.invalid_argument(
                        f"input tensor alias not found in signature: {alias}. Inputs expected to be in the"
                        f" set {{{','.join(sorted(expected))}}}.")
            raise errors.invalid_argument(
                f"Request inputs do not match required inputs for model `{self.name}`. Send extra:"
                f" {{{','.join(sorted(sent - expected))}}}. Missing but required:"
                f" {{{','.join(sorted(expected - sent))}}}.")
        for alias in output_filter:
            if alias not in sig.outputs:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected to be in the"
                    f" set {{{','.join(sorted(sig.outputs))}}}.")
        feeds = {}
        for index, alias in enumerate(sorted(expected)):
            info = sig.inputs[alias]
            array = np.asarray(inputs[alias])
            want = numpy_dtype(info.dtype)
            if array.dtype != want and not (want == np.object_ and array.dtype.kind in "OSU"):
                got = _array_dtype_string(array)
                raise errors.invalid_argument(
                    f"Expects arg[{index}] to be {dtype_string(info.dtype)} but {got} is provided")
            if not info.tensor_shape.unknown_rank:
                sig_shape = [d.size for d in info.tensor_shape.dim]
                if len(sig_shape) != array.ndim or any(
                        s >= 0 and s != a for s, a in zip(sig_shape, array.shape)):
                    raise errors.invalid_argument(
                        f"input tensor '{alias}' has shape {shape_string(array.shape)} which is not"
                        f" compatible with the signature shape {shape_string(sig_shape)}")
            feeds[alias] = array
        outputs = self._batcher(key).run(feeds) if self._batching else self._call(key, feeds)
        if output_filter:
            outputs = {k: v for k, v in outputs.items() if k in set(output_filter)}
        return key, outputs

    def _batcher(self, key: str):
        with self._lock:
            if key not in self._batchers:
                from serving.server.batching import Batcher
                self._batchers[key] = Batcher(lambda feeds: self._call(key, feeds), self._batching)
            return self._batchers[key]

    def _call(self, key: str, feeds: dict) -> dict:
        import tensorflow as tf
        fn = self._functions[key]
        tensors = {}
        for alias, array in feeds.items():
            dtype = self.signature_defs[key].inputs[alias].dtype
            if array.dtype.kind in "OSU":
                array = np.array([v if isinstance(v, bytes) else str(v).encode() for v in array.ravel()],
                                 dtype=object).reshape(array.shape)
            tensors[alias] = tf.constant(array, dtype=tf.dtypes.as_dtype(dtype))
        try:
            result = fn(**tensors)
        except Exception as exc:
            raise errors.from_exception(exc) from exc
        return {alias: value.numpy() for alias, value in result.items()}

    # ---- classify / regress -----------------------------------------------------------------
    def _examples_signature(self, signature_name: str, method: str, kind: str):
        key, sig = self.signature(signature_name, method)
        if sig.method_name != method:
            raise errors.invalid_argument(
                f"Expected {kind} signature method_name to be {method}. Was: {sig.method_name}")
        if list(sig.inputs) != ["inputs"]:
            raise errors.invalid_argument(
                f"Expected one input Tensor named 'inputs' in the {kind} signature, found:"
                f" {','.join(sorted(sig.inputs))}")
        return key, sig

    def classify(self, signature_name: str, input_proto):
        """-> (signature key, ClassificationResult)."""
        from tensorflow_serving.apis import classification_pb2
        key, sig = self._examples_signature(signature_name, CLASSIFY_METHOD, "classification")
        serialized = serialize_input(input_proto)
        outputs = self._call(key, {"inputs": np.array(serialized, dtype=object)})
        classes = outputs.get("classes")
        scores = outputs.get("scores")
        if classes is None and scores is None:
            raise errors.invalid_argument(
                "Expected classification signature outputs to contain at least one of classes, scores")
        batch = len(serialized)
        result = classification_pb2.ClassificationResult()
        for name, value in (("classes", classes), ("scores", scores)):
            if value is not None and (value.ndim not in (1, 2) or value.shape[0] != batch):
                raise errors.invalid_argument(
                    f"Expected Tensor shape: [{batch} num_classes] but got {shape_string(value.shape)}"
                    f" for output '{name}'")
        if classes is not None and classes.ndim == 1:
            classes = classes.reshape(batch, 1)
        if scores is not None and scores.ndim == 1:
            scores = scores.reshape(batch, 1)
        for i in range(batch):
            out = result.classifications.add()
            width = (classes if classes is not None else scores).shape[1]
            for j in range(width):
                cls = out.classes.add()
                if classes is not None:
                    cls.label = classes[i, j].decode("utf-8", "replace")
                if scores is not None:
                    cls.score = float(scores[i, j])
        return key, result

    def regress(self, signature_name: str, input_proto):
        """-> (signature key, RegressionResult)."""
        from tensorflow_serving.apis import regression_pb2
        key, sig = self._examples_signature(signature_name, REGRESS_METHOD, "regression")
        serialized = serialize_input(input_proto)
        outputs = self._call(key, {"inputs": np.array(serialized, dtype=object)})
        if "outputs" not in outputs:
            raise errors.invalid_argument("Expected one output Tensor named 'outputs' in the regression signature")
        values = outputs["outputs"]
        batch = len(serialized)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.reshape(batch)
        if values.ndim != 1 or values.shape[0] != batch:
            raise errors.invalid_argument(
                f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got"
                f" {shape_string(values.shape)}")
        result = regression_pb2.RegressionResult()
        for v in values:
            result.regressions.add().value = float(v)
        return key, result

    # ---- warmup -----------------------------------------------------------------------------
    def warmup(self, iterations: int = 1) -> int:
        """Replay assets.extra/tf_serving_warmup_requests (PredictionLog TFRecord); returns records replayed."""
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2
        path = os.path.join(self.path, WARMUP_FILE)
        if not tf.io.gfile.exists(path):
            return 0
        count = 0
        for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_RECORDS):
            log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            kind = log.WhichOneof("log_type")
            for _ in range(max(1, iterations)):
                if kind == "predict_log":
                    req = log.predict_log.request
                    inputs = {k: tensor_proto_to_ndarray(k, v) for k, v in req.inputs.items()}
                    self.predict(req.model_spec.signature_name, inputs, list(req.output_filter))
                elif kind == "classify_log":
                    req = log.classify_log.request
                    self.classify(req.model_spec.signature_name, req.input)
                elif kind == "regress_log":
                    req = log.regress_log.request
                    self.regress(req.model_spec.signature_name, req.input)
                else:
                    raise errors.ServingError(
                        errors.grpc.StatusCode.UNIMPLEMENTED,
                        f"Unsupported log_type for warmup: {kind}")
            count += 1
        return count


def _array_dtype_string(array: np.ndarray) -> str:
    import tensorflow as tf
    if array.dtype.kind in "OSU":
        return "string"
    return dtype_string(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)
