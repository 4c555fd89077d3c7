"""`python -m pipeline run` as a user starts it: stdout holds the result only, errors are one line."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeline.local.runner import REPO_ROOT

FIXTURES = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")
KERAS_EPOCH_LINE = " - loss: "  # what Keras' fit(verbose=2) prints per epoch


def cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, **kwargs)


@pytest.fixture(scope="module")
def spans(tmp_path_factory):
    root = tmp_path_factory.mktemp("spans")
    shutil.copytree(os.path.join(FIXTURES, "span-1"), root / "span-1")
    return root


@pytest.fixture(scope="module")
def json_runs(spans, tmp_path_factory):
    """A quiet --json run, then the same again with -v and --no-cache (so the Trainer runs again)."""
    out = tmp_path_factory.mktemp("out")
    common = ["run", "--data", str(spans), "--output", str(out), "--epochs", "1", "--json"]
    return out, cli(*common), cli(*common, "-v", "--no-cache")


def error_lines(completed):
    return [line for line in completed.stderr.splitlines() if line.strip()]


@pytest.mark.e2e
def test_json_run_prints_one_json_document_and_progress_on_stderr(json_runs):
    out, quiet, _ = json_runs
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    summary = json.loads(quiet.stdout)  # the whole of stdout is one JSON document
    assert summary["spans"] == [1] and summary["pushed"] is True
    assert os.path.dirname(summary["log"]) == str(out / "logs")
    stderr = quiet.stderr.splitlines()
    assert any(line.startswith("[") and "Trainer done in" in line for line in stderr)
    assert KERAS_EPOCH_LINE not in quiet.stderr  # Keras only in the log without -v
    assert KERAS_EPOCH_LINE in open(summary["log"]).read()
    assert len(stderr) <= 20, quiet.stderr  # progress, no TF/absl/numpy noise


@pytest.mark.e2e
def test_verbose_run_shows_the_log_on_stderr_and_keeps_stdout_json(json_runs):
    _, quiet, verbose = json_runs
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    summary = json.loads(verbose.stdout)
    assert summary["executed"] >= json.loads(quiet.stdout)["executed"]
    assert KERAS_EPOCH_LINE in verbose.stderr
    assert "Component Trainer is running." in verbose.stderr  # TFX's own log lines
    assert KERAS_EPOCH_LINE in open(summary["log"]).read()


@pytest.mark.parametrize("spec, expected", [
    ("postgres://u@host/db", "unsupported scheme"),
    ("mysql://u:secret@127.0.0.1:3306/db", "contains a password"),
    ("mysql://127.0.0.1:3306/db", "missing user"),
])
def test_bad_metadata_is_a_one_line_error(spans, tmp_path, spec, expected):
    completed = cli("run", "--data", str(spans), "--output", str(tmp_path), "--metadata", spec)
    assert completed.returncode == 2
    assert completed.stdout == ""
    [line] = error_lines(completed)
    assert line.startswith("Error: --metadata: ") and expected in line
    assert "secret" not in completed.stderr
    assert not os.listdir(tmp_path)  # nothing created


def bad_span(tmp_path):
    """A span folder whose newest span has 'warm' in a number column (line 8)."""
    lines = open(os.path.join(FIXTURES, "span-1", "flights.csv")).read().splitlines()
    header = lines[0].split(",")
    row = lines[7].split(",")
    row[header.index("temp")] = "warm"
    lines[7] = ",".join(row)
    bad = tmp_path / "spans" / "span-13" / "flights.csv"
    bad.parent.mkdir(parents=True)
    bad.write_text("\n".join(lines) + "\n")
    return bad


def test_bad_span_file_is_a_one_line_error_naming_file_line_column_value(tmp_path):
    bad = bad_span(tmp_path)
    completed = cli("run", "--data", str(tmp_path / "spans"), "--output", str(tmp_path / "out"), "--json")
    assert completed.returncode == 1
    assert completed.stdout == ""
    [line] = error_lines(completed)
    assert line == f"Error: {bad}: line 8, column 'temp': value 'warm' is not a number"
    assert not (tmp_path / "out" / "metadata.sqlite").exists()


def test_missing_data_folder_is_a_one_line_error(tmp_path):
    completed = cli("run", "--data", str(tmp_path / "nowhere"), "--output", str(tmp_path / "out"))
    assert completed.returncode == 1 and completed.stdout == ""
    [line] = error_lines(completed)
    assert line == f"Error: {tmp_path / 'nowhere'}: data folder does not exist"


def test_window_all_without_span_takes_the_latest_span(tmp_path):
    """`run --window all` alone: the window ends at the latest span (which is checked first, so a bad one
    is the usual one-line error, not a traceback)."""
    bad = bad_span(tmp_path)
    completed = cli("run", "--window", "all", "--data", str(tmp_path / "spans"), "--output", str(tmp_path / "out"))
    assert completed.returncode == 1 and completed.stdout == "", completed.stderr[-2000:]
    [line] = error_lines(completed)
    assert line == f"Error: {bad}: line 8, column 'temp': value 'warm' is not a number"


@pytest.mark.parametrize("value", ["0", "-2", "some"])
def test_bad_window_is_a_usage_error_naming_the_value(spans, tmp_path, value):
    completed = cli("run", "--window", value, "--data", str(spans), "--output", str(tmp_path))
    assert completed.returncode == 2 and completed.stdout == ""
    assert repr(value) in completed.stderr and "Traceback" not in completed.stderr


def test_a_window_whose_span_has_no_folder_fails_before_any_node_runs(tmp_path):
    copy = tmp_path / "spans"
    shutil.copytree(os.path.join(FIXTURES, "span-3"), copy / "span-3")
    completed = cli("run", "--span", "3", "--window", "2", "--data", str(copy), "--output", str(tmp_path / "out"))
    assert completed.returncode == 1 and completed.stdout == ""
    [line] = [l for l in error_lines(completed) if l.startswith("Error")]
    assert line == (f"Error: {copy}: the training window 2..3 needs span(s) [2], which have no span-N folder "
                    f"(available: [3])")
    assert not (tmp_path / "out" / "metadata.sqlite").exists()


@pytest.mark.e2e
def test_a_window_ingests_the_spans_the_store_lacks_and_a_rerun_is_fully_cached(tmp_path):
    """`run --span 2 --window 2` on a fresh store (issue 18, item 9): span 1 is ingested first
    (ExampleGen, StatisticsGen), then the run trains on spans 1-2 and compares drift with span 1."""
    copy = tmp_path / "spans"
    for span in (1, 2):
        shutil.copytree(os.path.join(FIXTURES, f"span-{span}"), copy / f"span-{span}")
    args = ["run", "--span", "2", "--window", "2", "--data", str(copy), "--output", str(tmp_path / "out"),
            "--epochs", "1", "--json"]
    first = cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    summary = json.loads(first.stdout)
    assert "[ingest 1/1] span 1 ingested (ExampleGen, StatisticsGen)" in first.stderr
    assert summary["ingested_first"] == [1] and summary["training_spans"] == [1, 2] and summary["spans"] == [2]
    assert summary["drift"]["verdict"] != "NO_BASELINE"  # span 1's statistics came with its ingestion
    again = cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads(again.stdout)
    assert "[ingest" not in again.stderr and "ingested_first" not in rerun
    states = {n["node"]: n["state"] for n in rerun["nodes"]}
    assert {states[n] for n in ("CsvExampleGen", "StatisticsGen", "DriftValidator", "Trainer", "Evaluator",
                                "BehaviorValidator", "LocalInfraValidator")} == {"CACHED"}
