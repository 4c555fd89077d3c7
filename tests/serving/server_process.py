"""A model server for the tests: the real `tensorflow_model_server` when installed ($TF_SERVING_BINARY
or PATH), else `python -m serving.server.model_server`, launched by the project's one launcher
(components/infra_validator/model_server_process.py) on free ports."""
import os
import time

from components.infra_validator import model_server_process as msp
from serving.server import command as local_server

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AVAILABLE, END = msp.AVAILABLE, msp.END


class ServerProcess:
    """One model server; `start()` waits until the named models have a settled version state.

    local_flags are passed only to the local server (flags the binary does not have); local=True runs
    the local server even when the binary is installed (what only it does, e.g. request logging).
    """

    def __init__(self, log_dir: str, flags: list, local_flags: list = (), rest: bool = True, local: bool = False):
        command = msp.resolve_command(local_server.COMMAND) if local else local_server.server_command()
        self.is_local = not msp.is_real_binary(command)
        grpc_port, rest_port = msp.free_ports(2)
        self.server = msp.ModelServerProcess(
            command, list(flags) + (list(local_flags) if self.is_local else []),
            log_path=os.path.join(log_dir, f"server-{grpc_port}.log"), grpc_port=grpc_port,
            rest_port=rest_port, rest=rest, env={"TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=REPO_ROOT)
        self.grpc_port, self.rest_port = self.server.grpc_port, self.server.rest_port
        self.log_path = self.server.log_path

    @property
    def process(self):
        return self.server.process

    @property
    def rest_url(self) -> str:
        return self.server.rest_url

    @property
    def grpc_target(self) -> str:
        return self.server.grpc_target

    def start(self, models: list, timeout: float = 120.0) -> "ServerProcess":
        self.server.start()
        try:
            self.wait_settled(models, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def status(self, model: str):
        return self.server.model_status(model)

    def wait_settled(self, models: list, timeout: float) -> None:
        """Until every model has at least one version and none is loading."""
        try:
            self.server.wait_until_settled(models, time.monotonic() + timeout)
        except (msp.ServerExited, msp.ServerNotReady) as exc:
            raise RuntimeError(f"{exc}:\n{self.log_tail()}") from exc

    def wait_for(self, model: str, version: int, states=(AVAILABLE, END), timeout: float = 60.0):
        """The ModelVersionStatus of `version` once it reaches one of `states`."""
        import grpc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), f"server died:\n{self.log_tail()}"
            try:
                for status in self.status(model).model_version_status:
                    if status.version == version and status.state in states:
                        return status
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{model} version {version} did not reach {states}:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.server.alive()

    def log_tail(self, chars: int = 4000) -> str:
        return self.server.logs(chars)

    def stop(self) -> None:
        self.server.stop()
