"""The project's model-server command: the real `tensorflow_model_server` when installed, else ours.

`COMMAND` runs serving.server.model_server (tensorflow_model_server's flags); the choice itself, the ports,
readiness and stop are components/infra_validator/model_server_process.py's (the one launcher,
also used by the InfraValidator, which gets COMMAND from pipeline/dag/configs.py).
"""
from typing import List

from components.infra_validator import model_server_process

# TF Serving's ports: gRPC --port's default, and the REST port its Docker image uses (the binary's default is 0, off).
GRPC_PORT = 8500
REST_PORT = 8501
LOCAL_GRPC = f"127.0.0.1:{GRPC_PORT}"
LOCAL_REST = f"http://127.0.0.1:{REST_PORT}"

COMMAND = (model_server_process.SYS_EXECUTABLE, "-m", "serving.server.model_server")


def server_command() -> List[str]:
    """[tensorflow_model_server] ($TF_SERVING_BINARY or PATH), else [python, -m, serving.server.model_server]."""
    return model_server_process.server_command(COMMAND)
