"""The gradient-boosted family (pipeline/model/gbt.py): one transformation for training and both
signatures (skew), only TF core + TF-DF inference ops in the export, monotone weather, invariance,
determinism, and the Trainer's dispatch by family."""
import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data import contract
from data.paths import REPO_ROOT
from pipeline.model import families, gbt, trainer
from tests.gbt_model import HPARAMS, SCHEMA


def _rows(files, limit=None):
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        row = {}
        for key in contract.FEATURE_KEYS:
            feature = example.features.feature.get(key)
            values = None if feature is None else getattr(feature, feature.WhichOneof("kind")).value if \
                feature.WhichOneof("kind") else []
            value = values[0] if values else None
            row[key] = value.decode() if isinstance(value, bytes) else value
        rows.append(row)
        if limit and len(rows) == limit:
            break
    return rows


def _serialized(files):
    return [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def _raw_tensors(rows):
    """What a REST client sends to serving_default: every contract feature, NaN for missing weather."""
    out = {}
    for key in contract.FEATURE_KEYS:
        dtype = contract.tf_dtype(key)
        values = [r[key] for r in rows]
        if dtype == tf.float32:
            values = [np.nan if v is None else v for v in values]
        out[key] = tf.constant(values, dtype=dtype)
    return out


@pytest.fixture(scope="module")
def loaded(gbt_model):
    return tf.saved_model.load(gbt_model.path)


def test_training_path_and_both_signatures_score_the_same_rows_alike(gbt_model, loaded):
    """Skew: the in-memory forest fed by the training input pipeline, the tf.Example signature and the
    raw-feature signature give the same scores for the same eval rows."""
    columns, labels = trainer.load_examples(gbt_model.eval_files)  # the training path's arrays
    training = []
    for inputs, _ in gbt.training_dataset(columns, labels):
        logits = np.asarray(gbt_model.model(inputs)).reshape(-1)
        training.append(tf.sigmoid(logits + gbt_model.summary["logit_shift"]).numpy())
    training = np.concatenate(training)
    rows = [{k: (v.decode() if isinstance(v, bytes) else None if isinstance(v, np.floating) and np.isnan(v) else v)
             for k, v in zip(columns, values)} for values in zip(*columns.values())]
    serialized = tf.constant([contract.example_from_row(r).SerializeToString() for r in rows])
    examples = loaded.signatures[contract.EXAMPLES_SIGNATURE](
        **{contract.EXAMPLES_INPUT: serialized})[contract.PREDICTION_KEY].numpy()
    raw = loaded.signatures[contract.SERVING_SIGNATURE](**_raw_tensors(rows))[contract.PREDICTION_KEY].numpy()
    assert training.shape == examples.shape == raw.shape == (1500,)
    np.testing.assert_allclose(examples, training, atol=1e-6)
    np.testing.assert_allclose(raw, training, atol=1e-6)
    assert examples.std() > 0.05  # the forest learned something: scores are not constant
    assert 0.3 < examples.mean() < 0.7  # class-balanced scores (logit shift), like the Keras model's


def test_the_forest_reads_the_keras_models_features():
    """One list for both families: the trainer's MODEL_FEATURES, monotone where the trainer says so."""
    # equal, not identical: another test may reload the trainer module, which rebuilds its tuples
    assert gbt.MODEL_FEATURES == trainer.MODEL_FEATURES and gbt.MONOTONIC == trainer.MONOTONE_FEATURES
    assert set(trainer.MODEL_FEATURES) <= set(contract.FEATURE_KEYS)
    assert not {"month", *contract.INVARIANT_FEATURES} & set(trainer.MODEL_FEATURES)


def test_the_fitted_forest_uses_exactly_those_features(gbt_model):
    names = {f.name for f in gbt_model.model.make_inspector().features()}
    assert names == set(trainer.MODEL_FEATURES)


def test_export_holds_only_core_ops_and_tf_df_inference_ops(gbt_model):
    """Listed in a fresh process that never imported TF-DF: the ops it lacks are TF-DF's inference ops
    (which TF Serving >= 2.11 bundles), never its training ops."""
    script = ("import json, sys; from serving.server import custom_ops; "
              "print(json.dumps(custom_ops.unregistered_ops(sys.argv[1]))); "
              "assert 'tensorflow_decision_forests' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", script, gbt_model.path], capture_output=True, text=True,
                         cwd=REPO_ROOT, check=True)
    missing = set(json.loads(out.stdout.strip().splitlines()[-1]))
    import tensorflow_decision_forests as tfdf
    ops_dir = os.path.join(os.path.dirname(tfdf.__file__), "tensorflow", "ops")

    def op_names(library):
        return {name for name in dir(tf.load_op_library(os.path.join(ops_dir, library))) if name[:1].isupper()
                and name.startswith("SimpleML")}
    inference, training = op_names("inference/inference.so"), op_names("training/training.so")
    assert missing and missing <= inference, (missing, inference)
    assert not missing & (training - inference)


def test_worse_weather_never_lowers_a_score(gbt_model, loaded):
    rows = _rows(gbt_model.eval_files)
    fn = loaded.signatures[contract.SERVING_SIGNATURE]
    base = fn(**_raw_tensors(rows))[contract.PREDICTION_KEY].numpy()
    for key, change in (("precip", lambda v: (v or 0.0) + 0.5), ("visib", lambda v: (10.0 if v is None else v) * 0.2)):
        worse = fn(**_raw_tensors([{**r, key: change(r[key])} for r in rows]))[contract.PREDICTION_KEY].numpy()
        assert (worse - base).min() >= -1e-6, key


def test_flight_number_and_minute_do_not_matter(gbt_model, loaded):
    rows = _rows(gbt_model.eval_files, limit=300)
    fn = loaded.signatures[contract.SERVING_SIGNATURE]
    base = fn(**_raw_tensors(rows))[contract.PREDICTION_KEY].numpy()
    changed = fn(**_raw_tensors([{**r, "flight": 4321, "sched_dep_minute": 59} for r in rows]))
    np.testing.assert_array_equal(changed[contract.PREDICTION_KEY].numpy(), base)


def test_training_is_deterministic_and_cold(gbt_model, tmp_path):
    summary = gbt.train_and_export(gbt_model.train_files, SCHEMA, str(tmp_path / "again"), hparams=HPARAMS,
                                   log_dir=str(tmp_path / "logs"), base_model_dir=gbt_model.path)
    serialized = tf.constant(_serialized(gbt_model.eval_files))

    def scores(path):
        return tf.saved_model.load(path).signatures[contract.EXAMPLES_SIGNATURE](
            **{contract.EXAMPLES_INPUT: serialized})[contract.PREDICTION_KEY].numpy()
    np.testing.assert_array_equal(scores(str(tmp_path / "again")), scores(gbt_model.path))
    assert summary["start"]["start"] == "cold" and "cannot warm-start" in summary["start"]["reason"]
    assert json.loads((tmp_path / "logs" / "training_summary.json").read_text())["family"] == "gbt"


def test_the_trainer_dispatches_on_the_family():
    assert families.train_fn("gbt") is gbt.train_and_export
    assert families.train_fn(families.DEFAULT) is trainer.train_and_export
    with pytest.raises(ValueError, match="unknown model family 'xgb': one of \\['gbt', 'keras'\\]"):
        families.train_fn("xgb")


def test_a_single_class_training_split_is_refused(tmp_path):
    from pipeline.tools import model_selection
    from tests.gbt_model import FIXTURE_SPANS
    from data import spans_io
    frame = spans_io.read_span(spans_io.span_path(FIXTURE_SPANS, 1)).head(200)
    frame[contract.LABEL_KEY] = 0
    spans_io.write_span(tmp_path / "spans", 1, frame)
    files = [model_selection.write_examples(str(tmp_path / "spans"), 1, str(tmp_path))]
    with pytest.raises(ValueError, match="label rate 0.0: need both classes of 'late'"):
        gbt.train_and_export(files, SCHEMA, str(tmp_path / "m"))
    assert not glob.glob(str(tmp_path / "m" / "*"))
