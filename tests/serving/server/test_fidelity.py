"""Where the local server once differed from tensorflow_model_server 2.16.1, it now behaves as the binary
(issue 11, "Fidelity"); each test names the source file of the binary it follows. Every server is a real
process (the real binary when installed, else serving.server.model_server) on loopback."""
import json
import os
import time

import grpc
import numpy as np
import pytest
import requests
import yaml

from components.infra_validator import model_server_process as msp
from data import contract
from serving.tools import contract_model
from serving.server import model_server, protos
from serving import client as serving_client
from serving.server import command as local_server
from tests.serving.conftest import serve_flight_and_tf1, write_config
from tests.serving.server_process import AVAILABLE, REPO_ROOT

ROWS = [contract_model.example_row(i) for i in range(3)]
DEPLOY = os.path.join(REPO_ROOT, "serving", "deploy")


def _launch(tmp_path, flags, name="server"):
    """A started server process that may exit at start-up (what ServerProcess does not allow)."""
    return msp.ModelServerProcess(local_server.server_command(), flags, str(tmp_path / f"{name}.log"),
                                  env={"TF_CPP_MIN_LOG_LEVEL": "2"}, cwd=REPO_ROOT).start()


def _exit_code(server, timeout=120.0):
    try:
        return server.process.wait(timeout=timeout)
    finally:
        server.stop()


def _assert_refused_at_start_up(server, message):
    """main.cc: 'Failed to start server. Error: ...', exit status -1, no port ever opened."""
    assert _exit_code(server) == model_server.STARTUP_FAILED, server.logs()
    log = server.logs()
    assert "Failed to start server" in log and message in log, log
    assert "Running gRPC ModelServer" not in log


@pytest.fixture(scope="module")
def server(library, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("fidelity_server"))
    proc = serve_flight_and_tf1(library, root, ["--rest_api_enable_cors_support", "--file_system_poll_wait_seconds=1",
                                                "--max_num_load_retries=0"])
    proc.root = root
    yield proc
    proc.stop()


# ---- start-up: server.cc BuildAndStart loads the models before it opens any port ------------------
def test_start_up_waits_for_a_first_version_before_listening(library, tmp_path):
    base = tmp_path / "flight"
    base.mkdir()
    server = _launch(tmp_path, msp.model_flags("flight", str(base), extra=["--file_system_poll_wait_seconds=1"]))
    try:
        time.sleep(5)  # no version on disk: the binary keeps polling, with no port open
        assert server.alive(), server.logs()
        assert not msp.port_open(server.grpc_port) and not msp.port_open(server.rest_port)
        library.push(library.contract[1], str(base), 1)
        server.wait_until_settled(["flight"], time.monotonic() + 120)
        states = [(s.version, s.state) for s in server.model_status("flight").model_version_status]
        assert states == [(1, AVAILABLE)]
    finally:
        server.stop()


def test_start_up_fails_when_the_initial_version_cannot_load(library, tmp_path):
    base = str(tmp_path / "flight")
    version = library.push(library.contract[1], base, 1)
    with open(os.path.join(version, "saved_model.pb"), "wb") as handle:
        handle.write(b"not a SavedModel")
    server = _launch(tmp_path, msp.model_flags("flight", base, extra=["--max_num_load_retries=0"]))
    _assert_refused_at_start_up(server, "did not become available")


def test_start_up_waits_for_load_retries(library, tmp_path):
    """A version that appears complete only after the first attempt is loaded by a retry, before the ports open."""
    import shutil
    base = tmp_path / "flight"
    (base / "1").mkdir(parents=True)  # empty: the first load attempt fails
    server = _launch(tmp_path, msp.model_flags("flight", str(base), extra=[
        "--max_num_load_retries=3", "--load_retry_interval_micros=3000000", "--file_system_poll_wait_seconds=0"]))
    try:
        deadline = time.monotonic() + 60
        while "failed" not in server.logs().lower() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.alive() and not msp.port_open(server.grpc_port), server.logs()
        shutil.copytree(library.contract[1], base / "1", dirs_exist_ok=True)  # the retry finds it complete
        server.wait_until_settled(["flight"], time.monotonic() + 120)
        assert [s.state for s in server.model_status("flight").model_version_status] == [AVAILABLE]
    finally:
        server.stop()


@pytest.mark.parametrize("field, value, message", [
    ("model_platform", "", "nor ModelServerConfig::model_platform, model name is flight"),
    ("model_platform", "pytorch", "requests unsupported platform pytorch"),
    ("base_path", "relative/flight", "to have an absolute path or URI; got base_path()=relative/flight"),
])
def test_start_up_rejects_configs_the_binary_rejects(library, tmp_path, field, value, message):
    """server_core.cc GetPlatform, CreateStoragePathRoutes, ValidateModelConfigList."""
    base = str(tmp_path / "flight")
    library.push(library.contract[1], base, 1)
    config = protos.model_server_config(write_config(str(tmp_path / "models.config"), {"flight": (base, "", {})}))
    setattr(config.model_config_list.config[0], field, value)
    from google.protobuf import text_format
    (tmp_path / "models.config").write_text(text_format.MessageToString(config))
    server = _launch(tmp_path, [f"--model_config_file={tmp_path / 'models.config'}"])
    _assert_refused_at_start_up(server, message)


def test_batching_parameters_without_enable_batching_are_refused(library, tmp_path):
    """server.cc: batching_parameters_file without enable_batching is an error, not ignored."""
    base = str(tmp_path / "flight")
    library.push(library.contract[1], base, 1)
    server = _launch(tmp_path, msp.model_flags("flight", base, extra=[
        f"--batching_parameters_file={os.path.join(DEPLOY, 'batching_parameters.txt')}"]))
    _assert_refused_at_start_up(server, "batching_parameters_file is set without setting")


# ---- HandleReloadConfigRequest: refused configs change nothing -----------------------------------
def _reload(server, config):
    from tensorflow_serving.apis import model_management_pb2, model_service_pb2_grpc
    with grpc.insecure_channel(server.grpc_target) as channel:
        return model_service_pb2_grpc.ModelServiceStub(channel).HandleReloadConfigRequest(
            model_management_pb2.ReloadConfigRequest(config=config), timeout=120)


def _served(server):
    """{model: AVAILABLE versions} and flight's answer, read back from the server."""
    rest = serving_client.RestClient(server.rest_url, "flight")
    served = {m: [s.version for s in server.status(m).model_version_status if s.state == AVAILABLE]
              for m in ("flight", "tf1")}
    return served, rest.predict(instances=ROWS)["predictions"]


def test_empty_and_rejected_reloads_keep_serving(server, library):
    from tensorflow_serving.config import model_server_config_pb2
    before = _served(server)
    config = protos.model_server_config(os.path.join(server.root, "models.config"))

    with pytest.raises(grpc.RpcError) as info:  # model_service_impl.cc: only a ModelConfigList
        _reload(server, model_server_config_pb2.ModelServerConfig())
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Only ModelConfigList is currently supported" in info.value.details()
    assert _served(server) == before

    # Drop tf1 and label a version of flight that is not loaded: refused before anything changes.
    rejected = model_server_config_pb2.ModelServerConfig()
    rejected.model_config_list.config.add().CopyFrom(config.model_config_list.config[0])
    rejected.model_config_list.config[0].version_labels["stable"] = 5
    with pytest.raises(grpc.RpcError) as info:
        _reload(server, rejected)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "version 5 of model flight, which is not currently available" in info.value.details()
    assert _served(server) == before

    for field, value in (("base_path", "relative"), ("model_platform", "")):
        bad = model_server_config_pb2.ModelServerConfig()
        bad.CopyFrom(config)
        setattr(bad.model_config_list.config[1], field, value)
        with pytest.raises(grpc.RpcError) as info:
            _reload(server, bad)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert _served(server) == before

    # A label and the version it names in one reload: refused too (labels need an AVAILABLE version).
    library.push(library.contract[2], os.path.join(server.root, "flight"), 2)
    both = model_server_config_pb2.ModelServerConfig()
    both.CopyFrom(config)
    flight = both.model_config_list.config[0]
    flight.model_version_policy.specific.versions.extend([1, 2])
    flight.version_labels["canary"] = 2
    with pytest.raises(grpc.RpcError) as info:
        _reload(server, both)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    del flight.version_labels["canary"]
    _reload(server, both)  # first the version ...
    assert {s.version: s.state for s in server.status("flight").model_version_status} == {2: AVAILABLE, 1: AVAILABLE}
    flight.version_labels["canary"] = 2
    _reload(server, both)  # ... then the label
    rest = serving_client.RestClient(server.rest_url, "flight")
    np.testing.assert_allclose(rest.predict(instances=ROWS, label="canary")["predictions"],
                               library.expected(2, ROWS), rtol=1e-6)
    flight.model_version_policy.specific.ClearField("versions")
    flight.model_version_policy.specific.versions.append(1)
    del flight.version_labels["canary"]
    _reload(server, both)  # back to version 1 alone for the other tests
    assert _served(server) == before


# ---- REST JSON (json_tensor.cc) -----------------------------------------------------------------
def test_any_json_number_is_accepted_for_a_float_input(server, library):
    """AddValueToTensor DT_FLOAT: `val.GetFloat()` for any number, no precision check."""
    row = dict(ROWS[0], precip=16777217, visib=3)  # integers, the first one above 2**24
    rest = serving_client.RestClient(server.rest_url, "flight")
    got = rest.predict(instances=[row])["predictions"]
    np.testing.assert_allclose(got, library.expected(1, [dict(row, precip=16777216.0, visib=3.0)]), rtol=1e-6)
    huge = rest.predict(instances=[dict(ROWS[0], precip=1e39)])["predictions"]  # float32 overflow: inf
    assert huge == [1.0]


def test_extra_keys_of_columnar_inputs_are_ignored(server, library):
    """FillTensorMapFromInputsMap reads the signature's inputs and nothing else."""
    columns = serving_client.columns_from_rows(ROWS)
    code, body = _post(server, "/v1/models/flight:predict", {"inputs": dict(columns, tail_number=["N1"] * 3)})
    assert code == 200, body
    np.testing.assert_allclose(body["outputs"], library.expected(1, ROWS), rtol=1e-6)


def _post(server, path, body):
    response = requests.post(server.rest_url + path, data=json.dumps(body), timeout=30)
    return response.status_code, response.json()


# ---- signatures ---------------------------------------------------------------------------------
def test_unknown_signature_codes(server):
    """predict_util.cc FAILED_PRECONDITION; classifier.cc / regressor.cc INVALID_ARGUMENT."""
    grpc_client = serving_client.GrpcClient(server.grpc_target, "flight")
    with pytest.raises(serving_client.ServingClientError) as info:
        grpc_client.predict(serving_client.columns_from_rows(ROWS), signature_name="nope")
    assert info.value.code == "FAILED_PRECONDITION"
    assert info.value.message == 'Serving signature key "nope" not found.'
    code, body = _post(server, "/v1/models/flight:predict", {"signature_name": "nope", "instances": ROWS})
    assert code == 400 and body["error"] == 'Serving signature key "nope" not found.'
    for verb in ("classify", "regress"):
        code, body = _post(server, f"/v1/models/tf1:{verb}", {"signature_name": "nope", "examples": [{"x": 1.0}]})
        assert code == 400 and body["error"] == "No signature was found with the name: nope", verb


# ---- HTTP (http_server.cc) ----------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [
    ("GET", "/"), ("GET", "/healthz"), ("GET", "/v1"), ("GET", "/v2/models/flight"),
    ("POST", "/models/flight:predict"), ("OPTIONS", "/")])
def test_paths_outside_v1_are_not_found(server, method, path):
    """Only `(?i)/v1/.*` reaches the REST handler; evhttp answers the rest with its 404 page."""
    response = requests.request(method, server.rest_url + path, timeout=10)
    assert response.status_code == 404
    assert "404 Not Found" in response.text


def test_cors_preflight_and_headers(server):
    """OPTIONS on /v1/...: 200 with an http(s) Origin, 400 without; CORS headers (flag on) on every answer."""
    cors = {"access-control-allow-origin": "*", "access-control-allow-methods": "POST, GET",
            "access-control-allow-headers": "Content-Type"}
    url = server.rest_url + "/v1/models/flight:predict"
    preflight = requests.options(url, headers={"Origin": "https://app.example"}, timeout=10)
    assert preflight.status_code == 200 and preflight.content == b""
    assert {k: preflight.headers.get(k) for k in cors} == cors
    assert requests.options(url, timeout=10).status_code == 400
    answer = requests.post(url, data=json.dumps({"instances": ROWS}), timeout=30)
    assert answer.status_code == 200 and {k: answer.headers.get(k) for k in cors} == cors


# ---- deploy files -------------------------------------------------------------------------------
def _deploy_flags(tmp_path, library, with_allow_flag: bool):
    """serving/deploy's models.config (base_path moved to tmp) and docker-compose.yaml's flags."""
    config = protos.model_server_config(os.path.join(DEPLOY, "models.config"))
    model = config.model_config_list.config[0]
    model.base_path = str(tmp_path / "models" / model.name)
    for version, source in zip(sorted(model.model_version_policy.specific.versions), (1, 2)):
        if not os.path.isdir(os.path.join(model.base_path, str(version))):
            library.push(library.contract[source], model.base_path, version)
    from google.protobuf import text_format
    (tmp_path / "models.config").write_text(text_format.MessageToString(config))
    with open(os.path.join(DEPLOY, "docker-compose.yaml"), encoding="utf-8") as handle:
        command = yaml.safe_load(handle)["services"]["tf-serving"]["command"]
    flags = []
    for flag in command:
        name = flag.split("=", 1)[0]
        if name in ("--port", "--rest_api_port"):
            continue  # free ports are chosen by the launcher
        if name == "--allow_version_labels_for_unavailable_models" and not with_allow_flag:
            continue
        flag = flag.replace("/config/models.config", str(tmp_path / "models.config"))
        flags.append(flag.replace("/config/", DEPLOY + "/"))
    return model, flags


def test_deploy_files_start_with_their_labels(library, tmp_path):
    model, flags = _deploy_flags(tmp_path, library, with_allow_flag=True)
    with open(os.path.join(DEPLOY, "kubernetes.yaml"), encoding="utf-8") as handle:
        deployment = [d for d in yaml.safe_load_all(handle) if d["kind"] == "Deployment"][0]
    assert "--allow_version_labels_for_unavailable_models=true" in (
        deployment["spec"]["template"]["spec"]["containers"][0]["args"])
    server = _launch(tmp_path, flags)
    try:
        server.wait_until_settled([model.name], time.monotonic() + 180)
        rest = serving_client.RestClient(server.rest_url, model.name)
        stable, canary = model.version_labels["stable"], model.version_labels["canary"]
        for label, version, source in (("stable", stable, 1), ("canary", canary, 2)):
            answer = rest.predict(instances=ROWS, label=label)["predictions"]
            np.testing.assert_allclose(answer, library.expected(source, ROWS), rtol=1e-6)
            assert rest.status(label=label)["model_version_status"][0]["version"] == str(version)
    finally:
        server.stop()


def test_deploy_config_without_the_allow_flag_exits_like_the_binary(library, tmp_path):
    model, flags = _deploy_flags(tmp_path, library, with_allow_flag=False)
    server = _launch(tmp_path, flags)
    _assert_refused_at_start_up(server, "which is not currently available for inference")
