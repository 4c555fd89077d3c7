"""Version lifecycle against a live server: hot swap under load, failed loads, labels promote/rollback."""
import json
import os
import threading
import time

import grpc
import numpy as np
import pytest
import requests
from click.testing import CliRunner

from data import contract
from serving import cli, client as serving_client
from serving.delivery import labels
from serving.tools import contract_model
from tests.serving.conftest import write_config
from tests.serving.server_process import AVAILABLE, END

ROWS = [contract_model.example_row(i) for i in range(4)]
MAX_REQUESTS_PER_CLIENT = 2000  # bounds the streaming loops
STREAM_SECONDS = 120


def _which_version(predictions, expected: dict):
    for version, values in expected.items():
        if np.allclose(predictions, values, rtol=1e-5):
            return version
    return None


def test_new_version_is_picked_up_with_zero_failed_requests(library, start_server, tmp_path):
    base = str(tmp_path / "flight")
    library.push(library.contract[1], base, 1)
    server = start_server(["--model_name=flight", f"--model_base_path={base}",
                           "--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"], ["flight"])
    expected = {v: library.expected(v, ROWS) for v in (1, 2)}
    rest = serving_client.RestClient(server.rest_url, "flight")
    grpc_client = serving_client.GrpcClient(server.grpc_target, "flight")
    columns = serving_client.columns_from_rows(ROWS)
    stop = threading.Event()
    answers = {"rest": [], "grpc": []}
    failures = []

    def stream(kind):
        deadline = time.monotonic() + STREAM_SECONDS
        for _ in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set() or time.monotonic() > deadline:
                return
            try:
                if kind == "rest":
                    predictions = rest.predict(instances=ROWS)["predictions"]
                    answers[kind].append(_which_version(predictions, expected))
                else:
                    response = grpc_client.predict(columns, raw=True)
                    import tensorflow as tf
                    values = tf.make_ndarray(response.outputs[contract.PREDICTION_KEY])
                    version = response.model_spec.version.value
                    assert _which_version(values, expected) == version, (version, values)
                    answers[kind].append(version)
            except Exception as exc:  # every failure is recorded, none may happen
                failures.append(f"{kind}: {exc!r}")

    threads = [threading.Thread(target=stream, args=(k,)) for k in answers]
    for t in threads:
        t.start()
    try:
        while min(len(a) for a in answers.values()) < 20 and not failures and all(t.is_alive() for t in threads):
            time.sleep(0.05)
        library.push(library.contract[2], base, 2)
        server.wait_for("flight", 2)
        deadline = time.monotonic() + 60
        while (time.monotonic() < deadline and not failures
               and not all(a[-20:] == [2] * 20 for a in answers.values())):
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == []
    for kind, seen in answers.items():
        assert None not in seen, f"{kind} got an answer from neither version"
        assert seen[0] == 1 and seen[-1] == 2, kind
        first_v2 = seen.index(2)
        assert all(v == 2 for v in seen[first_v2:]), f"{kind} went back to version 1"
    states = {s.version: (s.state, s.status.error_code)
              for s in server.status("flight").model_version_status}
    assert states == {2: (AVAILABLE, 0), 1: (END, 0)}
    print(f"hot swap: {len(answers['rest'])} REST + {len(answers['grpc'])} gRPC requests, 0 failed")


def _write_bad_warmup(export_dir: str):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    os.makedirs(os.path.join(export_dir, "assets.extra"), exist_ok=True)
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = contract.SERVING_SIGNATURE
    request.inputs["not_a_feature"].CopyFrom(tf.make_tensor_proto([1.0]))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    with tf.io.TFRecordWriter(os.path.join(export_dir, "assets.extra", "tf_serving_warmup_requests")) as w:
        w.write(log.SerializeToString())


def test_versions_that_cannot_load_end_while_previous_keeps_serving(library, start_server, tmp_path):
    base = str(tmp_path / "flight")
    library.push(library.contract[1], base, 1)
    server = start_server(["--model_name=flight", f"--model_base_path={base}",
                           "--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"], ["flight"])
    rest = serving_client.RestClient(server.rest_url, "flight")
    expected = {v: library.expected(v, ROWS) for v in (1, 2)}

    # v2: corrupt saved_model.pb
    staging = str(tmp_path / "staging")
    broken = library.push(library.contract[2], staging, 2)
    with open(os.path.join(broken, "saved_model.pb"), "wb") as handle:
        handle.write(b"this is not a SavedModel")
    os.rename(broken, os.path.join(base, "2"))
    status = server.wait_for("flight", 2)
    assert status.state == END and status.status.error_code != 0 and status.status.error_message
    assert _which_version(rest.predict(instances=ROWS)["predictions"], expected) == 1

    # v3: loads, but its warmup request is invalid -> the load fails
    warm = library.push(library.contract[3], staging, 3)
    _write_bad_warmup(warm)
    os.rename(warm, os.path.join(base, "3"))
    status = server.wait_for("flight", 3)
    assert status.state == END and status.status.error_code != 0
    states = {s.version: s.state for s in server.status("flight").model_version_status}
    assert states == {1: AVAILABLE, 2: END, 3: END}
    assert _which_version(rest.predict(instances=ROWS)["predictions"], expected) == 1
    code, body = (lambda r: (r.status_code, r.json()))(
        requests.get(f"{server.rest_url}/v1/models/flight/versions/2", timeout=10))
    assert code == 200 and body["model_version_status"][0]["state"] == "END"
    assert body["model_version_status"][0]["status"]["error_code"] != "OK"

    # v4: a good version replaces v1
    library.push(library.contract[2], base, 4)
    assert server.wait_for("flight", 4).state == AVAILABLE
    server.wait_for("flight", 1, states=(END,))
    assert _which_version(rest.predict(instances=ROWS)["predictions"], expected) == 2
    assert server.alive()


def test_labels_promote_rollback_and_cli(library, start_server, tmp_path):
    base = str(tmp_path / "flight")
    for v in (1, 2, 3):
        library.push(library.contract[v], base, v)
    config = write_config(str(tmp_path / "models.config"), {
        "flight": (base, "specific { versions: 1 versions: 2 }", {"stable": 1, "canary": 2})})
    server = start_server([f"--model_config_file={config}", "--file_system_poll_wait_seconds=1",
                           "--max_num_load_retries=0", "--allow_version_labels_for_unavailable_models"],
                          ["flight"])
    expected = {v: library.expected(v, ROWS) for v in (1, 2, 3)}
    rest = serving_client.RestClient(server.rest_url, "flight")
    grpc_client = serving_client.GrpcClient(server.grpc_target, "flight")
    columns = serving_client.columns_from_rows(ROWS)

    def answering(label):
        by_rest = _which_version(rest.predict(instances=ROWS, label=label)["predictions"], expected)
        by_grpc = grpc_client.predict(columns, label=label, raw=True).model_spec.version.value
        assert by_rest == by_grpc
        return by_rest

    assert {s.version for s in server.status("flight").model_version_status} == {1, 2}
    assert (answering("stable"), answering("canary")) == (1, 2)
    runner = CliRunner()
    common = ["--config", config, "--server", server.grpc_target, "--model-name", "flight"]

    result = runner.invoke(cli.main, ["labels", "promote"] + common)
    assert result.exit_code == 0, result.output
    assert "stable 1 -> 2" in result.output
    assert answering("stable") == 2
    assert dict(labels.read_model_config(config).model_config_list.config[0].version_labels) == {
        "stable": 2, "canary": 2}

    result = runner.invoke(cli.main, ["labels", "rollback"] + common)
    assert result.exit_code == 0, result.output
    assert answering("stable") == 1

    result = runner.invoke(cli.main, ["labels", "set"] + common + ["canary", "3"])  # loads v3 first, then labels
    assert result.exit_code == 0, result.output
    assert answering("canary") == 3 and answering("stable") == 1

    # a label on a version that is not loaded is refused; file and serving stay as they were
    before = open(config).read()
    result = runner.invoke(cli.main, ["labels", "rollback"] + common + ["--to-version", "9"])
    assert result.exit_code != 0
    assert "not currently available" in result.output or "FAILED_PRECONDITION" in result.output
    assert open(config).read() == before
    assert answering("stable") == 1

    with pytest.raises(serving_client.ServingClientError) as info:
        rest.predict(instances=ROWS, label="gold")
    assert info.value.code == 400

    # CLI predict / status against the same server (REST and gRPC, raw features and tf.Examples)
    csv_path = tmp_path / "rows.csv"
    header = list(contract.CSV_COLUMNS)
    csv_path.write_text(",".join(header) + "\n" + "\n".join(
        ",".join(str(dict(r, late=0)[c]) for c in header) for r in ROWS) + "\n")
    for extra in (["--protocol", "rest", "--server", server.rest_url],
                  ["--protocol", "grpc", "--server", server.grpc_target, "--examples"]):
        result = runner.invoke(cli.main, ["predict", "--csv", str(csv_path), "--label", "canary",
                                          "--model-name", "flight"] + extra)
        assert result.exit_code == 0, result.output
        got = [json.loads(line)[contract.PREDICTION_KEY] for line in result.output.strip().splitlines()]
        np.testing.assert_allclose(got, expected[3], rtol=1e-5)
    result = runner.invoke(cli.main, ["status", "--server", server.rest_url, "--model-name", "flight"])
    assert result.exit_code == 0 and '"AVAILABLE"' in result.output
    assert server.alive()


def test_model_config_file_is_polled(library, start_server, tmp_path):
    base = str(tmp_path / "flight")
    for v in (1, 2):
        library.push(library.contract[v], base, v)
    config = write_config(str(tmp_path / "models.config"), {
        "flight": (base, "all {}", {"stable": 1})})
    server = start_server([f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1",
                           "--file_system_poll_wait_seconds=1", "--allow_version_labels_for_unavailable_models"],
                          ["flight"], rest=False)
    grpc_client = serving_client.GrpcClient(server.grpc_target, "flight")
    columns = serving_client.columns_from_rows(ROWS)
    assert grpc_client.predict(columns, label="stable", raw=True).model_spec.version.value == 1
    write_config(config, {"flight": (base, "all {}", {"stable": 2})})
    deadline = time.monotonic() + 30
    version = 1
    while version != 2 and time.monotonic() < deadline:
        time.sleep(0.3)
        version = grpc_client.predict(columns, label="stable", raw=True).model_spec.version.value
    assert version == 2
    with pytest.raises(grpc.RpcError) as info:
        server.status("nope")
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_serve_cli_refuses_an_empty_push_directory(tmp_path):
    result = CliRunner().invoke(cli.main, ["serve", "--model-base-path", str(tmp_path / "nothing")])
    assert result.exit_code != 0 and "no numeric model version" in result.output


def test_serve_cli_serves_the_latest_pushed_version(library, tmp_path):
    """`python -m serving serve` (what `make serve` runs) as a real process."""
    import subprocess
    import sys

    import portpicker
    from tests.serving.server_process import REPO_ROOT
    base = str(tmp_path / "push")
    library.push(library.contract[1], base, 100)
    library.push(library.contract[2], base, 200)
    grpc_port, rest_port = portpicker.pick_unused_port(), portpicker.pick_unused_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "serving", "serve", "--model-base-path", base, "--model-name", "flight",
             "--port", str(grpc_port), "--rest-api-port", str(rest_port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO_ROOT,
            env=dict(os.environ, PYTHONPATH=REPO_ROOT))
        try:
            rest = serving_client.RestClient(f"http://127.0.0.1:{rest_port}", "flight", timeout=5)
            deadline = time.monotonic() + 120
            body = None
            while body is None:
                assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
                try:
                    body = rest.status()
                except (requests.ConnectionError, serving_client.ServingClientError):
                    time.sleep(0.25)
            assert [s["version"] for s in body["model_version_status"]] == ["200"]
            expected = library.expected(2, ROWS)
            np.testing.assert_allclose(rest.predict(instances=ROWS)["predictions"], expected, rtol=1e-6)
        finally:
            process.terminate()
            assert process.wait(timeout=30) == 0
    assert "Serving flight version 200" in log_path.read_text()
