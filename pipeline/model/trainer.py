"""Trainer module (`run_fn`): a Keras model that carries its own preprocessing.

Vocabularies come from the curated schema's string domains; numeric imputation and normalisation are
fitted on the training split. The exported SavedModel has two signatures (see data/contract.py):
raw feature tensors (`serving_default`, what a REST client sends) and serialized tf.Example
(`serving_tf_example`, what TFMA and InfraValidator send).
"""
import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from data import contract

# Weather with a known direction (worse = later): these reach the score only through a monotone term
# (non-negative weights on increasing transforms), so "more rain" or "less visibility" can never lower it.
# In the MLP they would not be monotone: on the 2013 replay a Feb model lowered its score by 0.078 on
# average when precipitation rose by 0.5 in/h (the behaviour validator's directional check).
# Direction: +1 the score never falls as the feature rises (rain), -1 never rises (visibility).
MONOTONE_FEATURES = {"precip": +1, "visib": -1}
# Numeric inputs of the MLP: imputed (training mean), standardised, plus a missing-value indicator.
NUMERIC_FEATURES = (("distance",) + tuple(f for f in contract.WEATHER_FEATURES if f not in MONOTONE_FEATURES)
                    + contract.OPERATIONS_FEATURES)
# Small integer features one-hot encoded over their known range. Not `month`: a span is a month, so the
# month a model is scored on never occurs in its training data (forward AUC 0.7048 without it, window all,
# warm start; README "Continuous training").
INT_CATEGORIES = {
    "day_of_week": range(0, 7),
    "sched_dep_hour": range(0, 24),
    "sched_arr_hour": range(0, 24),
}
EMBEDDED_FEATURES = {"dest": 8}  # high-cardinality string features get an embedding
# Every feature the model reads, of every family (pipeline/model/gbt.py reads these too); the other contract
# features (`month`, `day`, the invariant ones) are accepted by the signatures and ignored.
MODEL_FEATURES = contract.CATEGORICAL_FEATURES + tuple(INT_CATEGORIES) + NUMERIC_FEATURES + tuple(MONOTONE_FEATURES)

DEFAULT_HPARAMS = {"epochs": 6, "batch_size": 256, "learning_rate": 2e-3, "hidden_units": [64, 32],
                   "dropout": 0.2, "seed": 42, "warm_start": True, "warm_start_epochs": 3}
feature_dtype = contract.tf_dtype
# Shuffle buffer over the canonical (time) order: a partial shuffle, the latest weeks still come late.
SHUFFLE_BUFFER = 50_000


_MISSING = {tf.string: "", tf.int64: 0, tf.float32: float("nan")}


def parse_examples(serialized: tf.Tensor, with_label: bool) -> Dict[str, tf.Tensor]:
    """Serialized tf.Examples -> {feature: [batch] tensor}.

    A feature may be absent or present with no value (CsvExampleGen writes empty cells that way);
    both become the missing marker the model understands (NaN, '' or 0).
    """
    keys = contract.FEATURE_KEYS + ((contract.LABEL_KEY,) if with_label else ())
    parsed = tf.io.parse_example(serialized, {k: tf.io.VarLenFeature(feature_dtype(k)) for k in keys})
    batch = tf.shape(serialized, out_type=tf.int64)[0]
    dense = {}
    for key, sparse in parsed.items():
        first_values = tf.sparse.SparseTensor(sparse.indices, sparse.values, [batch, 1])
        first_values = tf.sparse.retain(first_values, sparse.indices[:, 1] < 1)
        dense[key] = tf.reshape(tf.sparse.to_dense(first_values, _MISSING[feature_dtype(key)]), [-1])
    return dense


def vocabularies_from_schema(schema_path: str) -> Dict[str, List[str]]:
    """String domain of every categorical feature, read from the curated schema."""
    schema = schema_pb2.Schema()
    with tf.io.gfile.GFile(schema_path) as f:
        text_format.Parse(f.read(), schema)
    domains = {d.name: list(d.value) for d in schema.string_domain}
    vocabs = {}
    for feature in schema.feature:
        if feature.name not in contract.CATEGORICAL_FEATURES:
            continue
        if feature.HasField("string_domain"):
            vocabs[feature.name] = list(feature.string_domain.value)
        elif feature.HasField("domain"):
            vocabs[feature.name] = domains[feature.domain]
    missing = set(contract.CATEGORICAL_FEATURES) - set(vocabs)
    if missing:
        raise ValueError(f"{schema_path}: no string domain for categorical feature(s) {sorted(missing)}")
    return vocabs


def load_examples(file_patterns: Sequence[str]) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Every example of the gzipped tf.Example files as (feature columns, labels), in canonical order.

    Sorted by content, column by column in the CSV's order (month, day and departure time first), so the
    same examples give the same arrays whatever the order of the files and of the records in them
    (ExampleGen's output order is not stable between runs or Beam modes) and training stays deterministic.
    """
    files = tf.io.gfile.glob(list(file_patterns))
    if not files:
        raise FileNotFoundError(f"no example files match {list(file_patterns)}")
    chunks: Dict[str, List[np.ndarray]] = {k: [] for k in contract.CSV_COLUMNS}
    for batch in tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096).map(
            lambda x: parse_examples(x, with_label=True)):
        for key, values in batch.items():
            chunks[key].append(values.numpy())
    if not chunks[contract.LABEL_KEY]:
        raise ValueError(f"no examples in {sorted(files)}")
    columns = {k: np.concatenate(v) for k, v in chunks.items()}
    order = np.lexsort([columns[k].astype(bytes) if columns[k].dtype == object else columns[k]
                        for k in reversed(contract.CSV_COLUMNS)])  # lexsort's primary key is the last one
    labels = columns.pop(contract.LABEL_KEY)[order]
    return {k: v[order] for k, v in columns.items()}, labels


def make_dataset(columns: Dict[str, np.ndarray], labels: np.ndarray, batch_size: int, shuffle: bool,
                 seed: int = 42) -> tf.data.Dataset:
    """(features, label) batches of in-memory examples (`load_examples`); a seeded shuffle."""
    ds = tf.data.Dataset.from_tensor_slices((columns, labels))
    if shuffle:
        ds = ds.shuffle(SHUFFLE_BUFFER, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def numeric_statistics(columns: Dict[str, np.ndarray], labels: np.ndarray) -> Dict[str, Dict[str, float]]:
    """Mean / std of each numeric feature, ignoring missing values; label rate."""
    stats = {}
    for k in NUMERIC_FEATURES:
        values = columns[k].astype(np.float32)
        present = values[~np.isnan(values)]
        mean = float(present.mean()) if present.size else 0.0
        std = float(present.std()) if present.size > 1 else 1.0
        stats[k] = {"mean": mean, "std": std if std > 1e-6 else 1.0,
                    "missing_fraction": float(1 - present.size / max(values.size, 1))}
    stats[contract.LABEL_KEY] = {"rate": float(labels.mean()), "count": int(labels.size)}
    return stats


class ImputeStandardize(tf.keras.layers.Layer):
    """[batch, n] floats -> [batch, 2n]: standardised values (missing -> mean), clipped to +-CLIP
    standard deviations so that values far outside the training range are not extrapolated, and
    missing indicators."""

    CLIP = 5.0

    def __init__(self, means, stds, **kwargs):
        super().__init__(**kwargs)
        self.means = [float(m) for m in means]
        self.stds = [float(s) for s in stds]

    def call(self, x):
        missing = tf.math.is_nan(x)
        mean = tf.constant(self.means, tf.float32)
        filled = tf.where(missing, mean, x)
        standardized = tf.clip_by_value((filled - mean) / tf.constant(self.stds, tf.float32),
                                        -self.CLIP, self.CLIP)
        return tf.concat([standardized, tf.cast(missing, tf.float32)], axis=1)

    def get_config(self):
        return {**super().get_config(), "means": self.means, "stds": self.stds}


class WorseWeather(tf.keras.layers.Layer):
    """precip (in/h) and visib (miles), each [batch] -> [batch, 5] features that never decrease as
    precipitation rises or visibility falls: any rain, log-scaled rain, heavy rain (>= 0.1 in/h),
    visibility loss, visibility under 3 miles. Missing values count as fair weather."""

    def call(self, precip_visib):
        precip, visib = precip_visib
        precip = tf.where(tf.math.is_nan(precip), 0.0, tf.maximum(precip, 0.0))
        visib = tf.where(tf.math.is_nan(visib), 10.0, tf.clip_by_value(visib, 0.0, 10.0))
        return tf.stack([tf.cast(precip > 0, tf.float32), tf.math.log1p(20.0 * precip),
                         tf.cast(precip >= 0.1, tf.float32), (10.0 - visib) / 10.0,
                         tf.cast(visib < 3.0, tf.float32)], axis=1)


def build_model(vocabularies: Dict[str, List[str]], stats: Dict[str, Dict[str, float]],
                hparams: Dict) -> tf.keras.Model:
    inputs = {k: tf.keras.Input(shape=(), dtype=feature_dtype(k), name=k) for k in contract.FEATURE_KEYS}
    encoded = []
    for name in contract.CATEGORICAL_FEATURES:
        lookup = tf.keras.layers.StringLookup(vocabulary=vocabularies[name], name=f"{name}_lookup",
                                              output_mode="int" if name in EMBEDDED_FEATURES else "one_hot")
        x = lookup(inputs[name])
        if name in EMBEDDED_FEATURES:
            x = tf.keras.layers.Embedding(lookup.vocabulary_size(), EMBEDDED_FEATURES[name],
                                          name=f"{name}_embedding")(x)
        encoded.append(x)
    for name, values in INT_CATEGORIES.items():
        encoded.append(tf.keras.layers.IntegerLookup(vocabulary=list(values), output_mode="one_hot",
                                                     name=f"{name}_lookup")(inputs[name]))
    numeric = tf.keras.layers.Concatenate(name="numeric")(
        [tf.keras.layers.Reshape((1,))(tf.cast(inputs[k], tf.float32)) for k in NUMERIC_FEATURES])
    encoded.append(ImputeStandardize([stats[k]["mean"] for k in NUMERIC_FEATURES],
                                     [stats[k]["std"] for k in NUMERIC_FEATURES],
                                     name="impute_standardize")(numeric))
    x = tf.keras.layers.Concatenate(name="all_features")(encoded)
    for i, units in enumerate(hparams["hidden_units"]):
        x = tf.keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
        if hparams["dropout"]:
            x = tf.keras.layers.Dropout(hparams["dropout"], seed=hparams["seed"])(x)
    mlp_logit = tf.keras.layers.Dense(1, name="mlp_logit")(x)
    weather = WorseWeather(name="worse_weather")(
        [tf.cast(inputs["precip"], tf.float32), tf.cast(inputs["visib"], tf.float32)])
    weather_logit = tf.keras.layers.Dense(1, use_bias=False, kernel_constraint=tf.keras.constraints.NonNeg(),
                                          # prior: worse weather, later; training can shrink it to 0
                                          kernel_initializer=tf.keras.initializers.Constant(0.2),
                                          name="weather_logit")(weather)
    output = tf.keras.layers.Activation("sigmoid", name="late_probability")(
        tf.keras.layers.Add(name="logit")([mlp_logit, weather_logit]))
    model = tf.keras.Model(inputs=inputs, outputs=output, name=contract.MODEL_NAME)
    model.compile(optimizer=tf.keras.optimizers.Adam(hparams["learning_rate"]),
                  loss="binary_crossentropy",
                  metrics=[tf.keras.metrics.AUC(name="auc"), tf.keras.metrics.Recall(name="recall")])
    return model


def add_serving_signatures(model: tf.keras.Model) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    """The two exported signatures; both return {'late_probability': float32 [batch]}."""
    raw_spec = {k: tf.TensorSpec([None], feature_dtype(k), name=k) for k in contract.FEATURE_KEYS}

    @tf.function(input_signature=[raw_spec])
    def serve_raw(features):
        return {contract.PREDICTION_KEY: tf.reshape(model(features, training=False), [-1])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.EXAMPLES_INPUT)])
    def serve_examples(examples):
        features = parse_examples(examples, with_label=False)
        return {contract.PREDICTION_KEY: tf.reshape(model(features, training=False), [-1])}

    return {contract.SERVING_SIGNATURE: serve_raw.get_concrete_function(),
            contract.EXAMPLES_SIGNATURE: serve_examples.get_concrete_function()}


def keep_autograph_out_of_tf_keras() -> None:
    """Stops AutoGraph from converting tf_keras' own code when a model is first traced.

    TF 2.16's AutoGraph skips the `keras` package but not `tf_keras` (legacy Keras), so the first
    `fit` converts ~2,300 library functions: 20-35 s of pure overhead per Trainer run. tf_keras is
    written as graph code (it was tf.keras), so it needs no conversion.
    """
    from tensorflow.python.autograph.core import config as autograph_config
    rule = autograph_config.DoNotConvert("tf_keras")
    if not any(getattr(r, "_prefix", None) == "tf_keras" for r in autograph_config.CONVERSION_RULES):
        autograph_config.CONVERSION_RULES = (rule,) + tuple(autograph_config.CONVERSION_RULES)


def warm_start(model: tf.keras.Model, base_model_dir: Optional[str]) -> Dict:
    """Copies the weights of the model at `base_model_dir` (the serving model) into `model` when
    compatible: same layers with the same weight shapes and the same vocabularies. Returns
    {"start": "warm"|"cold", "base_model": dir or None, "reason": why}."""
    if not base_model_dir or not tf.io.gfile.exists(base_model_dir):  # ServedModel's when nothing serves
        return {"start": "cold", "base_model": None, "reason": "no serving model yet"}
    try:
        base = tf.keras.models.load_model(base_model_dir, compile=False,
                                          custom_objects={"ImputeStandardize": ImputeStandardize,
                                                          "WorseWeather": WorseWeather})
    except Exception as e:  # not a Keras SavedModel of this trainer
        return {"start": "cold", "base_model": base_model_dir,
                "reason": f"cannot load the serving model as Keras: {type(e).__name__}: {str(e)[:200]}"}
    base_layers = {layer.name: layer for layer in base.layers}
    # Layers that carry state (weights, vocabularies) are named in build_model; the others are not compared.
    stateful = [layer for layer in model.layers if layer.weights or hasattr(layer, "get_vocabulary")]
    for layer in stateful:
        other = base_layers.get(layer.name)
        if other is None or type(other).__name__ != type(layer).__name__:
            return {"start": "cold", "base_model": base_model_dir,
                    "reason": f"architecture differs: layer {layer.name!r} is not in the serving model"}
        if hasattr(layer, "get_vocabulary") and list(layer.get_vocabulary()) != list(other.get_vocabulary()):
            return {"start": "cold", "base_model": base_model_dir,
                    "reason": f"vocabulary of {layer.name!r} differs from the serving model's"}
        shapes, base_shapes = [w.shape for w in layer.get_weights()], [w.shape for w in other.get_weights()]
        if shapes != base_shapes:
            return {"start": "cold", "base_model": base_model_dir,
                    "reason": f"weights of {layer.name!r} have shapes {base_shapes} in the serving model, "
                              f"{shapes} here"}
    for layer in stateful:
        if layer.weights:
            layer.set_weights(base_layers[layer.name].get_weights())
    return {"start": "warm", "base_model": base_model_dir, "reason": "same layers, shapes and vocabularies"}


def train_and_export(train_files, schema_path: str, serving_model_dir: str,
                     hparams: Dict = None, log_dir: str = None, base_model_dir: Optional[str] = None) -> Dict:
    """Fits the model and writes the SavedModel; returns a summary (stats, class weights, start, history).

    Deterministic: the same examples in any file or record order, hyperparameters and seed give the same
    model (canonical order of the examples, seeded shuffle, op determinism).
    With `hparams["warm_start"]` and a compatible `base_model_dir`, training continues from its
    weights for `warm_start_epochs` epochs.
    """
    hparams = {**DEFAULT_HPARAMS, **(hparams or {})}
    keep_autograph_out_of_tf_keras()
    tf.keras.utils.set_random_seed(hparams["seed"])
    tf.config.experimental.enable_op_determinism()
    vocabularies = vocabularies_from_schema(schema_path)
    columns, labels = load_examples(train_files)
    stats = numeric_statistics(columns, labels)
    pos_rate = stats[contract.LABEL_KEY]["rate"]
    if not 0 < pos_rate < 1:
        raise ValueError(f"training split has label rate {pos_rate}: need both classes of '{contract.LABEL_KEY}'")
    # Balanced class weights: ~25% of flights are late.
    class_weight = {0: 0.5 / (1 - pos_rate), 1: 0.5 / pos_rate}
    model = build_model(vocabularies, stats, hparams)
    start = (warm_start(model, base_model_dir) if hparams["warm_start"]
             else {"start": "cold", "base_model": base_model_dir, "reason": "warm start disabled"})
    epochs = hparams["warm_start_epochs"] if start["start"] == "warm" else hparams["epochs"]
    callbacks = ([tf.keras.callbacks.TensorBoard(log_dir=log_dir, write_graph=False, profile_batch=0)]
                 if log_dir else [])
    history = model.fit(make_dataset(columns, labels, hparams["batch_size"], shuffle=True, seed=hparams["seed"]),
                        epochs=epochs, class_weight=class_weight, verbose=2,
                        callbacks=callbacks)    # No validation pass here: the Evaluator (TFMA) evaluates the eval split, overall and by slice.
    model.save(serving_model_dir, save_format="tf", signatures=add_serving_signatures(model))
    summary = {"hparams": hparams, "class_weight": class_weight, "train_statistics": stats, "start": start,
               "history": {k: [float(v) for v in vs] for k, vs in history.history.items()}}
    if log_dir:
        tf.io.gfile.makedirs(log_dir)
        with tf.io.gfile.GFile(os.path.join(log_dir, "training_summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor): trains the custom config's model family."""
    from pipeline.model import families  # lazy: families imports this module
    custom = fn_args.custom_config or {}
    train = families.train_fn(custom.get("family", families.DEFAULT))
    train(fn_args.train_files, fn_args.schema_path, fn_args.serving_model_dir, hparams=custom.get("hparams"),
          log_dir=fn_args.model_run_dir, base_model_dir=fn_args.base_model)
