"""Model server runner that launches a TF-Serving-compatible server as a local process.

Binary: `tensorflow_model_server` when on PATH, else our `python -m serving.model_server` (same
flags). The process gets free ports, its own session (so Stop kills the whole group), and writes
its output to a temp log file.
"""
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import List, Optional

from absl import logging
from tfx.components.infra_validator import error_types
from tfx.components.infra_validator.model_server_runners import base_runner
from tfx.utils.model_paths import tf_serving_flavor

TF_SERVING_BINARY = "tensorflow_model_server"
PYTHON_SERVER_MODULE = "serving.model_server"
_POLL_SEC = 0.2
_STOP_GRACE_SEC = 10
_MAX_LOG_CHARS = 20000


def server_command() -> List[str]:
    """Command prefix of the model server: the real binary if installed, else our Python server."""
    binary = shutil.which(TF_SERVING_BINARY)
    if binary:
        return [binary]
    return [sys.executable, "-m", PYTHON_SERVER_MODULE]


def _python_server_root() -> Optional[str]:
    """Directory to put on the child's PYTHONPATH so `-m serving.model_server` resolves."""
    spec = importlib.util.find_spec(PYTHON_SERVER_MODULE.split(".")[0])
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))


def free_ports(count: int) -> List[int]:
    """`count` distinct TCP ports free right now on localhost (held open together while chosen)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=1):
            return True
    except OSError:
        return False


class LocalProcessRunner(base_runner.BaseModelServerRunner):
    """Runs the model server as a child process of the executor."""

    def __init__(self, model_path: str, model_name: str,
                 command: Optional[List[str]] = None, stop_grace_sec: float = _STOP_GRACE_SEC):
        """model_path: TF-Serving-flavoured `<base>/<model_name>/<version>` (from TFX).

        command: server command prefix (default: server_command()); flags are appended.
        """
        self._model_path = model_path
        # TFX's "model_base_path" is the parent of <model_name>; the binary's flag (like the
        # docker image's entrypoint) takes <model_base_path>/<model_name>.
        base, name, _ = tf_serving_flavor.parse_model_path(model_path)
        self._model_base_path = os.path.join(base, name)
        self._model_name = model_name
        self._command = list(command) if command else server_command()
        self._stop_grace_sec = stop_grace_sec
        self._process: Optional[subprocess.Popen] = None
        self._stopped = False
        self._log_dir: Optional[str] = None
        self._final_logs: Optional[str] = None
        self._grpc_port: Optional[int] = None
        self._rest_port: Optional[int] = None
        self._endpoint: Optional[str] = None

    def __repr__(self):
        pid = self._process.pid if self._process else None
        return (f"LocalProcessRunner(command={self._command}, model_base_path="
                f"{self._model_base_path!r}, grpc_port={self._grpc_port}, pid={pid})")

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process else None

    def Start(self) -> None:
        assert self._process is None, "You cannot start model server multiple times."
        self._grpc_port, self._rest_port = free_ports(2)
        args = self._command + [
            f"--port={self._grpc_port}",
            f"--rest_api_port={self._rest_port}",
            f"--model_name={self._model_name}",
            f"--model_base_path={self._model_base_path}",
            # One load attempt per validation try: TFX's ValidationSpec.num_tries is the retry
            # loop; the binary's default (5 retries, 1 min apart) would only burn the deadline.
            "--max_num_load_retries=0",
        ]
        env = dict(os.environ)
        env.setdefault("TF_USE_LEGACY_KERAS", "1")
        if self._command[1:3] == ["-m", PYTHON_SERVER_MODULE]:
            root = _python_server_root()
            if root is None:
                raise error_types.JobAborted(
                    f"no model server: {TF_SERVING_BINARY!r} is not on PATH and Python module "
                    f"{PYTHON_SERVER_MODULE!r} is not importable (sys.path={sys.path})")
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (root, env.get("PYTHONPATH")) if p)
        self._log_dir = tempfile.mkdtemp(prefix="infra_validator_server_")
        logging.info("Starting model server: %s", " ".join(args))
        with open(os.path.join(self._log_dir, "server.log"), "wb") as log:
            self._process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, start_new_session=True)

    def CheckAlive(self) -> None:
        """Raise JobAborted if the server process has exited."""
        assert self._process is not None, "Model server has not been started."
        code = self._process.poll()
        if code is not None:
            raise error_types.JobAborted(
                f"Model server process {self._process.pid} exited with code {code} "
                f"(model_base_path={self._model_base_path!r}).")

    def WaitUntilRunning(self, deadline: float) -> None:
        """Wait until the gRPC port accepts connections."""
        while time.time() < deadline:
            self.CheckAlive()
            if _port_open(self._grpc_port):
                self._endpoint = f"localhost:{self._grpc_port}"
                return
            time.sleep(_POLL_SEC)
        raise error_types.DeadlineExceeded(
            f"Deadline exceeded while waiting for the model server to listen on gRPC port "
            f"{self._grpc_port}.")

    def GetEndpoint(self) -> str:
        assert self._endpoint is not None, (
            "Endpoint is not yet available. Call Start() and WaitUntilRunning() first.")
        return self._endpoint

    def GetLogs(self) -> Optional[str]:
        if self._final_logs is not None:
            return self._final_logs
        if not self._log_dir:
            return None
        try:
            with open(os.path.join(self._log_dir, "server.log"), "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return None
        return text[-_MAX_LOG_CHARS:] or None

    def Stop(self) -> None:
        """SIGTERM the process group, SIGKILL after a grace period; never raises."""
        try:
            if self._process is not None and not self._stopped:
                self._stopped = True
                self._signal_group(signal.SIGTERM)
                try:
                    self._process.wait(timeout=self._stop_grace_sec)
                except subprocess.TimeoutExpired:
                    logging.warning("Model server %d ignored SIGTERM; killing it.",
                                    self._process.pid)
                    self._signal_group(signal.SIGKILL)
                    self._process.wait(timeout=_STOP_GRACE_SEC)
                self._signal_group(signal.SIGKILL)  # strays left in the group, if any
            if self._log_dir:
                self._final_logs = self.GetLogs()
                shutil.rmtree(self._log_dir, ignore_errors=True)
                self._log_dir = None
        except Exception:  # pylint: disable=broad-except
            logging.warning("Error while stopping %r.", self, exc_info=True)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self._process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
