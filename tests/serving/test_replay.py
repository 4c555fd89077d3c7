"""`python -m serving replay` against a live local server that logs its requests: every row sent is one
logged request, the labels file holds the same flights; bounded by --limit and --max-seconds; loopback
targets only; bad input is one line naming the file."""
import csv
import json
import os
import time

import pytest
from click.testing import CliRunner

from data import contract, spans_io
from data.paths import REPO_ROOT
from serving import cli
from serving.server import request_log
from tests.serving.conftest import logged, logging_config, write_config
from tests.serving.server_process import ServerProcess

SPAN = os.path.join(REPO_ROOT, "data", "spans", "span-2", "flights.csv")


@pytest.fixture(scope="module")
def server(library, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("replay"))
    base = os.path.join(root, contract.MODEL_NAME)
    library.push(library.contract[1], base, 1)
    logs = os.path.join(root, "logs")
    config = write_config(os.path.join(root, "models.config"), {
        contract.MODEL_NAME: (base, "", {}, logging_config(os.path.join(logs, "requests")))})
    started = ServerProcess(root, [f"--model_config_file={config}"], local=True).start([contract.MODEL_NAME])
    started.logs = logs
    yield started
    started.stop()


def _replay(*args):
    result = CliRunner(mix_stderr=False).invoke(cli.main, ["replay", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_replayed_span_is_logged_row_for_row_and_its_labels_file_names_the_same_flights(server, tmp_path):
    with open(SPAN, encoding="utf-8") as handle:
        span_rows = list(csv.DictReader(handle))
    labels_out = str(tmp_path / "labels.csv")
    code, out, err = _replay("--csv", SPAN, "--rate", "200", "--protocol", "rest", "--limit", "60",
                             "--target", f"127.0.0.1:{server.rest_port}", "--labels-out", labels_out, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["sent"], result["ok"], result["failed"], result["stopped_by_time"]) == (60, 60, 0, False)
    assert "replay: 60/60 sent, 0 failed" in err
    code, out, err = _replay("--csv", SPAN, "--rate", "200", "--protocol", "grpc", "--limit", "40",
                             "--target", server.grpc_target)
    assert code == 0, err
    assert out.startswith(f"replayed 40 of 40 row(s) of {SPAN} to {server.grpc_target} (grpc)")

    keys = [contract.natural_key(r) for r in span_rows[:60]]
    labels = spans_io.read_labels(labels_out)
    assert list(labels) == keys and list(labels.values()) == [int(r[contract.LABEL_KEY]) for r in span_rows[:60]]
    records = []
    for _ in range(100):  # the writer flushes after each batch; wait for the last one
        records = logged(server.logs)
        if len(records) >= 100:
            break
        time.sleep(0.2)
    sent = sorted(contract.natural_key(row) for record in records for row, _ in request_log.rows(record))
    assert sent == sorted(keys + keys[:40])
    assert all(r.log_metadata.model_spec.version.value == 1 for r in records)


def test_the_replay_stops_at_max_seconds(server):
    code, out, _ = _replay("--csv", SPAN, "--rate", "20", "--max-seconds", "0.5", "--limit", "100",
                           "--target", f"localhost:{server.rest_port}", "--json")
    result = json.loads(out)
    assert code == 0 and result["stopped_by_time"] and 1 <= result["sent"] < 100 and result["failed"] == 0


@pytest.mark.parametrize("args, message", [
    (["--target", "192.168.1.20:8501"], "--target '192.168.1.20:8501': not a loopback address"),
    (["--target", "example.com:8501"], "--target 'example.com:8501': not a loopback address"),
    (["--target", "127.0.0.1"], "--target '127.0.0.1': expected HOST:PORT"),
    (["--rate", "0"], "--rate 0.0: must be > 0"),
])
def test_a_target_off_this_machine_or_a_bad_rate_is_refused_before_any_request(args, message):
    code, out, err = _replay("--csv", SPAN, *args)
    assert code == 1 and out == "" and err.startswith(f"Error: {message}") and len(err.strip().splitlines()) == 1


def test_a_bad_row_is_one_line_naming_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    with open(SPAN, encoding="utf-8") as handle:
        lines = handle.read().splitlines()[:4]
    header = lines[0].split(",")
    cells = lines[2].split(",")
    cells[header.index("distance")] = "far"
    bad.write_text("\n".join([lines[0], lines[1], ",".join(cells)]) + "\n")
    code, _, err = _replay("--csv", str(bad), "--target", "127.0.0.1:9")
    assert code == 1 and err.strip().startswith(f"Error: {bad}: line 3: feature 'distance': value 'far'")
    code, _, err = _replay("--csv", str(tmp_path / "missing.csv"), "--target", "127.0.0.1:9")
    assert code == 1 and err.strip() == f"Error: {tmp_path / 'missing.csv'}: No such file or directory"
