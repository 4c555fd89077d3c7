"""End to end: the real pipeline (LocalDagRunner, Beam, MLMD on SQLite) on small fixture spans."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from data import spans_io
from pipeline import features as F
from pipeline import runner, span_check, summary
from pipeline.runner import REPO_ROOT

pytestmark = pytest.mark.e2e
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")
FAST = {"epochs": 2}
COMPONENT_NODES = {"CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "Trainer",
                   "Evaluator", "Pusher"}


def store_for(layout):
    from pipeline import metadata
    return metadata.open_store(layout.metadata_path)


def versions(serving_dir):
    return sorted(os.listdir(serving_dir)) if os.path.isdir(serving_dir) else []


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("spans")
    for span in (1, 2):
        shutil.copytree(os.path.join(FIXTURES, f"span-{span}"), root / f"span-{span}")
    return str(root)


@pytest.fixture(scope="module")
def first_run(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    return runner.run_local(data_root, str(out), hparams=FAST, progress=lambda m: None)


def test_first_run_executes_every_node_and_records_it_in_mlmd(first_run):
    s = first_run.summary
    nodes = {n["node"]: n["state"] for n in s["nodes"]}
    assert COMPONENT_NODES <= set(nodes)
    assert all(nodes[n] == "COMPLETE" for n in COMPONENT_NODES)
    assert s["spans"] == [2]  # latest span by default
    assert s["splits"] == ["train", "eval"]

    store = store_for(first_run.layout)
    types = {t.id: t.name for t in store.get_artifact_types()}
    by_type = {}
    for artifact in store.get_artifacts():
        by_type.setdefault(types[artifact.type_id], []).append(artifact)
    for name in ("Examples", "ExampleStatistics", "Schema", "ExampleAnomalies", "Model", "ModelEvaluation",
                 "ModelBlessing", "PushedModel"):
        assert len(by_type.get(name, [])) == 1, name
    examples = by_type["Examples"][0]
    assert examples.custom_properties["span"].int_value == 2
    assert by_type["ModelBlessing"][0].custom_properties["blessed"].int_value == 1


def test_first_run_is_blessed_and_pushed_in_tf_serving_layout(first_run):
    s = first_run.summary
    assert s["blessed"] is True and s["validation"]["ok"] is True
    assert 0.5 < s["metrics"]["auc"] <= 1.0
    assert s["metrics"]["example_count"] > 300  # ~1/4 of 1,500 rows in the eval split
    assert s["pushed"] is True
    pushed = versions(first_run.layout.serving_model_dir)
    assert len(pushed) == 1 and pushed[0].isdigit()
    assert s["pushed_destination"] == os.path.join(first_run.layout.serving_model_dir, pushed[0])
    assert os.path.exists(os.path.join(s["pushed_destination"], "saved_model.pb"))


def test_pushed_model_predicts_on_raw_feature_values(first_run):
    import tensorflow as tf
    from pipeline.trainer import feature_dtype
    model = tf.saved_model.load(summary.latest_pushed_model_dir(first_run.layout.serving_model_dir))
    rows = spans_io.read_span(spans_io.span_path(FIXTURES, 2)).head(200)
    inputs = {}
    for key in F.FEATURE_KEYS:
        kind = F.tf_dtype_name(key)
        values = {"string": lambda c: c.astype(str), "int64": lambda c: c.astype("int64"),
                  "float32": lambda c: c.astype("float64").fillna(np.nan)}[kind](rows[key])
        inputs[key] = tf.constant(values.to_numpy().tolist(), dtype=feature_dtype(key))
    scores = model.signatures[F.SERVING_SIGNATURE](**inputs)[F.PREDICTION_KEY].numpy()
    assert scores.shape == (200,)
    assert np.all((scores >= 0) & (scores <= 1))
    labels = rows[F.LABEL_KEY].to_numpy()
    assert scores[labels == 1].mean() > scores[labels == 0].mean()  # better than chance on its own span


def test_second_run_is_fully_cached_and_pushes_nothing_new(first_run, data_root):
    before = versions(first_run.layout.serving_model_dir)
    second = runner.run_local(data_root, first_run.layout.root, hparams=FAST, progress=lambda m: None)
    states = {n["node"]: n["state"] for n in second.summary["nodes"]}
    assert {states[n] for n in COMPONENT_NODES} == {"CACHED"}
    assert second.summary["executed"] == 1  # the baseline resolver, which only reads MLMD
    assert versions(first_run.layout.serving_model_dir) == before


@pytest.mark.parametrize("breakage,expected", [
    ("missing_column", r"flights.csv: missing column\(s\) 'precip'"),
    ("unparsable", r"flights.csv: line 4, column 'distance': value '12O0' is not an integer"),
    ("empty", r"flights.csv: file is empty"),
])
def test_bad_span_fails_naming_file_and_column_and_keeps_the_served_model(
        first_run, data_root, tmp_path, breakage, expected):
    bad_root = tmp_path / "spans"
    shutil.copytree(data_root, bad_root)
    frame = spans_io.read_span(spans_io.span_path(FIXTURES, 1)).head(100)
    if breakage == "missing_column":
        spans_io.write_span(bad_root, 3, frame, columns=[c for c in F.CSV_COLUMNS if c != "precip"])
    elif breakage == "unparsable":
        frame = frame.astype({"distance": object})
        frame.loc[frame.index[2], "distance"] = "12O0"
        spans_io.write_span(bad_root, 3, frame)
    else:
        spans_io.write_span(bad_root, 3, None)
    store = store_for(first_run.layout)
    executions_before = len(store.get_executions())
    served_before = versions(first_run.layout.serving_model_dir)
    with pytest.raises(span_check.BadSpanError, match=expected) as err:
        runner.run_local(str(bad_root), first_run.layout.root, hparams=FAST, progress=lambda m: None)
    assert str(bad_root / "span-3" / "flights.csv") in str(err.value)
    assert versions(first_run.layout.serving_model_dir) == served_before
    assert len(store_for(first_run.layout).get_executions()) == executions_before


def test_failing_node_pushes_nothing_and_the_cli_says_so(first_run, data_root, tmp_path):
    """A span that passes the pre-flight check but cannot train (one class only) fails in the Trainer."""
    bad_root = tmp_path / "spans"
    shutil.copytree(data_root, bad_root)
    frame = spans_io.read_span(spans_io.span_path(FIXTURES, 1)).head(300).copy()
    frame[F.LABEL_KEY] = 0
    spans_io.write_span(bad_root, 3, frame)
    served_before = versions(first_run.layout.serving_model_dir)
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data", str(bad_root), "--output", first_run.layout.root,
         "--epochs", "1"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert completed.returncode == 1
    assert "node Trainer failed" in completed.stderr
    assert "label rate 0.0" in completed.stderr
    assert "Nothing was pushed" in completed.stderr
    assert versions(first_run.layout.serving_model_dir) == served_before
    # the failed execution is recorded as such, the store stays readable
    failed = [e for e in store_for(first_run.layout).get_executions() if e.last_known_state == e.FAILED]
    assert len(failed) == 1
