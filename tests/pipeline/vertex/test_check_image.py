"""`vertex check-image`: imports what every task of a compiled spec runs and names what is missing."""
import json
import os
import stat
import subprocess
import sys

import pytest

from data import keras_choice
from pipeline.local.runner import REPO_ROOT

GS = dict(pipeline_root="gs://bucket/root", data_root="gs://bucket/spans", schema_path="gs://bucket/schema.pbtxt",
          serving_model_dir="gs://bucket/serving")


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory):
    from pipeline.vertex.compile import compile_for_vertex
    path = str(tmp_path_factory.mktemp("check-image") / "spec.json")
    compile_for_vertex(path, **GS, image="img:1")
    return path


def check_image(*args, env=None):
    environment = dict(os.environ if env is None else env)
    return subprocess.run([sys.executable, "-m", "pipeline", "vertex", "check-image", *args], capture_output=True,
                          text=True, cwd=REPO_ROOT, env=environment)


def image_env(**extra):
    """The environment the Dockerfile gives the image: the Keras choice set."""
    return dict(os.environ, **{keras_choice.VARIABLE: keras_choice.VALUE}, **extra)


def test_a_spec_compiled_here_can_run_here(spec_path):
    completed = check_image(spec_path, env=image_env())
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("OK: every task of spec.json (")


def test_missing_executor_and_artifact_class_are_named_with_their_task(spec_path, tmp_path):
    raw = json.load(open(spec_path))
    executors = raw["pipelineSpec"]["deploymentSpec"]["executors"]
    args = executors["Pusher_executor"]["container"]["args"]
    args[args.index("--executor_class_path") + 1] = "components.nowhere.Executor"
    definitions = raw["pipelineSpec"]["components"]["DriftValidator"]["outputDefinitions"]["artifacts"]
    definitions["drift_report"]["artifactType"]["instanceSchema"] = "title: components.NoSuchReport\ntype: object\n"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(raw))
    completed = check_image(str(broken), env=image_env())
    assert completed.returncode == 1
    missing = [line for line in completed.stderr.splitlines() if line.startswith("MISSING ")]
    assert len(missing) == 2, completed.stderr[-3000:]
    assert any("executor class 'components.nowhere.Executor' (task Pusher): ModuleNotFoundError" in m for m in missing)
    assert any("artifact class of 'drift_report' 'components.NoSuchReport' (task DriftValidator): AttributeError"
               in m for m in missing)
    assert completed.stderr.splitlines()[-1] == "Error: 2 problem(s): this image cannot run broken.json"


def test_an_image_without_the_keras_choice_in_its_environment_fails(spec_path):
    env = {k: v for k, v in os.environ.items() if k != keras_choice.VARIABLE}
    completed = check_image(spec_path, env=env)
    assert completed.returncode == 1
    assert f"MISSING environment: {keras_choice.VARIABLE}=None, must be '1'" in completed.stderr


def test_require_model_server(spec_path, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    path = os.pathsep.join([str(bin_dir), os.path.dirname(sys.executable), "/usr/bin", "/bin"])
    without = check_image(spec_path, "--require-model-server", env=image_env(PATH=path))
    assert without.returncode == 1
    assert "MISSING tensorflow_model_server: not on PATH" in without.stderr
    binary = bin_dir / "tensorflow_model_server"
    binary.write_text("#!/bin/sh\necho 'TensorFlow ModelServer: 2.16.1'\n")
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    with_binary = check_image(spec_path, "--require-model-server", env=image_env(PATH=path))
    assert with_binary.returncode == 0, with_binary.stderr[-2000:]


def test_without_a_spec_it_checks_a_spec_compiled_here():
    """What the Dockerfile's build step runs."""
    completed = check_image(env=image_env())
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.startswith("OK: every task of spec.json (")
