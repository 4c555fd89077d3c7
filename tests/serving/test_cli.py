"""`python -m serving serve|deploy|status|predict` as a user runs them: real processes on free ports."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from components.infra_validator.model_server_process import free_ports
from data.contract import MODEL_NAME
from pipeline.metadata import open_store
from serving import client as serving_client
from tests.serving.mlmd_pushes import record_push
from tests.serving.server_process import REPO_ROOT

FIXTURE_CSV = os.path.join(REPO_ROOT, "tests", "fixtures", "spans", "span-1", "flights.csv")


def _serving(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "serving", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, **kwargs)


class Blocking:
    """A blocking `python -m serving ...` command (serve, deploy) until its REST port answers."""

    def __init__(self, args, rest_port, log_path):
        self.rest = f"127.0.0.1:{rest_port}"
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "serving", *args], cwd=REPO_ROOT,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            assert self.process.poll() is None and time.monotonic() < deadline, open(log_path).read()[-3000:]
            try:
                urllib.request.urlopen(f"http://{self.rest}/v1/models/{MODEL_NAME}", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)

    def stderr(self):
        return open(self.log_path).read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def served(library, tmp_path):
    """`serving serve` on a push directory holding versions 1 and 2 (latest: 2)."""
    push_dir = str(tmp_path / "serving_model" / MODEL_NAME)
    for version in (1, 2):
        library.push(library.contract[version], push_dir, version)
    grpc_port, rest_port = free_ports(2)
    server = Blocking(["serve", "--model-base-path", push_dir, "--port", str(grpc_port),
                       "--rest-api-port", str(rest_port)], rest_port, str(tmp_path / "serve.log"))
    server.push_dir, server.grpc = push_dir, f"127.0.0.1:{grpc_port}"
    yield server
    server.stop()


def test_serve_labels_the_version_it_serves_stable_and_a_row_with_an_empty_cell_is_sent_as_nan(served, library):
    config = serving_client.read_model_config(os.path.join(os.path.dirname(served.push_dir), "models.config"))
    assert dict(serving_client.find_model(config, MODEL_NAME).version_labels) == {"stable": 2}
    assert "version 2 (label stable)" in served.stderr()
    # A real span row whose wind_gust cell is empty: NaN is how TF Serving's JSON takes a missing float.
    [row] = [r for r in serving_client.rows_from_csv(open(FIXTURE_CSV).read()) if r["wind_gust"] != r["wind_gust"]][:1]
    body = json.dumps({"instances": [row]})
    assert '"wind_gust": NaN' in body
    answer = subprocess.run(["curl", "-s", "-d", body,
                             f"{served.rest}/v1/models/{MODEL_NAME}/labels/stable:predict"],
                            capture_output=True, text=True, timeout=60)
    [prediction] = json.loads(answer.stdout)["predictions"]
    assert 0.0 < prediction < 1.0
    assert prediction == pytest.approx(library.expected(2, [row])[0], abs=1e-6)


def test_status_and_predict_take_host_port_for_rest_and_grpc(served):
    for protocol, where in (("rest", served.rest), ("grpc", served.grpc)):
        status = _serving("status", "--protocol", protocol, "--server", where)
        assert status.returncode == 0, status.stderr
        assert "AVAILABLE" in status.stdout
        predicted = _serving("predict", "--protocol", protocol, "--server", where, "--csv", FIXTURE_CSV, "--rows", "3")
        assert predicted.returncode == 0, predicted.stderr
        assert len([json.loads(line) for line in predicted.stdout.splitlines()]) == 3


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_a_server_that_is_not_running_is_a_one_line_error(protocol):
    [port] = free_ports(1)
    for command in (["status"], ["predict", "--csv", FIXTURE_CSV]):
        result = _serving(*command, "--protocol", protocol, "--server", f"127.0.0.1:{port}",
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("Error: UNAVAILABLE") and f"127.0.0.1:{port}" in errors[0], \
            result.stderr


def test_deploy_starts_a_deployment_of_registry_versions(library, tmp_path):
    push_dir = str(tmp_path / "serving_model" / MODEL_NAME)
    metadata = str(tmp_path / "metadata.sqlite")
    store = open_store(metadata)
    for version in (1, 2, 3):
        library.push(library.contract[version], push_dir, version)
        record_push(store, MODEL_NAME, version, destination=os.path.join(push_dir, str(version)))
    grpc_port, rest_port = free_ports(2)
    server = Blocking(["deploy", "blue", "--versions", "1,3", "--metadata", metadata, "--port", str(grpc_port),
                       "--rest-api-port", str(rest_port)], rest_port, str(tmp_path / "deploy.log"))
    try:
        deadline = time.monotonic() + 120
        while set(serving_client.version_states(f"127.0.0.1:{grpc_port}", MODEL_NAME).values()) != {"AVAILABLE"} \
                and time.monotonic() < deadline:
            time.sleep(0.3)
        assert serving_client.version_states(f"127.0.0.1:{grpc_port}", MODEL_NAME) == {1: "AVAILABLE", 3: "AVAILABLE"}
        assert f"--deployment blue=127.0.0.1:{rest_port},127.0.0.1:{grpc_port}" in server.stderr()
        # Prometheus is on by default (rollout analyze reads it); a server without it answers 404 here.
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics", timeout=10)
        assert metrics.status == 200
    finally:
        server.stop()
    refused = _serving("deploy", "green", "--versions", "1,9", "--metadata", metadata)
    assert refused.returncode == 1 and "version(s) [9] not pushed" in refused.stderr, refused.stderr
