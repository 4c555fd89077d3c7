"""TFX model-server runner that launches the server as a local process (model_server_process).

Command: the real `tensorflow_model_server` when installed ($TF_SERVING_BINARY or PATH), else the
fallback command the component was given. Output goes to a temp log file kept until Stop.
"""
import os
import shutil
import tempfile
import time
from typing import List, Optional

from absl import logging
from tfx.components.infra_validator import error_types
from tfx.components.infra_validator.model_server_runners import base_runner
from tfx.utils.model_paths import tf_serving_flavor

from components.infra_validator import model_server_process as msp

_STOP_GRACE_SEC = 10


class LocalProcessRunner(base_runner.BaseModelServerRunner):
    """Runs the model server as a child process of the executor."""

    def __init__(self, model_path: str, model_name: str,
                 command: Optional[List[str]] = None, stop_grace_sec: float = _STOP_GRACE_SEC):
        """model_path: TF-Serving-flavoured `<base>/<model_name>/<version>` (from TFX).

        command: server command prefix (default: msp.server_command(), the real binary); flags are
        appended.
        """
        self._model_path = model_path
        # TFX's "model_base_path" is the parent of <model_name>; the binary's flag (like the
        # docker image's entrypoint) takes <model_base_path>/<model_name>.
        base, name, _ = tf_serving_flavor.parse_model_path(model_path)
        self._model_base_path = os.path.join(base, name)
        self._model_name = model_name
        self._command = list(command) if command else None
        self._stop_grace_sec = stop_grace_sec
        self._server: Optional[msp.ModelServerProcess] = None
        self._log_dir: Optional[str] = None
        self._final_logs: Optional[str] = None
        self._endpoint: Optional[str] = None

    def __repr__(self):
        server = self._server
        return (f"LocalProcessRunner(command={self._command}, model_base_path="
                f"{self._model_base_path!r}, grpc_port={server.grpc_port if server else None}, "
                f"pid={self.pid})")

    @property
    def pid(self) -> Optional[int]:
        return self._server.pid if self._server else None

    def Start(self) -> None:
        assert self._server is None, "You cannot start model server multiple times."
        try:
            self._command = self._command or msp.server_command()
            self._log_dir = tempfile.mkdtemp(prefix="infra_validator_server_")
            self._server = msp.ModelServerProcess(
                self._command,
                msp.model_flags(self._model_name, self._model_base_path, extra=[
                    # One load attempt per validation try: TFX's ValidationSpec.num_tries is the
                    # retry loop; the binary's default (5 retries, 1 min apart) would only burn
                    # the deadline.
                    "--max_num_load_retries=0"]),
                log_path=os.path.join(self._log_dir, "server.log"),
                stop_grace_sec=self._stop_grace_sec)
            logging.info("Starting model server: %s", " ".join(self._server.args))
            self._server.start()
        except FileNotFoundError as exc:  # no binary, no fallback, or fallback not importable
            raise error_types.JobAborted(str(exc)) from exc

    def CheckAlive(self) -> None:
        """Raise JobAborted if the server process has exited."""
        assert self._server is not None, "Model server has not been started."
        try:
            self._server.check_alive()
        except msp.ServerExited as exc:
            raise error_types.JobAborted(
                f"{exc} (model_base_path={self._model_base_path!r}).") from exc

    def WaitUntilRunning(self, deadline: float) -> None:
        """Wait until the gRPC port accepts connections (deadline: time.time()-based, as TFX's)."""
        self.CheckAlive()
        try:
            self._server.wait_until_listening(time.monotonic() + (deadline - time.time()))
        except msp.ServerExited:
            self.CheckAlive()
        except msp.ServerNotReady as exc:
            raise error_types.DeadlineExceeded(
                f"Deadline exceeded while waiting for the model server to listen on gRPC port "
                f"{self._server.grpc_port}.") from exc
        self._endpoint = f"localhost:{self._server.grpc_port}"

    def GetEndpoint(self) -> str:
        assert self._endpoint is not None, (
            "Endpoint is not yet available. Call Start() and WaitUntilRunning() first.")
        return self._endpoint

    def GetLogs(self) -> Optional[str]:
        if self._final_logs is not None:
            return self._final_logs
        return (self._server.logs() if self._server else "") or None

    def Stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period; never raises."""
        try:
            if self._server is not None:
                self._server.stop()
            if self._log_dir:
                self._final_logs = self.GetLogs()
                shutil.rmtree(self._log_dir, ignore_errors=True)
                self._log_dir = None
        except Exception:  # pylint: disable=broad-except
            logging.warning("Error while stopping %r.", self, exc_info=True)
