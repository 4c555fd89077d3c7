"""Ops a SavedModel needs beyond TensorFlow's core, registered only when a model needs them.

TF Serving >= 2.11 bundles TensorFlow Decision Forests' inference ops (`SimpleML*`); a Python process
registers them by importing `tensorflow_decision_forests`. Every place that loads a SavedModel of this
project (model server, ct scoring, TFMA's loader, model selection) goes through `ensure_ops`, so a
Keras model never pays for that import. The behaviour validator (a generic component) is given
`OP_MODULES` through its config.
"""
import importlib
from typing import Dict, List, Set

# Op name prefix -> module whose import registers those ops (and their kernels) in this process.
OP_PREFIX_MODULES: Dict[str, str] = {"SimpleML": "tensorflow_decision_forests"}
OP_MODULES = tuple(sorted(set(OP_PREFIX_MODULES.values())))


def saved_model_ops(path: str) -> Set[str]:
    """Every op type in the SavedModel's graphs and function libraries."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(tf.io.gfile.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    ops = set()
    for meta_graph in saved_model.meta_graphs:
        ops |= {node.op for node in meta_graph.graph_def.node}
        for function in meta_graph.graph_def.library.function:
            ops |= {node.op for node in function.node_def}
    return ops


def unregistered_ops(path: str) -> List[str]:
    """Op types of the SavedModel that this process has not registered (sorted)."""
    from tensorflow.python.framework import op_def_registry
    return sorted(op for op in saved_model_ops(path) if op_def_registry.get(op) is None)


def ensure_ops(path: str) -> List[str]:
    """Imports the modules that register the SavedModel's non-core ops, when some are missing.

    Returns the modules imported (none for a model of core ops). ValueError naming the model and the
    ops when an op belongs to no known module or its module is not installed.
    """
    missing = unregistered_ops(path)
    modules = sorted({m for op in missing for prefix, m in OP_PREFIX_MODULES.items() if op.startswith(prefix)})
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"{path}: the SavedModel needs ops of {module}, which is not installed ({e})") from e
    still = unregistered_ops(path) if modules else missing
    if still:
        raise ValueError(f"{path}: the SavedModel uses ops this process cannot run: {', '.join(still)}")
    return modules


def load(path: str, tags=None):
    """tf.saved_model.load after `ensure_ops`."""
    import tensorflow as tf
    ensure_ops(path)
    return tf.saved_model.load(path, tags=tags)
