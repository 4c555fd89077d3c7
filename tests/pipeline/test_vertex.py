"""The one create_pipeline compiles for Vertex Pipelines, custom components included."""
import json
import subprocess
import sys

from pipeline.runner import REPO_ROOT


def test_full_pipeline_compiles_for_vertex(tmp_path):
    output = tmp_path / "flight-delay.json"
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline", "compile-vertex", "--output", str(output),
         "--pipeline-root", "gs://bucket/root", "--data", "gs://bucket/spans",
         "--schema", "gs://bucket/schema.pbtxt", "--serving-model-dir", "gs://bucket/serving",
         "--image", "europe-docker.pkg.dev/p/r/flight-delay:1"], capture_output=True, text=True, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    spec = json.loads(output.read_text())
    pipeline_spec = spec.get("pipelineSpec", spec)
    tasks = pipeline_spec["root"]["dag"]["tasks"]
    for node in ("CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator", "DriftValidator",
                 "Trainer", "Evaluator", "BehaviorValidator", "LocalInfraValidator", "Pusher",
                 "serving_model_resolver"):
        assert any(name.startswith(node) for name in tasks), node
    executors = json.dumps(pipeline_spec["deploymentSpec"]["executors"])
    assert "components.infra_validator.executor.Executor" in executors
    assert "components.behavior_validator.executor.Executor" in executors
    assert "europe-docker.pkg.dev/p/r/flight-delay:1" in executors
    # Pusher runs only when the behaviour validator blessed the model (and the drift gate passed).
    pusher = next(v for k, v in tasks.items() if k.startswith("Pusher"))
    assert "blessed" in json.dumps(pusher.get("triggerPolicy", {}))
