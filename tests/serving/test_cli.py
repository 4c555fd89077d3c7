"""`python -m serving status|predict` against a real server started by `serving serve`."""
import json
import os

import pytest

from components.infra_validator.model_server_process import free_ports
from tests.serving.cli_process import FIXTURE_CSV, serving


def test_status_and_predict_take_host_port_for_rest_and_grpc(served):
    for protocol, where in (("rest", served.rest), ("grpc", served.grpc)):
        status = serving("status", "--protocol", protocol, "--server", where)
        assert status.returncode == 0, status.stderr
        assert "AVAILABLE" in status.stdout
        predicted = serving("predict", "--protocol", protocol, "--server", where, "--csv", FIXTURE_CSV, "--rows", "3")
        assert predicted.returncode == 0, predicted.stderr
        assert len([json.loads(line) for line in predicted.stdout.splitlines()]) == 3


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_a_server_that_is_not_running_is_a_one_line_error(protocol):
    [port] = free_ports(1)
    for command in (["status"], ["predict", "--csv", FIXTURE_CSV]):
        # as a user starts it: no TF_CPP_MIN_LOG_LEVEL of the suite's, so TF's start-up lines would show here
        result = serving(*command, "--protocol", protocol, "--server", f"127.0.0.1:{port}",
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(errors) == 1 and errors[0].startswith("Error: UNAVAILABLE") and f"127.0.0.1:{port}" in errors[0], \
            result.stderr


