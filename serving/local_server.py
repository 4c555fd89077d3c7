"""The project's model-server command: the real `tensorflow_model_server` when installed, else ours.

`COMMAND` runs serving.model_server (tensorflow_model_server's flags); the choice itself, the ports,
readiness and stop are components/infra_validator/model_server_process.py's (the one launcher,
also used by the InfraValidator, which gets COMMAND from pipeline/configs.py).
"""
from typing import List

from components.infra_validator import model_server_process

COMMAND = (model_server_process.SYS_EXECUTABLE, "-m", "serving.model_server")


def server_command() -> List[str]:
    """[tensorflow_model_server] ($TF_SERVING_BINARY or PATH), else [python, -m, serving.model_server]."""
    return model_server_process.server_command(COMMAND)
