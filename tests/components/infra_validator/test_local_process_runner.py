"""LocalProcessRunner with small real processes (no TF): flags, liveness, endpoint, Stop."""
import socket
import sys
import time

import pytest
from tfx.components.infra_validator import error_types

from components.infra_validator import local_process_runner as lpr

# A stand-in "server": prints its argv and pid, then listens on --port (like the real binary).
_LISTENER = """
import os, socket, sys, time
print("ARGV", " ".join(sys.argv[1:]), flush=True)
port = int(next(a for a in sys.argv if a.startswith("--port=")).split("=")[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port)); s.listen()
time.sleep(60)
"""
# Ignores SIGTERM and leaves a grandchild behind.
_STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print("CHILD", child.pid, flush=True)
time.sleep(60)
"""


def _model_path(tmp_path, name="flights", version=1700000000):
    path = tmp_path / "base" / name / str(version)
    path.mkdir(parents=True)
    return str(path)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # zombies are dead
    except FileNotFoundError:
        return False


def _wait_for_log(runner, marker, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        logs = runner.GetLogs() or ""
        if marker in logs:
            return logs
        time.sleep(0.05)
    raise AssertionError(f"{marker!r} not in logs: {runner.GetLogs()!r}")


def test_without_binary_or_command_start_fails_naming_the_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TF_SERVING_BINARY", raising=False)
    runner = lpr.LocalProcessRunner(_model_path(tmp_path), "flights")
    with pytest.raises(error_types.JobAborted, match="tensorflow_model_server"):
        runner.Start()
    runner.Stop()


def test_flags_endpoint_and_stop(tmp_path):
    runner = lpr.LocalProcessRunner(_model_path(tmp_path), "flights",
                                    command=[sys.executable, "-c", _LISTENER])
    try:
        runner.Start()
        runner.WaitUntilRunning(time.time() + 30)
        host, port = runner.GetEndpoint().split(":")
        with socket.create_connection((host, int(port)), timeout=5):
            pass
        argv = _wait_for_log(runner, "ARGV").split("ARGV ", 1)[1].split("\n")[0].split()
        pid = runner.pid
        assert _alive(pid)
    finally:
        runner.Stop()
    assert f"--port={port}" in argv
    assert "--model_name=flights" in argv
    assert f"--model_base_path={tmp_path / 'base' / 'flights'}" in argv
    assert "--max_num_load_retries=0" in argv
    rest = [a for a in argv if a.startswith("--rest_api_port=")]
    assert len(rest) == 1 and rest[0] != f"--rest_api_port={port}"
    assert not _alive(pid)
    assert "ARGV" in runner.GetLogs()  # logs survive Stop
    runner.Stop()  # idempotent


def test_server_that_exits_is_reported_with_its_code(tmp_path):
    runner = lpr.LocalProcessRunner(
        _model_path(tmp_path), "flights",
        command=[sys.executable, "-c", "import sys; print('cannot load'); sys.exit(3)"])
    try:
        runner.Start()
        with pytest.raises(error_types.JobAborted, match="exited with code 3"):
            runner.WaitUntilRunning(time.time() + 30)
    finally:
        runner.Stop()
    assert "cannot load" in runner.GetLogs()


def test_stop_kills_process_ignoring_sigterm_and_its_children(tmp_path):
    runner = lpr.LocalProcessRunner(_model_path(tmp_path), "flights",
                                    command=[sys.executable, "-c", _STUBBORN], stop_grace_sec=0.5)
    try:
        runner.Start()
        child = int(_wait_for_log(runner, "CHILD").split("CHILD ", 1)[1].split()[0])
        leader = runner.pid
        assert _alive(leader) and _alive(child)
    finally:
        runner.Stop()
    deadline = time.time() + 10
    while _alive(child) and time.time() < deadline:  # SIGKILL delivery is asynchronous
        time.sleep(0.05)
    assert not _alive(leader) and not _alive(child)


def test_deadline_while_not_listening(tmp_path):
    runner = lpr.LocalProcessRunner(_model_path(tmp_path), "flights",
                                    command=[sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        runner.Start()
        with pytest.raises(error_types.DeadlineExceeded, match="gRPC port"):
            runner.WaitUntilRunning(time.time() + 1)
        with pytest.raises(AssertionError, match="not yet available"):
            runner.GetEndpoint()
    finally:
        runner.Stop()
    assert not _alive(runner.pid)


def test_rejects_model_path_without_version(tmp_path):
    with pytest.raises(ValueError, match="No version segment"):
        lpr.LocalProcessRunner(str(tmp_path / "flights" / "latest"), "flights")
