"""End to end: the real pipeline (LocalDagRunner, Beam, MLMD on SQLite) on small fixture spans.

A first run of its own (span 1), which the failure cases then extend; the cached re-run and the next span
are read from the suite's shared history (tests/pipeline/conftest.py: span 1, span 1 again, span 2), which
is the same sequence with the same settings."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from data import spans_io
from data import contract
from pipeline.local import runner, span_check, summary
from pipeline.local.runner import REPO_ROOT

pytestmark = pytest.mark.e2e
FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")
FAST = {"epochs": 2}
COMPONENT_NODES = {"CsvExampleGen", "ImportSchemaGen", "StatisticsGen", "ExampleValidator", "Trainer",
                   "Evaluator", "Pusher"}


def store_for(layout):
    from data import mlmd_store
    return mlmd_store.open_store(layout.metadata_path)


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
    return runner.run_local(data_root, str(out), span=1, hparams=FAST, progress=lambda m: None)


@pytest.fixture(scope="module")
def window_run(first_run, data_root):
    """Span 2 after span 1 with a 2-span training window, on the first run's store."""
    return runner.run_local(data_root, first_run.layout.root, span=2, window=2, hparams=FAST,
                            progress=lambda m: None)


@pytest.fixture(scope="module")
def history(pipeline_history):
    """(span 1, span 1 again, span 2) of the shared history, with its settings checked against this module's."""
    assert pipeline_history["hparams"] == FAST
    return pipeline_history["runs"]


def executions_of(store, node_prefix):
    """[(execution, {input key: [artifacts]}, {output key: [artifacts]})] of a node, oldest first."""
    from ml_metadata.proto import metadata_store_pb2 as pb
    context = store.get_context_by_type_and_name("node", f"flight-delay.{node_prefix}")
    result = []
    for execution in sorted(store.get_executions_by_context(context.id), key=lambda e: e.id):
        events = store.get_events_by_execution_ids([execution.id])
        artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
        inputs, outputs = {}, {}
        for event in events:
            key = event.path.steps[0].key
            side = inputs if event.type == pb.Event.INPUT else outputs if event.type == pb.Event.OUTPUT else None
            if side is not None:
                side.setdefault(key, []).append(artifacts[event.artifact_id])
        result.append((execution, inputs, outputs))
    return result


def test_first_run_executes_every_node_and_records_it_in_mlmd(first_run):
    s = first_run.summary
    nodes = {n["node"]: n["state"] for n in s["nodes"]}
    assert COMPONENT_NODES <= set(nodes)
    assert all(nodes[n] == "COMPLETE" for n in COMPONENT_NODES)
    assert s["spans"] == [1]
    assert s["splits"] == ["train", "eval"]

    store = store_for(first_run.layout)
    types = {t.id: t.name for t in store.get_artifact_types()}
    by_type = {}
    for artifact in store.get_artifacts():
        by_type.setdefault(types[artifact.type_id], []).append(artifact)
    for name in ("Examples", "ExampleStatistics", "Schema", "ExampleAnomalies", "Model", "ModelEvaluation",
                 "PushedModel", "InfraBlessing", "components.DriftReport",
                 "components.BehaviorValidationReport"):
        assert len(by_type.get(name, [])) == 1, name
    assert len(by_type["ModelBlessing"]) == 2  # Evaluator's and the behaviour validator's
    examples = by_type["Examples"][0]
    assert examples.custom_properties["span"].int_value == 1
    assert all(b.custom_properties["blessed"].int_value == 1 for b in by_type["ModelBlessing"])
    drift = by_type["components.DriftReport"][0]
    assert drift.custom_properties["verdict"].string_value == "NO_BASELINE"


def _days_of_split(examples_uri, split):
    """The `day` value of every example of one split of an Examples artifact."""
    import glob
    import tensorflow as tf
    files = glob.glob(os.path.join(examples_uri, f"Split-{split}", "*.gz"))
    return [tf.train.Example.FromString(r.numpy()).features.feature["day"].int64_list.value[0]
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_first_run_is_blessed_and_pushed_in_tf_serving_layout(first_run):
    s = first_run.summary
    assert s["blessed"] is True and s["validation"]["ok"] is True
    assert 0.5 < s["metrics"]["auc"] <= 1.0
    # The eval split holds the last days (configs.SPLIT_PARTITION_FEATURE): no day on both sides, and TFMA
    # evaluated every eval row.
    days = {split: _days_of_split(s["examples_uri"], split) for split in ("train", "eval")}
    assert max(days["train"]) < min(days["eval"])  # the last days of the span are the eval days
    assert len(days["train"]) + len(days["eval"]) == 1500
    assert s["metrics"]["example_count"] == len(days["eval"]) > 100
    assert s["pushed"] is True
    pushed = versions(first_run.layout.serving_model_dir)
    assert len(pushed) == 1 and pushed[0].isdigit()
    assert s["pushed_destination"] == os.path.join(first_run.layout.serving_model_dir, pushed[0])
    assert os.path.exists(os.path.join(s["pushed_destination"], "saved_model.pb"))


def test_run_writes_statistics_and_per_slice_evaluation_pages(first_run):
    reports = first_run.summary["reports"]
    with open(reports["evaluation"]) as f:
        page = f.read()
    assert "<td>overall</td>" in page and "carrier=" in page and "origin=EWR" in page
    with open(reports["statistics"]) as f:
        stats_page = f.read()
    assert "<td>carrier</td>" in stats_page and "train: missing" in stats_page and "<svg" in stats_page
    assert "http" not in stats_page  # self-contained
    from pipeline.pages.run_pages import metrics_by_slice
    rows = metrics_by_slice(first_run.summary["evaluation_uri"])
    assert rows[0]["slice"] == "overall"
    by_origin = [r for r in rows if r["slice"].startswith("origin=")]
    assert sum(r["example_count"] for r in by_origin) == rows[0]["example_count"]


def test_pushed_model_predicts_on_raw_feature_values(first_run):
    import tensorflow as tf
    from pipeline.model.trainer import feature_dtype
    model = tf.saved_model.load(summary.latest_pushed_model_dir(first_run.layout.serving_model_dir))
    rows = spans_io.read_span(spans_io.span_path(FIXTURES, 1)).head(200)
    inputs = {}
    for key in contract.FEATURE_KEYS:
        kind = contract.tf_dtype_name(key)
        values = {"string": lambda c: c.astype(str), "int64": lambda c: c.astype("int64"),
                  "float32": lambda c: c.astype("float64").fillna(np.nan)}[kind](rows[key])
        inputs[key] = tf.constant(values.to_numpy().tolist(), dtype=feature_dtype(key))
    scores = model.signatures[contract.SERVING_SIGNATURE](**inputs)[contract.PREDICTION_KEY].numpy()
    assert scores.shape == (200,)
    assert np.all((scores >= 0) & (scores <= 1))
    labels = rows[contract.LABEL_KEY].to_numpy()
    assert scores[labels == 1].mean() > scores[labels == 0].mean()  # better than chance on its own span


def test_pushed_model_is_warmed_and_served_over_rest_and_grpc(first_run, tmp_path):
    """TF Serving's API (the real binary when on PATH, else the local server) serves the pushed model."""
    from serving.client import GrpcClient, RestClient, normalize_row, rows_from_csv
    from tests.serving.server_process import ServerProcess
    pushed = summary.latest_pushed_model_dir(first_run.layout.serving_model_dir)
    warmup = os.path.join(pushed, "assets.extra", "tf_serving_warmup_requests")
    assert os.path.getsize(warmup) > 0
    with open(spans_io.span_path(FIXTURES, 1)) as f:
        rows = [normalize_row(r) for r in rows_from_csv(f.read(), limit=20)]
    server = ServerProcess(str(tmp_path), [f"--model_name={runner.MODEL_NAME}",
                                           f"--model_base_path={first_run.layout.serving_model_dir}"])
    server.start([runner.MODEL_NAME])
    try:
        status = RestClient(server.rest_url, runner.MODEL_NAME).status()["model_version_status"]
        assert [(v["version"], v["state"]) for v in status] == [(os.path.basename(pushed), "AVAILABLE")]
        rest = RestClient(server.rest_url, runner.MODEL_NAME).predict(
            inputs={k: [r[k] for r in rows] for k in contract.FEATURE_KEYS})["outputs"]
        grpc_scores = GrpcClient(server.grpc_target, runner.MODEL_NAME).predict(
            {k: [r[k] for r in rows] for k in contract.FEATURE_KEYS})
    finally:
        server.stop()
    import tensorflow as tf
    from pipeline.model.trainer import feature_dtype
    model = tf.saved_model.load(pushed)
    local = model.signatures[contract.SERVING_SIGNATURE](
        **{k: tf.constant([r[k] for r in rows], feature_dtype(k)) for k in contract.FEATURE_KEYS})[contract.PREDICTION_KEY]
    np.testing.assert_allclose(np.asarray(rest, dtype=float).reshape(-1), local.numpy(), atol=1e-5)
    grpc_values = grpc_scores[contract.PREDICTION_KEY] if isinstance(grpc_scores, dict) else grpc_scores
    np.testing.assert_allclose(np.asarray(grpc_values, dtype=float).reshape(-1), local.numpy(), atol=1e-5)


def test_second_run_is_fully_cached_and_pushes_nothing_new(history):
    first, second, next_span = history
    states = {n["node"]: n["state"] for n in second.summary["nodes"]}
    assert {states[n] for n in COMPONENT_NODES} == {"CACHED"}
    # only the resolvers (the serving model, the evaluation window), which read MLMD
    assert {n for n, state in states.items() if state == "COMPLETE"} == {"serving_model_resolver",
                                                                         "evaluation_window_resolver"}
    # the serving folder holds the pushes of the two runs that executed, nothing from the cached one
    assert first.summary["pushed"] is True
    assert versions(first.layout.serving_model_dir) == sorted(
        os.path.basename(r.summary["pushed_destination"]) for r in (first, next_span) if r.summary["pushed"])


def test_next_span_uses_previous_span_as_drift_and_model_baseline(history):
    """Span 2 after span 1: the drift baseline is span 1's statistics, the model baseline span 1's model."""
    first, _, next_span = history
    s = next_span.summary
    assert s["spans"] == [2] and s["executed"] >= 9
    store = store_for(first.layout)
    span1_stats = executions_of(store, "StatisticsGen")[0][2]["statistics"][0]
    span2_stats = executions_of(store, "StatisticsGen")[-1][2]["statistics"][0]
    drift_exec, drift_in, drift_out = executions_of(store, "DriftValidator")[-1]
    assert drift_in["statistics"][0].id == span2_stats.id
    assert drift_in["baseline_statistics"][0].id == span1_stats.id
    report = drift_out["drift_report"][0]
    assert report.custom_properties["has_baseline"].int_value == 1
    for name in ("drift_report.json", "drift_report.html"):
        assert os.path.getsize(os.path.join(report.uri, name)) > 0

    span1_model = executions_of(store, "Trainer")[0][2]["model"][0]
    _, eval_in, _ = executions_of(store, "Evaluator")[-1]
    assert eval_in["baseline_model"][0].id == span1_model.id
    _, behavior_in, behavior_out = executions_of(store, "BehaviorValidator")[-1]
    assert behavior_in["baseline_model"][0].id == span1_model.id
    assert {"model", "examples", "schema", "baseline_model"} <= set(behavior_in)
    # The evidence is pooled: the eval splits of the last spans (configs.BEHAVIOR_EVAL_SPANS), here 1 and 2.
    assert sorted(a.custom_properties["span"].int_value for a in behavior_in["examples"]) == [1, 2]
    behavior_report = behavior_out["report"][0]
    with open(os.path.join(behavior_report.uri, "report.json")) as f:
        checks = {c["name"] for c in json.load(f)["checks"]}
    assert {"invariance", "directional", "slice_regression_vs_baseline", "auc_vs_baseline"} <= checks
    # The summary (and `run --json`) carries the AUC test against the serving model with its interval.
    auc = s["behavior"]["auc_vs_baseline"]
    assert s["behavior"]["eval_spans"] == [1, 2] and auc["verdict"] in ("PASS", "FAIL")
    assert auc["drop_ci95"][0] <= auc["auc_drop"] <= auc["drop_ci95"][1] and auc["groups"] >= 7
    assert "AUC vs the serving model on the eval days of span(s) [1, 2]" in summary.format_summary(s)
    assert os.path.getsize(os.path.join(behavior_report.uri, "report.html")) > 0
    _, infra_in, infra_out = executions_of(store, "LocalInfraValidator")[-1]
    assert infra_out["blessing"][0].custom_properties["blessed"].int_value in (0, 1)


def test_window_trains_on_the_last_spans(first_run, window_run):
    result = window_run
    store = store_for(first_run.layout)
    _, trainer_in, _ = executions_of(store, "Trainer")[-1]
    assert sorted(a.custom_properties["span"].int_value for a in trainer_in["examples"]) == [1, 2]
    _, eval_in, _ = executions_of(store, "Evaluator")[-1]
    assert [a.custom_properties["span"].int_value for a in eval_in["examples"]] == [2]
    assert result.summary["spans"] == [2] and result.summary["training_spans"] == [1, 2]


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
        spans_io.write_span(bad_root, 3, frame, columns=[c for c in contract.CSV_COLUMNS if c != "precip"])
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


def test_label_shift_blocks_training_and_pushes_nothing(first_run, window_run, data_root, tmp_path):
    """A span whose late-rate jumps (here: no late flights at all) is stopped by the drift validator (its
    baseline: span 2's statistics, from the window run)."""
    bad_root = tmp_path / "spans"
    shutil.copytree(data_root, bad_root)
    frame = spans_io.read_span(spans_io.span_path(FIXTURES, 3)).copy()
    frame[contract.LABEL_KEY] = 0
    frame = frame.astype({"carrier": object})
    frame.loc[frame.index[:5], "carrier"] = "ZZ"  # not in the schema's carrier domain
    spans_io.write_span(bad_root, 3, frame)
    served_before = versions(first_run.layout.serving_model_dir)
    result = runner.run_local(str(bad_root), first_run.layout.root, hparams=FAST, progress=lambda m: None)
    s = result.summary
    assert s["spans"] == [3]
    assert s["drift"]["verdict"] == "BLOCKED" and "late" in s["drift"]["summary"]
    assert "Trainer" not in {n["node"] for n in s["nodes"] if n["state"] == "COMPLETE"}
    assert s["pushed"] is False
    assert "Training skipped" in summary.format_summary(s)
    assert list(s["anomalies"]) == ["carrier"]  # ExampleValidator flags the unknown carrier
    assert "carrier: train:" in summary.format_summary(s) or "carrier: eval:" in summary.format_summary(s)
    assert versions(first_run.layout.serving_model_dir) == served_before


def test_failing_node_pushes_nothing_and_the_cli_says_so(first_run, tmp_path):
    """A first span (no drift baseline) that passes the pre-flight check but has one class fails in the Trainer."""
    frame = spans_io.read_span(spans_io.span_path(FIXTURES, 1)).head(300).copy()
    frame[contract.LABEL_KEY] = 0
    spans_io.write_span(tmp_path / "spans", 1, frame)
    served_before = versions(first_run.layout.serving_model_dir)
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--data", str(tmp_path / "spans"), "--output",
         first_run.layout.root, "--epochs", "1"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert completed.returncode == 1, completed.stdout[-2000:]
    assert "node Trainer failed" in completed.stderr
    assert "label rate 0.0" in completed.stderr
    assert "Nothing was pushed" in completed.stderr
    assert versions(first_run.layout.serving_model_dir) == served_before
    # the failed execution is recorded as such, the store stays readable
    failed = [e for e in store_for(first_run.layout).get_executions() if e.last_known_state == e.FAILED]
    assert len(failed) == 1
