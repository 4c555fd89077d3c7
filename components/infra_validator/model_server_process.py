"""Choose and launch a TF-Serving-compatible model server as a child process (the one place that does).

    command = server_command(fallback=[SYS_EXECUTABLE, "-m", "my.server"])   # binary, else fallback
    server = ModelServerProcess(command, model_flags(model_name="m", model_base_path="/models/m"),
                                log_path="/tmp/server.log").start()
    server.wait_until_settled(["m"], deadline=time.monotonic() + 120)
    ...
    server.stop()

The binary: `$TF_SERVING_BINARY` when set (a path or a name on PATH), else `tensorflow_model_server`
on PATH. Without it, the caller's fallback command runs with the same flags (tensorflow_model_server
2.16.1's: --port, --rest_api_port, --model_name, --model_base_path or --model_config_file, ...).
The child gets free ports, its own session (stop() kills the whole group) and a log file.
"""
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

BINARY_NAME = "tensorflow_model_server"
BINARY_ENV = "TF_SERVING_BINARY"
# A command element standing for the Python interpreter of the process that launches the server
# (a pipeline compiled on one machine must not carry that machine's interpreter path).
SYS_EXECUTABLE = "{sys.executable}"
# ModelVersionStatus.State values (tensorflow_serving/apis/get_model_status.proto).
AVAILABLE, END = 30, 50
_POLL_SEC = 0.2
_STOP_GRACE_SEC = 10.0


class ServerExited(RuntimeError):
    """The server process ended while it was expected to run."""


class ServerNotReady(TimeoutError):
    """The deadline passed before the server was ready."""


def real_binary() -> Optional[str]:
    """Path of the real binary: $TF_SERVING_BINARY (must resolve) or tensorflow_model_server on PATH."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        found = shutil.which(configured)
        if not found:
            raise FileNotFoundError(f"{BINARY_ENV}={configured!r} is not an executable file or a "
                                    f"command on PATH")
        return found
    return shutil.which(BINARY_NAME)


def server_command(fallback: Sequence[str] = ()) -> List[str]:
    """Command prefix of the model server: the real binary when installed, else `fallback`.

    SYS_EXECUTABLE in `fallback` becomes this interpreter. Raises FileNotFoundError with neither.
    """
    binary = real_binary()
    if binary:
        return [binary]
    if not fallback:
        raise FileNotFoundError(
            f"no model server: {BINARY_NAME!r} is not on PATH, {BINARY_ENV} is not set and no "
            f"fallback server command was given")
    return resolve_command(fallback)


def resolve_command(command: Sequence[str]) -> List[str]:
    """`command` with SYS_EXECUTABLE replaced by this interpreter's path."""
    return [sys.executable if part == SYS_EXECUTABLE else str(part) for part in command]


def is_real_binary(command: Sequence[str]) -> bool:
    """True when `command` (from server_command) runs the real binary rather than the fallback."""
    return len(command) == 1 and command[0] == real_binary()


def model_flags(model_name: str = "", model_base_path: str = "", model_config_file: str = "",
                extra: Sequence[str] = ()) -> List[str]:
    """The binary's model flags: --model_config_file, or --model_name + --model_base_path (absolute)."""
    if bool(model_config_file) == bool(model_base_path):
        raise ValueError("give exactly one of model_base_path and model_config_file "
                         f"(got model_base_path={model_base_path!r}, "
                         f"model_config_file={model_config_file!r})")
    if model_config_file:
        flags = [f"--model_config_file={model_config_file}"]
    else:
        if not model_name:
            raise ValueError("model_name is required with model_base_path")
        flags = [f"--model_name={model_name}",
                 f"--model_base_path={os.path.abspath(model_base_path)}"]
    return flags + list(extra)


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


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def child_env(command: Sequence[str], extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """This process's environment (+ `extra`); for `python -m pkg.mod`, pkg's root on PYTHONPATH."""
    env = dict(os.environ, **(extra or {}))
    if len(command) >= 3 and command[1] == "-m":
        spec = importlib.util.find_spec(command[2].split(".")[0])
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(f"server command {list(command)}: module {command[2]!r} is not "
                                    f"importable (sys.path={sys.path})")
        root = os.path.dirname(os.path.abspath(list(spec.submodule_search_locations)[0]))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


class ModelServerProcess:
    """One model server child process on free (or given) gRPC and REST ports."""

    def __init__(self, command: Sequence[str], flags: Sequence[str], log_path: str, *,
                 grpc_port: Optional[int] = None, rest_port: Optional[int] = None, rest: bool = True,
                 env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                 stop_grace_sec: float = _STOP_GRACE_SEC):
        """command: prefix from server_command(); flags: model_flags() and any other server flags.

        Ports: free ones unless given; rest=False turns REST off (--rest_api_port=0).
        """
        picked = free_ports(2)
        self.grpc_port = grpc_port or picked[0]
        self.rest_port = (rest_port or picked[1]) if rest else 0
        self.command = list(command)
        self.args = self.command + [f"--port={self.grpc_port}",
                                    f"--rest_api_port={self.rest_port}"] + list(flags)
        self.log_path = log_path
        self._env = env
        self._cwd = cwd
        self._stop_grace_sec = stop_grace_sec
        self.process: Optional[subprocess.Popen] = None
        self._stopped = False

    def __repr__(self):
        return f"ModelServerProcess(args={self.args}, pid={self.pid})"

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    def start(self) -> "ModelServerProcess":
        assert self.process is None, "the model server was already started"
        env = child_env(self.command, self._env)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=env, cwd=self._cwd, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_alive(self) -> None:
        """Raise ServerExited if the process has exited."""
        assert self.process is not None, "the model server has not been started"
        code = self.process.poll()
        if code is not None:
            raise ServerExited(f"model server process {self.process.pid} exited with code {code} "
                               f"(command: {' '.join(self.args)})")

    def wait_until_listening(self, deadline: float, port: Optional[int] = None) -> None:
        """Until `port` (default: gRPC) accepts connections; deadline is time.monotonic()-based."""
        port = port or self.grpc_port
        while time.monotonic() < deadline:
            self.check_alive()
            if port_open(port):
                return
            time.sleep(_POLL_SEC)
        self.check_alive()
        raise ServerNotReady(f"model server did not listen on port {port} before the deadline")

    def model_status(self, model_name: str, version: Optional[int] = None, timeout: float = 5.0):
        """GetModelStatusResponse of `model_name` (raises grpc.RpcError)."""
        import grpc
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model_name
        if version is not None:
            request.model_spec.version.value = version
        with grpc.insecure_channel(self.grpc_target) as channel:
            return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
                request, timeout=timeout)

    def wait_until_settled(self, model_names: Sequence[str], deadline: float) -> None:
        """Until every model has a version and none is still loading (all AVAILABLE or END)."""
        import grpc
        if self.rest_port:
            self.wait_until_listening(deadline, self.rest_port)
        pending = list(model_names)
        while pending:
            self.check_alive()
            if time.monotonic() > deadline:
                raise ServerNotReady(f"models {pending} not loaded before the deadline")
            try:
                states = [s.state for s in self.model_status(pending[0]).model_version_status]
                if states and all(s in (AVAILABLE, END) for s in states):
                    pending.pop(0)
                    continue
            except grpc.RpcError:
                pass
            time.sleep(_POLL_SEC)

    def logs(self, max_chars: int = 20000) -> str:
        """The last `max_chars` of the server's output ('' before start)."""
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", errors="replace")[-max_chars:]
        except OSError:
            return ""

    def stop(self) -> Optional[int]:
        """SIGTERM the process group, SIGKILL after the grace period; idempotent. Returns the exit code."""
        if self.process is None:
            return None
        if not self._stopped:
            self._stopped = True
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=self._stop_grace_sec)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=_STOP_GRACE_SEC)
            self._signal_group(signal.SIGKILL)  # strays left in the group, if any
        return self.process.returncode

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
