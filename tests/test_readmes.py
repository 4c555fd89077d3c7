"""The READMEs' walkthroughs, run as written on a fresh output folder, checked against what the READMEs say they
print or do: the main README's `run`, serving/README.md's `serve` + curl, pipeline/lineage/README.md's questions.
(The Vertex run-local walkthrough: tests/pipeline/vertex/test_launcher.py.) One pipeline run is shared."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from pipeline.local.runner import REPO_ROOT


def _script():
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "regenerate_readme_outputs", os.path.join(REPO_ROOT, "docs", "regenerate_readme_outputs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


readmes = _script()  # the script that writes the READMEs' generated blocks

FIXTURE_SPANS = os.path.join(REPO_ROOT, "tests", "fixtures", "spans")


# A newcomer's shell: no TF_CPP_MIN_LOG_LEVEL (tests/conftest.py sets one for the suite).
NEWCOMER_ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def _python(*args, **kwargs):
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200,
                          env=NEWCOMER_ENV, **kwargs)


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """`make run` (= python -m pipeline run) on the latest fixture span, into a fresh output folder."""
    data = tmp_path_factory.mktemp("readme-spans")
    for name in sorted(os.listdir(FIXTURE_SPANS)):
        if name.startswith("span-"):
            shutil.copytree(os.path.join(FIXTURE_SPANS, name), data / name)
    out = str(tmp_path_factory.mktemp("readme") / "outputs")
    done = _python("-m", "pipeline", "run", "--data", str(data), "--output", out)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"out": out, "stdout": done.stdout, "stderr": done.stderr, "metadata": os.path.join(out, "metadata.sqlite")}


@pytest.mark.e2e
def test_main_readme_run_prints_the_summary_it_shows(readme_run):
    shown = readmes.generated("README.md", "main-run")
    def heads(text):  # what each summary line is about: the words before its first ": " (run ids masked)
        return [re.sub(r"\d{4}-\d\d-\d\dT[\d:]+-[0-9a-f]+", "RUN", line.split(": ", 1)[0]) for line in text.splitlines()
                if ": " in line and not line.startswith(("```", "$", "[", " ", "..."))]

    claimed, printed = heads(shown), heads(readme_run["stdout"])
    assert {"Run RUN", "Span ingested and evaluated", "Drift vs previous span", "Pushed", "Log"} <= set(claimed), claimed
    assert [c for c in claimed if c not in printed] == []
    # stdout carries the result only; stderr the run's header and one progress line per node, nothing else
    assert all(line.startswith(("[", "Run ")) for line in readme_run["stderr"].splitlines()), readme_run["stderr"][-2000:]
    # span 3 on a fresh store, window `all`: spans 1 and 2 are ingested first (one progress line each), so the drift
    # check has span 2's statistics as its baseline
    assert "Ingested first (the metadata store lacked them): span(s) [1, 2]" in readme_run["stdout"]
    assert sum(line.startswith("[ingest ") for line in readme_run["stderr"].splitlines()) == 2
    drift = next(line for line in readme_run["stdout"].splitlines() if line.startswith("Drift vs previous span"))
    assert "NO_BASELINE" not in drift


@pytest.mark.e2e
def test_serving_readme_serve_and_curl(readme_run, tmp_path):
    # the curl the README shows sends the README's real row, with NaN for its empty cell
    command = readmes.curl_command()
    body = command[3]
    assert "NaN" in body and body in readmes.generated("serving/README.md", "serving-curl")
    push_dir = os.path.join(readme_run["out"], "serving_model", "flight_delay")
    assert os.listdir(push_dir), "the run pushed nothing"
    server, rest = readmes.start_serve(push_dir, str(tmp_path / "serve.log"))  # as `make serve` does, on free ports
    try:
        answer = subprocess.run(readmes.curl_command(rest), capture_output=True, text=True, timeout=60)
        [prediction] = json.loads(answer.stdout)["predictions"]
        assert 0.0 <= prediction <= 1.0
        status = _python("-m", "serving", "status", "--server", rest)
        assert status.returncode == 0 and "AVAILABLE" in status.stdout
    finally:
        server.terminate()
        server.wait(30)


def _lineage_commands():
    """The command lines of the lineage README's first block (comments dropped)."""
    with open(os.path.join(REPO_ROOT, "pipeline", "lineage", "README.md")) as f:
        block = f.read().split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]


@pytest.mark.e2e
def test_lineage_readme_questions_answer_from_the_runs_store(readme_run):
    commands = _lineage_commands()
    assert [c[3:5] for c in commands][:3] == [["lineage", "trace"], ["lineage", "trace"], ["lineage", "impact"]]
    for command in commands:
        # one run here: `diff` compares the served model with the latest one, as the README allows
        args = [{"RUN_A": "served", "RUN_B": "latest"}.get(a, a) for a in command[3:]]
        for extra in ([], ["--read-files"]) if args[1] in ("trace", "runs") else ([],):
            done = _python("-m", "pipeline", *args, *extra, "--metadata", readme_run["metadata"])
            assert done.returncode == 0, (args, done.stderr[-2000:])
            assert done.stdout.strip() and done.stderr == "", (args, done.stderr[-2000:])  # no TensorFlow noise
    traced = _python("-m", "pipeline", "lineage", "trace", "--metadata", readme_run["metadata"], "--format", "json")
    trace = json.loads(traced.stdout)
    assert trace["serving"] is True and trace["spans"] == [1, 2, 3] and trace["training_spans"] == [1, 2, 3]
    # times of the run that made the model, not earlier
    assert trace["times"]["seconds"] < 3600
    runs = json.loads(_python("-m", "pipeline", "lineage", "runs", "--metadata", readme_run["metadata"],
                              "--format", "json").stdout)["runs"]
    pushed = re.search(r"Pushed: version (\d+)", readme_run["stdout"]).group(1)
    assert [str(r["pushed"]["version"]) for r in runs if r.get("pushed")] == [pushed]
