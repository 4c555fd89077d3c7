"""The exported model's signatures: raw features and serialized tf.Example agree, outputs are probabilities."""
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2

from data import contract
from pipeline.model import trainer

CARRIERS, AIRPORTS, DESTS = ["AA", "B6", "UA"], ["EWR", "JFK", "LGA"], ["ATL", "BOS", "ORD", "LAX"]


def synthetic_rows(n, seed=0):
    """Rows where lateness depends on precipitation and carrier, so a model can learn something."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        precip = float(rng.choice([0.0, 0.0, 0.0, 0.3]))
        carrier = str(rng.choice(CARRIERS))
        late = int(rng.random() < 0.15 + 0.5 * (precip > 0) + 0.1 * (carrier == "B6"))
        row = {"month": 1, "day": int(rng.integers(1, 29)), "day_of_week": int(rng.integers(0, 7)),
               "sched_dep_hour": int(rng.integers(5, 23)), "sched_dep_minute": int(rng.integers(0, 60)),
               "sched_arr_hour": int(rng.integers(0, 24)), "carrier": carrier, "flight": int(rng.integers(1, 3000)),
               "origin": str(rng.choice(AIRPORTS)), "dest": str(rng.choice(DESTS)),
               "distance": int(rng.integers(100, 2500)), "temp": float(rng.normal(40, 10)),
               "dewp": float(rng.normal(30, 10)), "humid": float(rng.uniform(20, 100)),
               "wind_dir": float(rng.integers(0, 360)), "wind_speed": float(rng.uniform(0, 25)),
               "wind_gust": None, "precip": precip, "pressure": float(rng.normal(1015, 8)),
               "visib": 10.0 - 8 * (precip > 0), "late": late}
        for key in contract.OPERATIONS_FEATURES:  # the departure board; sometimes unavailable (None)
            row[key] = None if rng.random() < 0.1 else float(rng.integers(0, 40))
        rows.append(row)
    return rows


def to_example(row):
    return contract.example_from_row(row, with_label="late" in row)


def write_split(path, rows):
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for row in rows:
            writer.write(to_example(row).SerializeToString())


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    write_split(str(root / "train.gz"), synthetic_rows(1500, seed=1))
    schema = schema_pb2.Schema()
    for name, values in (("carrier", CARRIERS), ("origin", AIRPORTS), ("dest", DESTS)):
        feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
        feature.string_domain.value.extend(values)
    schema_path = root / "schema.pbtxt"
    schema_path.write_text(str(schema))
    summary = trainer.train_and_export([str(root / "train.gz")], str(schema_path),
                                       str(root / "model"), hparams=HPARAMS,
                                       log_dir=str(root / "logs"))
    return root, summary, tf.saved_model.load(str(root / "model"))


HPARAMS = {"epochs": 4}


def _scores(model_dir, rows):
    model = tf.saved_model.load(str(model_dir))
    serialized = tf.constant([to_example(r).SerializeToString() for r in rows])
    return model.signatures[contract.EXAMPLES_SIGNATURE](examples=serialized)[contract.PREDICTION_KEY].numpy()


def test_training_is_deterministic(exported, tmp_path):
    root, summary, _ = exported
    again = trainer.train_and_export([str(root / "train.gz")], str(root / "schema.pbtxt"), str(tmp_path / "m"),
                                     hparams=HPARAMS)
    rows = synthetic_rows(300, seed=9)
    np.testing.assert_allclose(_scores(tmp_path / "m", rows), _scores(root / "model", rows), atol=1e-6)
    assert again["history"] == summary["history"]
    other_seed = trainer.train_and_export([str(root / "train.gz")], str(root / "schema.pbtxt"),
                                          str(tmp_path / "s"), hparams={**HPARAMS, "seed": 7})
    assert np.abs(_scores(tmp_path / "s", rows) - _scores(root / "model", rows)).max() > 1e-3
    assert other_seed["hparams"]["seed"] == 7


def test_the_same_examples_in_another_order_give_the_same_model(exported, tmp_path):
    # ExampleGen's output order is not stable between runs: the same rows, reversed and in two files
    # listed the other way round, must give the same predictions.
    root, summary, _ = exported
    rows = synthetic_rows(1500, seed=1)[::-1]
    write_split(str(tmp_path / "b.gz"), rows[:700])
    write_split(str(tmp_path / "a.gz"), rows[700:])
    again = trainer.train_and_export([str(tmp_path / "b.gz"), str(tmp_path / "a.gz")], str(root / "schema.pbtxt"),
                                     str(tmp_path / "m"), hparams=HPARAMS)
    probe = synthetic_rows(300, seed=9)
    np.testing.assert_allclose(_scores(tmp_path / "m", probe), _scores(root / "model", probe), atol=1e-6)
    assert again["history"] == summary["history"]
    assert again["train_statistics"] == summary["train_statistics"]


def test_examples_load_in_canonical_time_order(exported):
    root, _, _ = exported
    columns, labels = trainer.load_examples([str(root / "train.gz")])
    assert len(labels) == 1500 and set(columns) == set(contract.FEATURE_KEYS)
    keys = list(zip(columns["month"], columns["day"], columns["day_of_week"], columns["sched_dep_hour"]))
    assert keys == sorted(keys)


def test_warm_start_continues_from_a_compatible_serving_model(exported, tmp_path):
    root, _, _ = exported
    summary = trainer.train_and_export([str(root / "train.gz")], str(root / "schema.pbtxt"), str(tmp_path / "w"),
                                       hparams={**HPARAMS, "warm_start_epochs": 1},
                                       base_model_dir=str(root / "model"))
    assert summary["start"]["start"] == "warm", summary["start"]
    assert summary["start"]["base_model"] == str(root / "model")
    assert len(summary["history"]["loss"]) == 1  # warm_start_epochs, not epochs
    # one epoch from the base weights stays close to the base model; a cold one-epoch model does not
    rows = synthetic_rows(300, seed=11)
    cold = trainer.train_and_export([str(root / "train.gz")], str(root / "schema.pbtxt"), str(tmp_path / "c"),
                                    hparams={**HPARAMS, "epochs": 1, "warm_start": False},
                                    base_model_dir=str(root / "model"))
    assert cold["start"] == {"start": "cold", "base_model": str(root / "model"), "reason": "warm start disabled"}
    base = _scores(root / "model", rows)
    assert np.abs(_scores(tmp_path / "w", rows) - base).mean() < np.abs(_scores(tmp_path / "c", rows) - base).mean()


def test_warm_start_is_cold_when_the_vocabulary_changed(exported, tmp_path):
    root, _, _ = exported
    schema = schema_pb2.Schema()
    for name, values in (("carrier", CARRIERS + ["DL"]), ("origin", AIRPORTS), ("dest", DESTS)):
        feature = schema.feature.add(name=name, type=schema_pb2.BYTES)
        feature.string_domain.value.extend(values)
    (tmp_path / "schema.pbtxt").write_text(str(schema))
    summary = trainer.train_and_export([str(root / "train.gz")], str(tmp_path / "schema.pbtxt"),
                                       str(tmp_path / "m"), hparams=HPARAMS, base_model_dir=str(root / "model"))
    assert summary["start"]["start"] == "cold"
    assert "carrier" in summary["start"]["reason"], summary["start"]
    assert len(summary["history"]["loss"]) == HPARAMS["epochs"]


def test_signatures_follow_the_contract(exported):
    _, _, model = exported
    assert set(model.signatures) == {contract.SERVING_SIGNATURE, contract.EXAMPLES_SIGNATURE}
    raw = model.signatures[contract.SERVING_SIGNATURE]
    inputs = raw.structured_input_signature[1]
    assert set(inputs) == set(contract.FEATURE_KEYS)
    for key, spec in inputs.items():
        assert spec.dtype.name == contract.tf_dtype_name(key), key
    examples_inputs = model.signatures[contract.EXAMPLES_SIGNATURE].structured_input_signature[1]
    assert list(examples_inputs) == [contract.EXAMPLES_INPUT]
    assert examples_inputs[contract.EXAMPLES_INPUT].dtype == tf.string


def test_raw_and_example_signatures_agree_and_return_probabilities(exported):
    _, _, model = exported
    rows = synthetic_rows(50, seed=3)
    rows[0]["temp"] = None  # missing weather goes through both paths as NaN / absent
    raw_inputs = {k: tf.constant([r[k] if r[k] is not None else float("nan") for r in rows],
                                 dtype=trainer.feature_dtype(k)) for k in contract.FEATURE_KEYS}
    raw = model.signatures[contract.SERVING_SIGNATURE](**raw_inputs)[contract.PREDICTION_KEY].numpy()
    serialized = tf.constant([to_example({k: v for k, v in r.items() if k != "late"}).SerializeToString()
                              for r in rows])
    from_examples = model.signatures[contract.EXAMPLES_SIGNATURE](examples=serialized)[contract.PREDICTION_KEY].numpy()
    assert raw.shape == (50,)
    assert np.all((raw >= 0) & (raw <= 1)) and not np.any(np.isnan(raw))
    np.testing.assert_allclose(raw, from_examples, atol=1e-6)


def test_model_learns_the_signal_and_uses_class_weights(exported):
    _, summary, model = exported
    assert summary["class_weight"][1] > summary["class_weight"][0]  # positives are the minority
    rows = synthetic_rows(400, seed=4)
    serialized = tf.constant([to_example(r).SerializeToString() for r in rows])
    scores = model.signatures[contract.EXAMPLES_SIGNATURE](examples=serialized)[contract.PREDICTION_KEY].numpy()
    rainy = np.array([r["precip"] > 0 for r in rows])
    assert scores[rainy].mean() > scores[~rainy].mean() + 0.1


def test_unknown_category_is_out_of_vocabulary_not_an_error(exported):
    _, _, model = exported
    row = synthetic_rows(1, seed=5)[0]
    row.update(carrier="ZZ", dest="XXX")
    serialized = tf.constant([to_example(row).SerializeToString()])
    score = model.signatures[contract.EXAMPLES_SIGNATURE](examples=serialized)[contract.PREDICTION_KEY].numpy()
    assert 0 <= score[0] <= 1


def test_schema_without_domain_is_rejected(tmp_path):
    schema_path = tmp_path / "schema.pbtxt"
    schema_path.write_text('feature { name: "carrier" type: BYTES }')
    with pytest.raises(ValueError, match="carrier"):
        trainer.vocabularies_from_schema(str(schema_path))


def test_worse_weather_never_lowers_the_score(exported):
    """More precipitation or less visibility can only raise the score (monotone term), whatever was learned."""
    _, _, model = exported
    rows = synthetic_rows(200, seed=12)
    base = _scores_of(model, rows)
    for key, change in (("precip", lambda v: (v or 0.0) + 0.5), ("visib", lambda v: (v if v is not None else 10.0) * 0.2)):
        worse = [{**r, key: change(r[key])} for r in rows]
        assert np.all(_scores_of(model, worse) >= base - 1e-6), key


def _scores_of(model, rows):
    serialized = tf.constant([to_example(r).SerializeToString() for r in rows])
    return model.signatures[contract.EXAMPLES_SIGNATURE](examples=serialized)[contract.PREDICTION_KEY].numpy()


def test_export_holds_only_tensorflow_core_ops(exported):
    """Listed in a fresh process that imports nothing but TensorFlow: every op of the exported graph is
    registered, so any TF Serving binary (no custom ops) can load the served model."""
    import json
    import subprocess
    import sys
    from pipeline.local.runner import REPO_ROOT
    root, _, _ = exported
    script = ("import json, sys; from serving.server import custom_ops; "
              "print(json.dumps([sorted(custom_ops.saved_model_ops(sys.argv[1])), custom_ops.unregistered_ops(sys.argv[1])])); "
              "assert 'tensorflow_decision_forests' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", script, str(root / "model")], capture_output=True, text=True,
                         cwd=REPO_ROOT, check=True)
    ops, missing = json.loads(out.stdout.strip().splitlines()[-1])
    assert {"MatMul", "ParseExampleV2"} <= set(ops)  # the op list is real: the MLP and the example parser
    assert missing == []
