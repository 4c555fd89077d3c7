"""The Trainer's second model family: gradient-boosted trees (TensorFlow Decision Forests).

Prediction moment: contract.PREDICTION_LEAD_MINUTES before the scheduled departure (data/README.md). The model
reads only what a request carries at that moment: the Keras
model's features (`trainer.MODEL_FEATURES`, contract columns), and its serving contract is the Keras
model's: `serving_default` (raw features) and `serving_tf_example`, both returning `late_probability`.

One transformation (`model_inputs`) feeds training and both signatures. Precipitation and visibility
carry monotonic constraints (more rain or less visibility never lowers a score). Trees are trained on
the true label mix and class balance is a constant logit shift in the signatures (log of the
training split's negative/positive odds), so scores sit around 0.5 like the Keras model's (the
decision threshold is 0.5). The SavedModel holds TF core ops and TF-DF's inference ops only, which TF
Serving >= 2.11 bundles; a Python process imports `tensorflow_decision_forests` before loading it
(serving/server/custom_ops.py). No warm start: a forest is trained cold on the whole window.
"""
import json
import math
import os
from typing import Dict, Optional

import tensorflow as tf

from data import contract as F
from pipeline.model import trainer

FAMILY = "gbt"
# The features and monotone directions are the Keras trainer's (one list for both families): a feature
# added there reaches the forest too.
MODEL_FEATURES = trainer.MODEL_FEATURES
MONOTONIC = trainer.MONOTONE_FEATURES
DEFAULT_HPARAMS = {"num_trees": 300, "max_depth": 6, "shrinkage": 0.1, "seed": 42, "num_threads": 2}


def model_inputs(features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Raw contract features -> the forest's inputs: strings as they are, numbers as float32 (NaN =
    missing). Used by training and by both exported signatures."""
    return {k: features[k] if F.tf_dtype_name(k) == "string" else tf.cast(features[k], tf.float32)
            for k in MODEL_FEATURES}


def training_dataset(columns, labels) -> tf.data.Dataset:
    """(model inputs, label) batches of `trainer.load_examples`' arrays, in their canonical order, no
    shuffle (the same examples give the same forest)."""
    return trainer.make_dataset(columns, labels, 8192, shuffle=False).map(lambda f, y: (model_inputs(f), y))


def keep_autograph_out() -> None:
    """AutoGraph skips tf_keras and TF-DF's own code (graph code already): on 2 busy cores a fit on
    3,000 rows took 105 s with it, 15 s without."""
    from tensorflow.python.autograph.core import config as autograph_config
    trainer.keep_autograph_out_of_tf_keras()
    if not any(getattr(r, "_prefix", None) == "tensorflow_decision_forests" for r in autograph_config.CONVERSION_RULES):
        autograph_config.CONVERSION_RULES = ((autograph_config.DoNotConvert("tensorflow_decision_forests"),)
                                             + tuple(autograph_config.CONVERSION_RULES))


def build_model(hparams: Dict):
    import tensorflow_decision_forests as tfdf  # lazy: only this family needs it
    return tfdf.keras.GradientBoostedTreesModel(
        features=[tfdf.keras.FeatureUsage(name, monotonic=direction) for name, direction in MONOTONIC.items()],
        exclude_non_specified_features=False,
        # YDF requires the hessian gain with monotonic constraints. With it, example weights make 1.9.1
        # learn nothing (constant scores), hence no class weights: the balance is a logit shift.
        use_hessian_gain=True,
        apply_link_function=False,  # the model outputs logits; the signatures shift and squash them
        num_trees=hparams["num_trees"], max_depth=hparams["max_depth"], shrinkage=hparams["shrinkage"],
        random_seed=hparams["seed"], num_threads=hparams["num_threads"], verbose=0)


def add_serving_signatures(model, logit_shift: float) -> Dict[str, tf.types.experimental.ConcreteFunction]:
    """The contract's two signatures; both return {'late_probability': float32 [batch]}."""
    raw_spec = {k: tf.TensorSpec([None], F.tf_dtype(k), name=k) for k in F.FEATURE_KEYS}

    def score(features):
        logits = tf.reshape(model(model_inputs(features)), [-1])
        return {F.PREDICTION_KEY: tf.sigmoid(logits + tf.constant(logit_shift, tf.float32))}

    @tf.function(input_signature=[raw_spec])
    def serve_raw(features):
        return score(features)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=F.EXAMPLES_INPUT)])
    def serve_examples(examples):
        return score(trainer.parse_examples(examples, with_label=False))

    return {F.SERVING_SIGNATURE: serve_raw.get_concrete_function(),
            F.EXAMPLES_SIGNATURE: serve_examples.get_concrete_function()}


def fit(train_files, hparams: Dict = None):
    """(fitted forest, summary): the forest outputs logits; summary["logit_shift"] balances the classes."""
    hparams = {**DEFAULT_HPARAMS, **(hparams or {})}
    keep_autograph_out()
    columns, labels = trainer.load_examples(train_files)
    rate = float(labels.mean())
    if not 0 < rate < 1:
        raise ValueError(f"training split has label rate {rate}: need both classes of '{F.LABEL_KEY}'")
    model = build_model(hparams)
    model.fit(training_dataset(columns, labels), verbose=0)
    return model, {"family": FAMILY, "hparams": hparams,
                   "train_statistics": {F.LABEL_KEY: {"rate": rate, "count": int(labels.size)}},
                   "logit_shift": math.log((1 - rate) / rate), "num_trees": int(model.make_inspector().num_trees())}


def export(model, summary: Dict, serving_model_dir: str) -> None:
    """Writes the fitted forest as a SavedModel with the contract's signatures."""
    model.save(serving_model_dir, save_format="tf", signatures=add_serving_signatures(model, summary["logit_shift"]))


def train_and_export(train_files, schema_path: str, serving_model_dir: str, hparams: Dict = None,
                     log_dir: str = None, base_model_dir: Optional[str] = None) -> Dict:
    """Fits the forest on the training files and writes the SavedModel; returns a summary.

    Same arguments as trainer.train_and_export (the schema is not needed: the forest builds its own
    dictionaries). Deterministic: the same examples (in any file or record order), hyperparameters and
    seed give the same forest.
    """
    del schema_path
    model, summary = fit(train_files, hparams)
    export(model, summary, serving_model_dir)
    summary = {**summary,
               "start": {"start": "cold", "base_model": base_model_dir,
                         "reason": "gradient-boosted trees cannot warm-start: trained on the whole window"}}
    if log_dir:
        tf.io.gfile.makedirs(log_dir)
        with tf.io.gfile.GFile(os.path.join(log_dir, "training_summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary
