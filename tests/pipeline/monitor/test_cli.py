"""`python -m pipeline monitor`: one JSON object on stdout and exit 0 on traffic like the served model's newest
training span, recorded in MLMD as logs -> statistics -> report linked to the version that served; bad input
is exit 1 with one line naming the file."""
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from data.paths import REPO_ROOT
from pipeline.dag import configs
from pipeline.monitor import cli


@pytest.mark.e2e
def test_traffic_like_the_newest_training_span_raises_no_alert(served, request_logs, tmp_path):
    result = CliRunner(mix_stderr=False).invoke(cli.monitor, [
        "--logs", request_logs["normal"], "--metadata", served["metadata"], "--output", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # exactly one JSON document
    assert doc["alert"] is False and doc["reasons"] == []
    assert doc["model_version"] == served["version"] and doc["training"]["span"] == served["span"]
    distances = {f["feature"]: f for f in doc["skew"] if f["check"].startswith("skew:distribution")}
    assert set(distances) == set(configs.DRIFT_FEATURE_THRESHOLDS) - set(configs.MONITOR_WINDOW_FEATURES)
    for f in distances.values():
        assert set(f) >= {"feature", "distance", "threshold", "check"}
        assert f["distance"] < f["warn_threshold"], f  # the same rows as the training span: nothing moves
    assert doc["prediction_drift"]["distance"] < doc["prediction_drift"]["threshold"]
    assert "decay" not in doc and os.path.isfile(doc["page"])
    assert "<svg" in open(doc["page"]).read()
    _check_lineage(served, doc)


def _check_lineage(served, doc):
    """logs -> MonitorStatistics -> statistics -> Monitor -> report, with the served version's artifacts as
    baselines, in the model's monitoring context."""
    from data import mlmd_store
    from pipeline.mlmd import records as R
    store = mlmd_store.open_store(served["metadata"])
    ids = doc["metadata"]
    events = store.get_events_by_execution_ids([ids["statistics_execution"], ids["monitor_execution"]])
    edges = {(ev.execution_id, ev.type, R.event_key(ev), ev.artifact_id) for ev in events}
    E = R.Event
    assert (ids["statistics_execution"], E.INPUT, "logs", ids["logs"]) in edges
    assert (ids["statistics_execution"], E.OUTPUT, "statistics", ids["statistics"]) in edges
    assert (ids["monitor_execution"], E.INPUT, "statistics", ids["statistics"]) in edges
    assert (ids["monitor_execution"], E.OUTPUT, "report", ids["report"]) in edges
    baselines = {a for (e, t, k, a) in edges if e == ids["monitor_execution"] and k == "baseline_model"}
    types = {a.id: t.name for a in store.get_artifacts_by_id(sorted(baselines))
             for t in store.get_artifact_types() if t.id == a.type_id}
    assert sorted(types.values()) == [R.MODEL, R.PUSHED_MODEL]
    pushed = [a for a in store.get_artifacts_by_id(sorted(baselines)) if types[a.id] == R.PUSHED_MODEL][0]
    assert R.prop(pushed, "pushed_version") in (served["version"], str(served["version"]))
    [report] = store.get_artifacts_by_id([ids["report"]])
    assert R.prop(report, "alert") == 0 and R.prop(report, "blessed") == 1
    contexts = store.get_contexts_by_execution(ids["monitor_execution"])
    assert [c.name for c in contexts] == [f"{R.MONITOR_CONTEXT}-flight_delay"]


def _one_line_error(args, cwd):
    env = {**os.environ, "PYTHONPATH": REPO_ROOT}
    done = subprocess.run([sys.executable, "-m", "pipeline", "monitor", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr.strip().splitlines()


def test_bad_logs_exit_1_with_one_line_naming_the_file(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    bad = logs / "requests-1.tfrecord"
    bad.write_text("this is not a TFRecord file\n" * 10)
    code, out, err = _one_line_error(["--logs", str(logs), "--metadata", str(tmp_path / "none.sqlite"), "--json",
                                      "--output", str(tmp_path / "out")], tmp_path)
    assert code == 1 and out == ""
    assert len(err) == 1 and str(bad) in err[0], err


@pytest.mark.e2e
def test_bad_labels_and_unknown_version_exit_1_naming_them(served, request_logs, tmp_path):
    labels = tmp_path / "labels.csv"
    with open(request_logs["labels_real"]) as f:
        lines = f.read().splitlines()
    lines[3] = lines[3].replace(",", ",x", 1)  # a month that is not a number, on line 4
    labels.write_text("\n".join(lines) + "\n")
    runner = CliRunner(mix_stderr=False)
    result = runner.invoke(cli.monitor, ["--logs", request_logs["later"], "--metadata", served["metadata"],
                                         "--labels", str(labels), "--output", str(tmp_path / "a")])
    assert result.exit_code == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and f"{labels}: line 4" in result.stderr
    result = runner.invoke(cli.monitor, ["--logs", request_logs["later"], "--metadata", served["metadata"],
                                         "--version", "123", "--output", str(tmp_path / "b")])
    assert result.exit_code == 1 and "version 123" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
