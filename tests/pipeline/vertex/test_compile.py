"""The one create_pipeline compiled for Vertex Pipelines: strict parse, every node and its dependencies,
the drift gate, the image, Dataflow args exactly on the Beam nodes, no local path."""
import json
import subprocess
import sys

import pytest

from pipeline.local.runner import REPO_ROOT
from pipeline.vertex import compile as vertex_compile
from pipeline.vertex import spec as vertex_spec

IMAGE = "europe-docker.pkg.dev/p/r/flight-delay:1"
GS = dict(pipeline_root="gs://bucket/root", data_root="gs://bucket/spans", schema_path="gs://bucket/schema.pbtxt",
          serving_model_dir="gs://bucket/serving")
DATAFLOW = vertex_compile.Dataflow(project="p", region="europe-west4", temp_location="gs://bucket/tmp",
                                   max_workers=4, machine_type="n1-standard-4")
GATED = {"Trainer", "Evaluator", "BehaviorValidator", "LocalInfraValidator", "Pusher"}


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=REPO_ROOT)


def gs_args(output):
    return ["--output", str(output), "--pipeline-root", GS["pipeline_root"], "--data", GS["data_root"],
            "--schema", GS["schema_path"], "--serving-model-dir", GS["serving_model_dir"], "--image", IMAGE]


@pytest.fixture(scope="module")
def dataflow_job(tmp_path_factory):
    output = tmp_path_factory.mktemp("vertex") / "dataflow.json"
    completed = cli("vertex", "compile", *gs_args(output), "--beam-runner", "dataflow", "--project", "p",
                    "--region", "europe-west4", "--temp-location", "gs://bucket/tmp", "--max-workers", "4",
                    "--machine-type", "n1-standard-4")
    assert completed.returncode == 0, completed.stderr[-3000:]
    return vertex_spec.load(str(output))


@pytest.fixture(scope="module")
def tfx_pipeline():
    """The TFX pipeline object the spec was compiled from."""
    from pipeline.dag.pipeline import create_pipeline
    return create_pipeline(**GS, vertex=True)


def node_of(task, node_ids):
    """The node a task was compiled from (a resolver node may become several tasks named after it)."""
    return max((n for n in node_ids if task == n or task.startswith(n + "-")), key=len)


def container_args(job, task):
    container = job.executor(task).container
    return [a for a in container.args if a.startswith("--") and a not in (
        vertex_spec.RUN_EXECUTOR_FLAG, "--json_serialized_invocation_args", "--json_serialized_inputs_spec_args")]


def test_old_name_still_compiles_and_keeps_its_checks(tmp_path):
    output = tmp_path / "flight-delay.json"
    completed = cli("compile-vertex", *gs_args(output))
    assert completed.returncode == 0, completed.stderr[-3000:]
    spec = json.loads(output.read_text())
    pipeline_spec = spec.get("pipelineSpec", spec)
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    for node in ("CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "DriftValidator",
                 "Trainer", "Evaluator", "BehaviorValidator", "LocalInfraValidator", "Pusher"):
        assert any(name.startswith(node) for name in tasks), node
    executors = json.dumps(pipeline_spec["deploymentSpec"]["executors"])
    assert "components.infra_validator.executor.Executor" in executors
    assert "components.behavior_validator.executor.Executor" in executors
    assert IMAGE in executors
    # Pusher runs only when the drift gate passed (and pushes only what the behaviour validator blessed).
    pusher = next(v for k, v in tasks.items() if k.startswith("Pusher"))
    assert "blessed" in json.dumps(pusher.get("triggerPolicy", {}))
    # direct runner: Beam args in the Beam nodes' containers only
    job = vertex_spec.load(str(output))
    assert container_args(job, "StatisticsGen") == vertex_compile.beam_args(IMAGE)
    assert container_args(job, "Trainer") == []


def test_every_node_and_its_dependencies(dataflow_job, tfx_pipeline):
    node_ids = {c.id for c in tfx_pipeline.components}
    tasks = dataflow_job.tasks
    assert {node_of(t, node_ids) for t in tasks} == node_ids
    for task_name in tasks:
        component = next(c for c in tfx_pipeline.components if c.id == node_of(task_name, node_ids))
        upstream_nodes = {u.id for u in component.upstream_nodes}
        waits_for = {node_of(t, node_ids) for t in dataflow_job.upstream(task_name)} - {component.id}
        # what the task waits for is what the node depends on; the drift gate's producer comes with the gate
        assert waits_for - {"DriftValidator"} == upstream_nodes - {"DriftValidator"}, task_name
        assert ("DriftValidator" in waits_for) == (task_name in GATED or "DriftValidator" in upstream_nodes)
    order = dataflow_job.order()
    assert sorted(order) == sorted(tasks)
    for task_name in tasks:
        assert all(order.index(u) < order.index(task_name) for u in dataflow_job.upstream(task_name)), task_name


def test_the_drift_gate_guards_training_and_everything_after_it(dataflow_job):
    gated = {name for name, task in dataflow_job.tasks.items() if task.trigger_policy.condition}
    assert gated == GATED
    for name in gated:
        condition = dataflow_job.tasks[name].trigger_policy.condition
        assert "DriftValidator.drift_report" in condition and "['blessed'] == 1" in condition, condition


def test_every_container_runs_the_image_and_its_executor_imports_here(dataflow_job):
    from pipeline.vertex import check_image
    for task in dataflow_job.tasks:
        executor = dataflow_job.executor(task)
        if executor.HasField("container"):
            assert executor.container.image == IMAGE, task
    problems = [p for p in check_image.check(dataflow_job) if not p.startswith("environment:")]
    assert problems == []


def test_dataflow_args_exactly_on_the_beam_nodes(dataflow_job, tfx_pipeline):
    from tfx.dsl.components.base.executor_spec import BeamExecutorSpec
    beam_nodes = {c.id for c in tfx_pipeline.components if isinstance(c.executor_spec, BeamExecutorSpec)}
    assert {"CsvExampleGen", "StatisticsGen", "Evaluator", "BehaviorValidator"} <= beam_nodes
    expected = DATAFLOW.beam_args(IMAGE)
    assert "--runner=DataflowRunner" in expected and f"--sdk_container_image={IMAGE}" in expected
    containers = [t for t in dataflow_job.tasks if dataflow_job.executor(t).HasField("container")]
    for task in containers:
        assert container_args(dataflow_job, task) == (expected if task in beam_nodes else []), task
    example_gen_driver = dataflow_job.executor("CsvExampleGen").container.lifecycle.pre_cache_check
    assert [a for a in example_gen_driver.args if a.startswith("--runner")] == ["--runner=DataflowRunner"]


def test_no_local_path_in_the_spec(dataflow_job):
    raw = json.load(open(dataflow_job.path))
    assert vertex_compile.local_paths(raw, [REPO_ROOT]) == []
    assert REPO_ROOT not in json.dumps(raw)


def test_a_local_path_is_refused_naming_it(tmp_path):
    output = tmp_path / "spec.json"
    completed = cli("vertex", "compile", *gs_args(output)[:-2], "--image", IMAGE, "--data", str(tmp_path / "spans"))
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert f"names local path(s) ['{tmp_path / 'spans'}']" in completed.stderr.splitlines()[-1]
    assert not output.exists()


def test_local_path_detection():
    found = vertex_compile.local_paths(
        {"a": ["gs://b/root", "--setup_file=/src/setup.py", '{"base_directory": "/srv/models"}'],
         "b": "file:///tmp/x", "c": "europe-docker.pkg.dev/p/r/i:1", "d": "mentions /repo/here"}, ["/repo"])
    assert found == ["--setup_file=/src/setup.py", "/srv/models", "file:///tmp/x", "mentions /repo/here"]


def test_dataflow_needs_its_flags(tmp_path):
    completed = cli("vertex", "compile", *gs_args(tmp_path / "s.json"), "--beam-runner", "dataflow", "--project", "p")
    assert completed.returncode == 2
    assert completed.stderr.strip() == "Error: --beam-runner dataflow needs --region, --temp-location"


def test_strict_parse_names_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"displayName": "x", "pipelineSpec": {"root": {"dag": {"taskz": {}}}}}))
    with pytest.raises(vertex_spec.SpecError, match=rf"{bad}: not a Vertex pipeline job: .*taskz"):
        vertex_spec.load(str(bad))


def test_output_in_a_missing_folder_is_created_and_an_impossible_one_is_one_line(tmp_path):
    nested = tmp_path / "new" / "deeper" / "spec.json"
    completed = cli("vertex", "compile", *gs_args(nested))
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert vertex_spec.load(str(nested)).tasks
    (tmp_path / "a-file").write_text("")
    refused = cli("vertex", "compile", *gs_args(tmp_path / "a-file" / "spec.json"))
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode == 1 and lines[-1].startswith("Error: --output ") and "Traceback" not in refused.stderr, \
        refused.stderr[-2000:]
