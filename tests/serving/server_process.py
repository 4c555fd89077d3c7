"""Start a model server as a real subprocess on free ports: the real `tensorflow_model_server` when it
is on PATH (or env TF_SERVING_BINARY names it), else `python -m serving.model_server`."""
import os
import shutil
import subprocess
import sys
import time

import portpicker

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AVAILABLE, END = 30, 50


def real_binary():
    """Path of the real TF Serving binary, or None."""
    configured = os.environ.get("TF_SERVING_BINARY")
    if configured:
        found = shutil.which(configured)
        if not found:
            raise RuntimeError(f"TF_SERVING_BINARY={configured!r} is not an executable")
        return found
    return shutil.which("tensorflow_model_server")


def _port_open(port: int) -> bool:
    import socket
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class ServerProcess:
    """One model server; `start()` waits until the named models have a settled version state."""

    def __init__(self, log_dir: str, flags: list, local_flags: list = (), rest: bool = True):
        self.binary = real_binary()
        self.grpc_port = portpicker.pick_unused_port()
        self.rest_port = portpicker.pick_unused_port() if rest else 0
        self.flags = [f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}"] + list(flags)
        if self.binary is None:
            self.command = [sys.executable, "-m", "serving.model_server"] + self.flags + list(local_flags)
        else:
            self.command = [self.binary] + self.flags
        self.log_path = os.path.join(log_dir, f"server-{self.grpc_port}.log")
        self.process = None

    @property
    def is_local(self) -> bool:
        return self.binary is None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self, models: list, timeout: float = 120.0) -> "ServerProcess":
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")])))
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT)
        try:
            self.wait_settled(models, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def status(self, model: str):
        import grpc
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc
        with grpc.insecure_channel(self.grpc_target) as channel:
            request = get_model_status_pb2.GetModelStatusRequest()
            request.model_spec.name = model
            return model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=5)

    def wait_settled(self, models: list, timeout: float) -> None:
        """Until every model has at least one version and none is loading."""
        import grpc
        deadline = time.monotonic() + timeout
        pending = list(models)
        while self.rest_port and not _port_open(self.rest_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"REST port {self.rest_port} never opened:\n{self.log_tail()}")
            time.sleep(0.1)
        while pending:
            if self.process.poll() is not None:
                raise RuntimeError(f"model server exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"models {pending} not loaded after {timeout}s:\n{self.log_tail()}")
            try:
                states = [s.state for s in self.status(pending[0]).model_version_status]
                if states and all(s in (AVAILABLE, END) for s in states):
                    pending.pop(0)
                    continue
            except grpc.RpcError:
                pass
            time.sleep(0.25)

    def wait_for(self, model: str, version: int, states=(AVAILABLE, END), timeout: float = 60.0):
        """The ModelVersionStatus of `version` once it reaches one of `states`."""
        import grpc
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"server died:\n{self.log_tail()}"
            try:
                for status in self.status(model).model_version_status:
                    if status.version == version and status.state in states:
                        return status
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{model} version {version} did not reach {states}:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                return handle.read().decode("utf-8", "replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
