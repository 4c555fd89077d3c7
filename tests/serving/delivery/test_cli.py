"""`python -m serving deploy`: a deployment of registry versions, ready for `rollout init`."""
import os
import time
import urllib.request

from components.infra_validator.model_server_process import free_ports
from data.contract import MODEL_NAME
from data.mlmd_store import open_store
from serving import client as serving_client
from tests.serving.cli_process import Blocking, serving
from tests.serving.mlmd_pushes import record_push


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
    refused = serving("deploy", "green", "--versions", "1,9", "--metadata", metadata)
    assert refused.returncode == 1 and "version(s) [9] not pushed" in refused.stderr, refused.stderr
