"""Scoring: load a SavedModel, score serialized tf.Examples and their perturbed copies (Beam DoFn).

Every signature, input and output name comes from the BehaviorValidatorConfig; feature dtypes come
from the schema (`serving_features_from_schema`).
"""
import importlib
import math
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import apache_beam as beam
import numpy as np
import tensorflow as tf

from components.behavior_validator.config import BehaviorValidatorConfig

_SCHEMA_TYPE_TO_DTYPE = {1: "string", 2: "int64", 3: "float32"}  # schema_pb2.FeatureType


def serving_features_from_schema(schema, label_key: str) -> Dict[str, str]:
    """Feature name -> 'string' | 'int64' | 'float32' for every schema feature available at serving
    (tensorflow_metadata Schema; the label and features excluded from SERVING are left out)."""
    out = {}
    for f in schema.feature:
        if f.name == label_key or "SERVING" in f.not_in_environment:
            continue
        if f.type not in _SCHEMA_TYPE_TO_DTYPE:
            raise ValueError(f"schema feature {f.name!r} has unsupported type {f.type}")
        out[f.name] = _SCHEMA_TYPE_TO_DTYPE[f.type]
    return out


# ----------------------------------------------------------------------------------------------
# tf.Example helpers


def feature_values(example: tf.train.Example, name: str) -> list:
    if name not in example.features.feature:
        return []
    f = example.features.feature[name]
    kind = f.WhichOneof("kind")
    return list(getattr(f, kind).value) if kind else []


def set_feature(example: tf.train.Example, name: str, value: Any, dtype: str) -> None:
    """Replaces feature `name` by the single `value` of dtype 'string' | 'int64' | 'float32'."""
    f = example.features.feature[name]
    f.Clear()
    if dtype == "string":
        f.bytes_list.value.append(value.encode() if isinstance(value, str) else bytes(value))
    elif dtype == "int64":
        f.int64_list.value.append(int(value))
    else:
        f.float_list.value.append(float(value))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def group_key(example: tf.train.Example, features: Sequence[str], filename: str) -> str:
    """The example's group (unit of resampling): the values of `features`, joined by '/'
    (e.g. month/day -> '6/12'); ValueError naming the file and feature when one is missing."""
    parts = []
    for name in features:
        values = feature_values(example, name)
        if len(values) != 1:
            raise ValueError(f"{filename}: eval example has group_by feature {name!r} = {values!r}; "
                             "expected exactly one value")
        parts.append(_text(values[0]))
    return "/".join(parts)


def perturb(value: float, op: str, amount: float) -> float:
    if op == "add":
        return value + amount
    if op == "multiply":
        return value * amount
    return amount


def _abs_delta(a: float, b: float) -> float:
    d = abs(float(a) - float(b))
    return d if math.isfinite(d) else math.inf


# ----------------------------------------------------------------------------------------------
# Models


def load_saved_model(model_path: str, cfg: BehaviorValidatorConfig):
    """tf.saved_model.load; a model with ops this process has not registered is loaded again after
    importing `cfg.op_modules` (so a model of core ops never pays for those imports)."""
    try:
        return tf.saved_model.load(model_path)
    except RuntimeError as e:  # "Op type not registered 'X' in binary running on ..."
        if not cfg.op_modules or "Op type not registered" not in str(e):
            raise
    for module in cfg.op_modules:
        importlib.import_module(module)
    return tf.saved_model.load(model_path)


def load_examples_fn(model_path: str, cfg: BehaviorValidatorConfig):
    """(loaded SavedModel, its examples signature); ValueError when the signature is missing."""
    model = load_saved_model(model_path, cfg)
    if cfg.examples_signature not in model.signatures:
        raise ValueError(f"SavedModel {model_path} has no signature {cfg.examples_signature!r} "
                         f"(has {sorted(model.signatures.keys())})")
    return model, model.signatures[cfg.examples_signature]


def predict(fn, serialized: Sequence[bytes], model_path: str, cfg: BehaviorValidatorConfig) -> np.ndarray:
    """Predictions (float64, one per example) of the examples signature `fn`."""
    out = fn(**{cfg.examples_input: tf.constant(list(serialized), dtype=tf.string)})
    if cfg.prediction_key not in out:
        raise ValueError(f"SavedModel {model_path}: {cfg.examples_signature} returned "
                         f"{sorted(out)} instead of {cfg.prediction_key!r}")
    preds = np.asarray(out[cfg.prediction_key].numpy(), dtype=np.float64).reshape(-1)
    if preds.shape[0] != len(serialized):
        raise ValueError(f"SavedModel {model_path}: {cfg.prediction_key} has {preds.shape[0]} "
                         f"values for {len(serialized)} examples")
    return preds


# ----------------------------------------------------------------------------------------------
# Eval files


def eval_files(file_patterns: Union[str, Sequence[str]]) -> List[str]:
    """The files of every pattern (one pattern, or a list: e.g. the eval splits of several Examples)."""
    files = []
    for pattern in [file_patterns] if isinstance(file_patterns, str) else file_patterns:
        matched = sorted(tf.io.gfile.glob(pattern))
        if not matched:
            raise ValueError(f"no eval example files match {pattern}")
        files += matched
    if not files:
        raise ValueError("no eval example file patterns given")
    return files


def read_sample(file_patterns: Union[str, Sequence[str]], n: int) -> List[bytes]:
    """The first n serialized tf.Examples of the gzipped TFRecord files."""
    ds = tf.data.TFRecordDataset(eval_files(file_patterns), compression_type="GZIP")
    return [r.numpy() for r in ds.take(n)]


# ----------------------------------------------------------------------------------------------
# Beam: scoring DoFn


class ScoreExamplesDoFn(beam.DoFn):
    """Scores batches of (file, serialized tf.Example) and their perturbed copies.

    Emits one dict per example: slice value, group key, label, prediction, baseline prediction (or None),
    max |delta| per invariant feature and prediction delta per directional perturbation (only when
    the perturbed feature is present).
    """

    def __init__(self, model_path: str, baseline_model_path: Optional[str],
                 config: BehaviorValidatorConfig, feature_dtypes: Mapping[str, str]):
        self._model_path = model_path
        self._baseline_model_path = baseline_model_path
        self._config = config
        self._dtypes = dict(feature_dtypes)

    def setup(self):
        self._model, self._fn = load_examples_fn(self._model_path, self._config)
        self._baseline_fn = None
        if self._baseline_model_path:
            self._baseline, self._baseline_fn = load_examples_fn(self._baseline_model_path, self._config)

    def _variant(self, ex: tf.train.Example, feature: str, value: Any) -> bytes:
        variant = tf.train.Example()
        variant.CopyFrom(ex)
        set_feature(variant, feature, value, self._dtypes[feature])
        return variant.SerializeToString()

    def process(self, batch: List[Tuple[str, bytes]]) -> Iterable[Dict[str, Any]]:
        cfg = self._config
        inputs: List[bytes] = []
        plans = []
        for filename, serialized in batch:
            ex = tf.train.Example.FromString(serialized)
            label = feature_values(ex, cfg.label_key)
            if len(label) != 1 or label[0] not in (0, 1):
                raise ValueError(f"{filename}: eval example has label {cfg.label_key!r} = {label!r}; "
                                 "expected exactly one int 0 or 1")
            slice_values = feature_values(ex, cfg.slice_feature)
            plan = {"slice": _text(slice_values[0]) if slice_values else "<missing>",
                    "group": group_key(ex, cfg.group_by_features, filename), "label": int(label[0]),
                    "orig": len(inputs), "inv": {}, "dir": {}}
            inputs.append(serialized)
            for feature, values in cfg.invariance_values.items():
                plan["inv"][feature] = list(range(len(inputs), len(inputs) + len(values)))
                inputs.extend(self._variant(ex, feature, value) for value in values)
            for p in cfg.directional_perturbations:
                current = feature_values(ex, p["feature"])
                if not current or not math.isfinite(current[0]):
                    continue
                plan["dir"][p["name"]] = len(inputs)
                inputs.append(self._variant(ex, p["feature"], perturb(current[0], p["op"], p["value"])))
            plans.append(plan)
        preds = predict(self._fn, inputs, self._model_path, cfg)
        baseline = None
        if self._baseline_fn is not None:
            baseline = predict(self._baseline_fn, [s for _, s in batch], self._baseline_model_path, cfg)
        for i, plan in enumerate(plans):
            pred = float(preds[plan["orig"]])
            yield {
                "slice": plan["slice"],
                "group": plan["group"],
                "label": plan["label"],
                "pred": pred,
                "baseline_pred": None if baseline is None else float(baseline[i]),
                "inv": {f: max(_abs_delta(preds[j], pred) for j in idx) for f, idx in plan["inv"].items()},
                "dir": {n: float(preds[j]) - pred for n, j in plan["dir"].items()},
            }
