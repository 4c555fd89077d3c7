"""Can TFX's request_builder build requests for this SavedModel? (checked before serving it)

TFX's request_builder raises (failing the whole component) when a requested signature is missing or
is a Predict signature without exactly one DT_STRING [None] input. Such a model cannot be queried,
so the executor marks it INFRA_NOT_BLESSED instead; this module finds the reason.
"""
import os
from typing import Optional, Sequence

import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

_SERVE_TAG = "serve"
_DEFAULT_SIGNATURE = "serving_default"
_PREDICT_METHOD = "tensorflow/serving/predict"


def find_request_problem(saved_model_dir: str, tag_set: Sequence[str] = (),
                         signature_names: Sequence[str] = ()) -> Optional[str]:
    """A message naming the file / signature / input at fault, or None when requests can be built.

    Defaults mirror request_builder: tag_set {"serve"}, signature_names ["serving_default"].
    """
    pb_path = os.path.join(saved_model_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    try:
        with tf.io.gfile.GFile(pb_path, "rb") as f:
            saved_model.ParseFromString(f.read())
    except Exception as e:  # pylint: disable=broad-except  (missing file, DecodeError, ...)
        return f"cannot read SavedModel {pb_path}: {type(e).__name__}: {e}"

    tags = set(tag_set) or {_SERVE_TAG}
    meta_graph = next((mg for mg in saved_model.meta_graphs
                       if tags.issubset(mg.meta_info_def.tags)), None)
    if meta_graph is None:
        found = [sorted(mg.meta_info_def.tags) for mg in saved_model.meta_graphs]
        return f"{pb_path}: no MetaGraph with tags {sorted(tags)} (found {found})"

    for name in list(signature_names) or [_DEFAULT_SIGNATURE]:
        if name not in meta_graph.signature_def:
            return (f"{pb_path}: signature {name!r} not found "
                    f"(available: {sorted(meta_graph.signature_def)})")
        sig = meta_graph.signature_def[name]
        if sig.method_name != _PREDICT_METHOD:
            continue  # classify / regress signatures take tf.Example lists
        inputs = dict(sig.inputs)
        if len(inputs) != 1:
            return (f"{pb_path}: signature {name!r} must have exactly one input (serialized "
                    f"tf.Example, DT_STRING [None]); it has {len(inputs)}: {sorted(inputs)}")
        (key, info), = inputs.items()
        dims = [d.size for d in info.tensor_shape.dim]
        if info.dtype != types_pb2.DT_STRING or info.tensor_shape.unknown_rank or len(dims) != 1:
            return (f"{pb_path}: signature {name!r} input {key!r} must be DT_STRING [None] "
                    f"(serialized tf.Example); got {types_pb2.DataType.Name(info.dtype)} {dims}")
    return None
