"""model_server_process: binary choice, flags, env, and a real local model server started and stopped."""
import os
import stat
import sys
import time

import pytest

from components.infra_validator import model_server_process as msp
from serving.server import command as local_server

FALLBACK = [msp.SYS_EXECUTABLE, "-m", "serving.server.model_server"]


def _executable(path):
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_server_command_prefers_tensorflow_model_server_on_path(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(msp.BINARY_ENV, raising=False)
    assert msp.server_command(FALLBACK) == [sys.executable, "-m", "serving.server.model_server"]
    assert not msp.is_real_binary(msp.server_command(FALLBACK))
    binary = _executable(tmp_path / "tensorflow_model_server")
    assert msp.server_command(FALLBACK) == [binary]
    assert msp.is_real_binary([binary])


def test_tf_serving_binary_env_wins_and_must_resolve(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    _executable(tmp_path / "tensorflow_model_server")
    custom = _executable(tmp_path / "my_tf_serving")
    monkeypatch.setenv(msp.BINARY_ENV, custom)
    assert msp.server_command(FALLBACK) == [custom]
    monkeypatch.setenv(msp.BINARY_ENV, str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"TF_SERVING_BINARY=.*missing"):
        msp.server_command(FALLBACK)


def test_no_binary_and_no_fallback_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(msp.BINARY_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="tensorflow_model_server.*no fallback"):
        msp.server_command()


def test_model_flags_are_the_binarys():
    assert msp.model_flags("m", "/models/m", extra=["--x=1"]) == [
        "--model_name=m", "--model_base_path=/models/m", "--x=1"]
    assert msp.model_flags(model_config_file="/c/models.config") == [
        "--model_config_file=/c/models.config"]
    with pytest.raises(ValueError, match="exactly one of model_base_path and model_config_file"):
        msp.model_flags("m", "/models/m", "/c/models.config")
    with pytest.raises(ValueError, match="model_name is required"):
        msp.model_flags("", "/models/m")


def test_child_env_puts_the_module_root_on_pythonpath(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    env = msp.child_env(msp.resolve_command(FALLBACK), {"EXTRA": "1"})
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(local_server.__file__))))
    assert env["PYTHONPATH"].split(os.pathsep) == [root, "/elsewhere"]
    assert env["EXTRA"] == "1"
    with pytest.raises(FileNotFoundError, match="no_such_package_xyz"):
        msp.child_env([sys.executable, "-m", "no_such_package_xyz.server"])


def test_free_ports_are_distinct_and_bindable():
    ports = msp.free_ports(3)
    assert len(set(ports)) == 3 and not any(msp.port_open(p) for p in ports)


def test_local_server_loads_a_model_and_stops(tmp_path, model_templates, monkeypatch):
    """The project's fallback command, launched for real: settled, AVAILABLE, then stopped."""
    import shutil
    from tests.components.infra_validator import testdata
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin")
    monkeypatch.delenv(msp.BINARY_ENV, raising=False)
    shutil.copytree(model_templates[testdata.GOOD], tmp_path / "m" / "3")
    server = msp.ModelServerProcess(msp.server_command(FALLBACK),
                                    msp.model_flags("m", str(tmp_path / "m")),
                                    log_path=str(tmp_path / "server.log"))
    assert server.args[:5] == [sys.executable, "-m", "serving.server.model_server",
                               f"--port={server.grpc_port}", f"--rest_api_port={server.rest_port}"]
    try:
        server.start()
        server.wait_until_settled(["m"], time.monotonic() + 120)
        states = [(s.version, s.state) for s in server.model_status("m").model_version_status]
        assert states == [(3, msp.AVAILABLE)]
        assert msp.port_open(server.rest_port)
    finally:
        code = server.stop()
    assert code == 0 and not server.alive()
    assert server.stop() == 0  # idempotent
    with pytest.raises(msp.ServerExited, match="exited with code 0"):
        server.check_alive()
    assert "Successfully loaded servable version {name: m version: 3}" in server.logs()


def test_not_listening_before_the_deadline(tmp_path):
    server = msp.ModelServerProcess([sys.executable, "-c", "import time; time.sleep(60)"], [],
                                    log_path=str(tmp_path / "log"), rest=False)
    assert server.rest_port == 0 and "--rest_api_port=0" in server.args
    try:
        server.start()
        with pytest.raises(msp.ServerNotReady, match=f"port {server.grpc_port}"):
            server.wait_until_listening(time.monotonic() + 0.5)
    finally:
        server.stop()
    assert not server.alive()
