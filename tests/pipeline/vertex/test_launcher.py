"""`vertex run-local`: the compiled spec runs task by task as Vertex's launcher would run it."""
import json
import os
import re
import shlex
import subprocess
import sys

import pytest
from kfp.pipeline_spec import pipeline_spec_pb2 as pb

from data import mlmd_store
from pipeline.local.runner import REPO_ROOT
from pipeline.vertex import launcher

def artifact(**metadata_values):
    runtime = pb.RuntimeArtifact(name="a", uri="/x")
    runtime.metadata.update(metadata_values)
    return runtime


def test_trigger_conditions():
    condition = "(inputs.artifacts['_DriftValidator.drift_report'].artifacts[0].metadata['blessed'] == 1.0)"
    key = "_DriftValidator.drift_report"
    assert launcher.evaluate_condition(condition, {key: [artifact(blessed=1)]}, {}) is True
    assert launcher.evaluate_condition(condition, {key: [artifact(blessed=0)]}, {}) is False
    assert launcher.evaluate_condition(condition, {key: []}, {}) is False  # nothing produced: not met
    both = f"{condition} && !(inputs.parameter_values['mode'] == 'off')"
    assert launcher.evaluate_condition(both, {key: [artifact(blessed=1)]}, {"mode": "on"}) is True
    assert launcher.evaluate_condition(both, {key: [artifact(blessed=1)]}, {"mode": "off"}) is False
    with pytest.raises(ValueError, match="unsupported Call"):
        launcher.evaluate_condition("__import__('os')", {}, {})


def test_placeholders():
    executor_input = pb.ExecutorInput()
    executor_input.inputs.parameters["run_fn"].string_value = "pipeline.model.trainer.run_fn"
    executor_input.outputs.artifacts["model"].artifacts.add(name="m", uri="/root/Trainer_1/model")
    executor_input.outputs.output_file = "/root/Trainer_1/executor_output.json"
    whole = launcher.fill_placeholders("{{$}}", executor_input)
    assert json.loads(whole)["outputs"]["outputFile"] == "/root/Trainer_1/executor_output.json"
    assert launcher.fill_placeholders("--uri={{$.outputs.artifacts['model'].uri}}", executor_input) == \
        "--uri=/root/Trainer_1/model"
    assert launcher.fill_placeholders("{{$.inputs.parameters['run_fn']}}", executor_input) == "pipeline.model.trainer.run_fn"
    with pytest.raises(ValueError, match="not supported by run-local"):
        launcher.fill_placeholders("{{$.pipeline_job_name}}", executor_input)


def readme_rehearsal(tmp_path):
    """The main README's two rehearsal commands (compile --local-paths, run-local), on this interpreter and
    with its /tmp paths moved under tmp_path; run-local with --json."""
    with open(os.path.join(REPO_ROOT, "README.md")) as f:
        text = f.read()
    block = text.split("Rehearse a spec here before submitting it", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    commands = []
    for line in lines:
        line = re.sub(r"\[[^\]]*\]", "", line).replace("/tmp/local.json", str(tmp_path / "local.json"))
        commands.append([sys.executable if a == ".venv/bin/python" else a.replace("/tmp/v", str(tmp_path / "v"))
                         for a in shlex.split(line)])
    compile_args, run_args = commands
    assert compile_args[3:5] == ["vertex", "compile"] and run_args[3:5] == ["vertex", "run-local"]
    return compile_args, run_args + ["--json"]


@pytest.mark.e2e
def test_the_readme_rehearsal_runs_the_compiled_spec_and_lineage_reads_its_store(tmp_path):
    compile_args, run_args = readme_rehearsal(tmp_path)
    spec_path, serving = tmp_path / "local.json", tmp_path / "v" / "serving"
    compiled = subprocess.run(compile_args, capture_output=True, text=True, cwd=REPO_ROOT)
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    ran = subprocess.run(run_args, capture_output=True, text=True, cwd=REPO_ROOT)
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads(ran.stdout)
    [version] = os.listdir(serving)
    assert result["pushed"]["version"] == version and result["pushed"]["destination"] == str(serving / version)
    spec = json.loads(spec_path.read_text())
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    assert set(result["tasks"]) == set(tasks)
    assert set(result["tasks"].values()) <= {launcher.COMPLETE, launcher.SKIPPED}
    # first span: no drift baseline, so the drift gate passes and everything runs, Pusher included
    assert result["tasks"]["Pusher"] == launcher.COMPLETE
    assert os.path.isfile(serving / version / "saved_model.pb")
    store = mlmd_store.open_store(result["metadata"], read_only=True)
    executions = {e.name.split("/", 1)[1]: e for e in store.get_executions()}
    assert set(executions) == {t for t, state in result["tasks"].items() if state == launcher.COMPLETE}
    assert all(e.last_known_state == e.COMPLETE for e in executions.values())
    # TFX's type names, as a local run records them
    models = {m.name.rsplit("/", 2)[1]: m for m in store.get_artifacts_by_type("Model")}
    assert set(models) == {"Trainer", "serving_model_resolver"}
    model = models["Trainer"]
    # the baseline: ServedModel found nothing served, so the Evaluator and the validators had none
    assert models["serving_model_resolver"].custom_properties["served"].int_value == 0
    assert spec["pipelineSpec"]["root"]["dag"]["tasks"]["serving_model_resolver"]["cachingOptions"] == {"enableCache": False}
    [evaluator_blessing] = [b for b in store.get_artifacts_by_type("ModelBlessing") if "Evaluator" in b.name]
    assert evaluator_blessing.custom_properties["current_model_id"].string_value == model.name
    assert store.get_artifacts_by_type("PushedModel")[0].custom_properties["pushed"].int_value == 1
    # The lineage commands read the store: the run with its push, and the served model traced to its span.
    runs = subprocess.run([sys.executable, "-m", "pipeline", "lineage", "runs", "--metadata", result["metadata"],
                           "--format", "json"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert runs.returncode == 0, runs.stderr[-2000:]
    [row] = json.loads(runs.stdout)["runs"]
    assert row["run_id"] == result["run_id"] and str(row["pushed"]["version"]) == version
    traced = subprocess.run([sys.executable, "-m", "pipeline", "lineage", "trace", "served", "--metadata",
                             result["metadata"], "--format", "json"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert traced.returncode == 0, traced.stderr[-2000:]
    trace = json.loads(traced.stdout)
    # the README compiles on the fixture spans: the latest, span 3
    assert str(trace["pushed"]["version"]) == version and trace["spans"] == [3] and trace["runs"] == [result["run_id"]]
    # the Trainer's INPUT events: every input but those of resolvers, which found nothing on a first run
    executors = spec["pipelineSpec"]["deploymentSpec"]["executors"]
    components = spec["pipelineSpec"]["components"]
    resolvers = {t for t, v in tasks.items()
                 if "resolver" in executors[components[v["componentRef"]["name"]]["executorLabel"]]}
    trainer_inputs = {e.path.steps[0].key for e in store.get_events_by_execution_ids([executions["Trainer"].id])
                      if e.type == e.INPUT}
    assert trainer_inputs == {key for key, a in tasks["Trainer"]["inputs"]["artifacts"].items()
                              if a["taskOutputArtifact"]["producerTask"] not in resolvers}
    assert {"examples", "schema"} <= trainer_inputs
