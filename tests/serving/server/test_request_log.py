"""Request logging (logging_config, serving/server/request_log.py) on live local servers and the files they
write: every request logged once with the version that answered, REST as its gRPC request, sampling,
rotation, config reloads, and drops (unwritable directory, full queue) that never fail a request and are
counted in the Prometheus metric."""
import math
import os
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from data import contract
from serving import client as serving_client
from serving.delivery.canary_analysis import parse_metrics
from serving.server import protos, request_log
from serving.tools import contract_model
from tests.serving.conftest import logged, logging_config, write_config, write_monitoring_config
from tests.serving.server_process import ServerProcess

ROWS = [contract_model.example_row(i) for i in range(20)]
METRICS_PATH = "/monitoring/prometheus/metrics"
LOG_COUNT = ":tensorflow:serving:request_log_count"
MAX_FILE_BYTES = 20000


def log_counts(server, model: str) -> dict:
    """{status_code: count} of the request_log_count metric for `model`."""
    with urllib.request.urlopen(f"{server.rest_url}{METRICS_PATH}", timeout=10) as answer:
        samples = parse_metrics(answer.read().decode())
    return {labels["status_code"]: int(value) for name, labels, value in samples
            if name == LOG_COUNT and labels["model_name"] == model}


def settle(server, model: str, total: int, timeout: float = 60.0) -> dict:
    """log_counts once `total` sampled requests of `model` are accounted for (written or dropped)."""
    deadline = time.monotonic() + timeout
    counts = log_counts(server, model)
    while sum(counts.values()) < total and time.monotonic() < deadline:
        time.sleep(0.2)
        counts = log_counts(server, model)
    return counts


class LoggingWorld:
    """One local server: `flight` (versions 1 and 2; rate 1), `tf1` (classify/regress; the same
    logging_config as flight, so the same logger and files), `half` (rate 0.5) and `lost` (its log
    directory cannot be created: a path under a regular file). Small files, to rotate."""

    def __init__(self, library, root: str):
        self.logs = os.path.join(root, "logs")
        self.half_logs = os.path.join(root, "half-logs")
        blocker = os.path.join(root, "a-file")
        open(blocker, "w").close()
        self.lost_prefix = os.path.join(blocker, "logs", "lost")
        bases = {name: os.path.join(root, "models", name) for name in ("flight", "half", "lost", "tf1")}
        for name in ("flight", "half", "lost"):
            library.push(library.contract[1], bases[name], 1)
        library.push(library.contract[2], bases["flight"], 2)
        library.push(library.tf1, bases["tf1"], 1)
        flight_logging = logging_config(os.path.join(self.logs, "requests"))
        self.models = {"flight": (bases["flight"], "all {}", {}, flight_logging),
                       "tf1": (bases["tf1"], "all {}", {}, flight_logging),
                       "half": (bases["half"], "", {}, logging_config(os.path.join(self.half_logs, "half"), 0.5)),
                       "lost": (bases["lost"], "", {}, logging_config(self.lost_prefix))}
        self.config = write_config(os.path.join(root, "models.config"), self.models)
        self.server = ServerProcess(root, [f"--model_config_file={self.config}",
                                           f"--monitoring_config_file={write_monitoring_config(root, METRICS_PATH)}"],
                                    [f"--request_log_max_file_bytes={MAX_FILE_BYTES}"], local=True)
        self.server.start(list(self.models))


@pytest.fixture(scope="module")
def world(library, tmp_path_factory):
    w = LoggingWorld(library, str(tmp_path_factory.mktemp("request-log")))
    yield w
    w.server.stop()


KINDS = ("rest-latest", "rest-v1", "grpc-v1", "grpc-examples")


def _send(server, kind: str, i: int) -> tuple:
    """One request of the mixed workload: (kind, the version asked for, or None for the latest)."""
    row = [ROWS[i % len(ROWS)]]
    if kind.startswith("rest"):
        version = 1 if kind == "rest-v1" else None
        assert serving_client.RestClient(server.rest_url, "flight").predict(instances=row, version=version)
        return kind, version
    client = serving_client.GrpcClient(server.grpc_target, "flight")
    try:
        if kind == "grpc-v1":
            client.predict(serving_client.columns_from_rows(row), version=1)
            return kind, 1
        client.predict_examples(row)  # latest, serving_tf_example
        return kind, None
    finally:
        client.close()


def test_concurrent_rest_and_grpc_requests_give_exactly_one_record_each_with_the_answering_version(world, library):
    n = 200
    with ThreadPoolExecutor(8) as pool:
        sent = list(pool.map(lambda i: _send(world.server, KINDS[i % len(KINDS)], i), range(n)))
    assert settle(world.server, "flight", n) == {"OK": n}
    written = logged(world.logs, "flight")
    assert len(written) == n
    expected = {v: library.expected(v, ROWS) for v in (1, 2)}
    by_version, examples = {1: 0, 2: 0}, 0
    for record in written:
        spec = record.log_metadata.model_spec
        assert record.WhichOneof("log_type") == "predict_log"
        assert record.predict_log.request.model_spec == spec == record.predict_log.response.model_spec
        assert record.log_metadata.sampling_config.sampling_rate == 1.0
        assert list(record.log_metadata.saved_model_tags) == ["serve"]
        assert abs(record.log_metadata.timestamp_secs - time.time()) < 600
        ((row, outputs),) = request_log.rows(record, contract.EXAMPLES_INPUT)
        index = [contract.natural_key(r) for r in ROWS].index(contract.natural_key(row))
        assert abs(outputs[contract.PREDICTION_KEY] - expected[spec.version.value][index]) < 1e-5
        by_version[spec.version.value] += 1
        examples += spec.signature_name == contract.EXAMPLES_SIGNATURE
    asked_v1 = sum(1 for _, version in sent if version == 1)
    assert by_version == {1: asked_v1, 2: n - asked_v1}  # "latest" is logged as the version that answered: 2
    assert examples == sum(1 for kind, _ in sent if kind == "grpc-examples")


def test_rest_classify_and_regress_are_logged_as_their_grpc_requests(world):
    before = len(logged(world.logs, "tf1"))
    rest = serving_client.RestClient(world.server.rest_url, "tf1")
    rest.classify([{"x": 1.0}, {"x": 2.0}], signature_name="classify_x")
    rest.regress([{"x": 3.0}], signature_name="regress_x")
    settle(world.server, "tf1", before + 2)
    classify, regress = logged(world.logs, "tf1")[before:]
    assert (classify.WhichOneof("log_type"), regress.WhichOneof("log_type")) == ("classify_log", "regress_log")
    assert classify.log_metadata.model_spec.signature_name == "classify_x"
    assert len(classify.classify_log.request.input.example_list.examples) == 2
    assert [c.label for c in classify.classify_log.response.result.classifications[1].classes] == ["neg", "pos"]
    assert regress.regress_log.request.input.example_list.examples[0].features.feature["x"].float_list.value == [3.0]
    assert [r.value for r in regress.regress_log.response.result.regressions] == [7.0]
    assert regress.regress_log.request.model_spec.version.value == 1
    assert request_log.rows(regress) == [({"x": 3.0}, {"value": 7.0})]


def test_sampling_rate_one_half_logs_about_half_the_requests(world):
    n = 400
    client = serving_client.GrpcClient(world.server.grpc_target, "half")
    for i in range(n):
        client.predict(serving_client.columns_from_rows([ROWS[i % len(ROWS)]]))
    client.close()
    time.sleep(1.5)  # the writer has had its turn (the count is exact once written)
    counts = log_counts(world.server, "half")
    written = len(logged(world.half_logs))
    print(f"\nsampling rate 0.5: {written} of {n} requests logged")
    assert counts == {"OK": written}
    # Binomial(400, 0.5) has sd 10: a correct sampler falls outside 5 sd with probability < 1e-6.
    assert abs(written - n * 0.5) <= 5 * math.sqrt(n * 0.25)


def test_an_unwritable_log_directory_fails_no_request_and_the_drops_are_counted(world):
    n = 30
    rest = serving_client.RestClient(world.server.rest_url, "lost")
    for i in range(n):
        assert len(rest.predict(instances=[ROWS[i % len(ROWS)]])["predictions"]) == 1
    counts = settle(world.server, "lost", n)
    assert "OK" not in counts and sum(counts.values()) == n, counts
    assert set(counts) <= {"NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED", "UNAVAILABLE"}, counts
    assert not os.path.exists(os.path.dirname(world.lost_prefix))
    assert world.server.log_tail(50000).count(f"Request log {world.lost_prefix}") == 1  # warned once


def test_rotation_by_size_gives_several_readable_files(world):
    files = request_log.log_files(world.logs)
    assert len(files) >= 3, files
    total = 0
    for path in files:
        assert os.path.basename(path).startswith("requests-") and path.endswith(".tfrecord")
        count = len(logged(path))
        assert count > 0
        assert os.path.getsize(path) <= MAX_FILE_BYTES
        total += count
    assert total == len(logged(world.logs))


def test_a_reload_changes_the_logging_and_a_bad_logging_config_changes_nothing(world):
    client = serving_client.GrpcClient(world.server.grpc_target, "flight")
    config = protos.model_server_config(world.config)
    flight = next(m for m in config.model_config_list.config if m.name == "flight")
    flight.logging_config.log_collector_config.type = "kafka"
    with pytest.raises(serving_client.ServingClientError, match="Cannot find LogCollector::Factory for type: kafka"):
        client.reload_config(config)
    written = log_counts(world.server, "flight").get("OK", 0)
    client.predict(serving_client.columns_from_rows(ROWS[:1]))
    assert settle(world.server, "flight", written + 1) == {"OK": written + 1}  # the old config still logs
    flight.logging_config.log_collector_config.type = "tfrecord"
    flight.logging_config.sampling_config.sampling_rate = 0.0
    client.reload_config(config)
    for _ in range(20):
        client.predict(serving_client.columns_from_rows(ROWS[:1]))
    time.sleep(1.5)
    assert log_counts(world.server, "flight") == {"OK": written + 1}
    assert len(logged(world.logs, "flight")) == written + 1
    client.reload_config(protos.model_server_config(world.config))  # back to the file's config
    client.close()


def test_a_full_queue_fails_no_request_and_every_record_is_written_or_counted(library, tmp_path):
    """A queue of one record and 16 threads sending batches of 64 rows: whatever the writer cannot keep
    up with is dropped (RESOURCE_EXHAUSTED); every request is answered."""
    base = str(tmp_path / "flight")
    library.push(library.contract[1], base, 1)
    logs = str(tmp_path / "logs")
    config = write_config(str(tmp_path / "models.config"),
                          {"flight": (base, "", {}, logging_config(os.path.join(logs, "requests")))})
    server = ServerProcess(str(tmp_path), [f"--model_config_file={config}",
                                           f"--monitoring_config_file={write_monitoring_config(str(tmp_path), METRICS_PATH)}"],
                           ["--request_log_queue_size=1"], local=True)
    server.start(["flight"])
    try:
        columns = serving_client.columns_from_rows([ROWS[i % len(ROWS)] for i in range(64)])
        n, failures = 480, []

        def send(_):
            client = serving_client.GrpcClient(server.grpc_target, "flight")
            try:
                client.predict(columns)
            except serving_client.ServingClientError as exc:
                failures.append(exc)
            finally:
                client.close()
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(n)))
        counts = settle(server, "flight", n)
        written = len(logged(logs))
        print(f"\nqueue of 1 record, {n} requests from 16 threads: {written} written, "
              f"{counts.get('RESOURCE_EXHAUSTED', 0)} dropped")
        assert failures == []
        assert set(counts) <= {"OK", "RESOURCE_EXHAUSTED"} and sum(counts.values()) == n, counts
        assert counts.get("OK", 0) == written
    finally:
        server.stop()


# ---- the collector on its own (real files, no server) ---------------------------------------------
def _record(version: int):
    def build(when):
        record = prediction_log_pb2.PredictionLog()
        record.log_metadata.model_spec.name = "m"
        record.log_metadata.model_spec.version.value = version
        record.log_metadata.timestamp_secs = int(when)
        record.predict_log.request.CopyFrom(predict_pb2.PredictRequest())
        return record.SerializeToString()
    return build


def test_the_collector_drops_what_does_not_fit_its_queue_without_waiting(tmp_path):
    counts = {}
    collector = request_log.TFRecordCollector(str(tmp_path / "logs" / "r"), lambda m, s, n: counts.update(
        {s: counts.get(s, 0) + n}), queue_size=2)
    busy, release = threading.Event(), threading.Event()

    def slow(when):  # a record whose building holds the writer thread until released
        busy.set()
        release.wait(30)
        return _record(1)(when)
    collector.collect("m", slow)
    assert busy.wait(30)
    for version in range(2, 7):  # two fit the queue, three do not
        collector.collect("m", _record(version))
    assert counts == {"RESOURCE_EXHAUSTED": 3} and not release.is_set()  # collect() did not wait
    release.set()
    collector.close()
    assert counts == {"RESOURCE_EXHAUSTED": 3, "OK": 3}
    assert [r.log_metadata.model_spec.version.value for r in logged(str(tmp_path / "logs"))] == [1, 2, 3]


def test_the_collector_rotates_by_age_and_readers_skip_a_partly_written_last_record(tmp_path):
    collector = request_log.TFRecordCollector(str(tmp_path / "r"), lambda m, s, n: None, max_file_seconds=0.3)
    for version in range(3):
        collector.collect("m", _record(version))
        time.sleep(0.5)
    collector.close()
    files = request_log.log_files(str(tmp_path / "r"))
    assert len(files) == 3 and [len(logged(f)) for f in files] == [1, 1, 1]
    with open(files[-1], "ab") as handle:  # a record being appended: its first bytes only
        handle.write(open(files[0], "rb").read()[:20])
    assert len(logged(str(tmp_path))) == 3
    with open(files[0], "r+b") as handle:  # a damaged record in the middle of a file is an error
        handle.seek(14)
        handle.write(b"\xff\xff")
    with pytest.raises(ValueError, match=os.path.basename(files[0])):
        logged(str(tmp_path))


def test_the_collector_writes_in_the_gaps_between_requests_and_waits_no_longer_than_its_limit(tmp_path):
    def counted():
        counts = {}
        return counts, lambda m, s, n: counts.update({s: counts.get(s, 0) + n})

    def settled(counts, n):
        deadline = time.monotonic() + 30
        while sum(counts.values()) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return counts
    server = request_log.ServerRequestLogger()
    counts, on_count = counted()
    patient = request_log.TFRecordCollector(str(tmp_path / "patient" / "r"), on_count, idle=server.idle,
                                            max_wait_seconds=600)
    with server.serving:  # a request being served: the record waits
        assert not server.idle()
        patient.collect("m", _record(1))
        time.sleep(0.5)  # ten looks at the queue
        assert counts == {} and not request_log.log_files(str(tmp_path / "patient"))
    assert server.idle()
    assert settled(counts, 1) == {"OK": 1}  # written in the gap
    with server.serving:
        patient.collect("m", _record(2))
        patient.close()  # closing does not wait for a gap
    assert counts == {"OK": 2}
    counts, on_count = counted()
    busy = request_log.TFRecordCollector(str(tmp_path / "busy" / "r"), on_count, idle=lambda: False,
                                         max_wait_seconds=0.2)
    for version in range(3):  # a server never idle: each record is written once it has waited 0.2 s
        busy.collect("m", _record(version))
    assert settled(counts, 3) == {"OK": 3}
    busy.close()
    assert [r.log_metadata.model_spec.version.value for r in logged(str(tmp_path / "busy"))] == [0, 1, 2]


def test_bad_logging_configs_are_refused_with_tf_servings_messages():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    from serving.server import errors

    def config(logging):
        return text_format.Parse(f'model_config_list {{ config {{ name: "m" base_path: "/m" model_platform: '
                                 f'"tensorflow" {logging} }} }}', model_server_config_pb2.ModelServerConfig())
    request_log.validate(config(logging_config("/logs/r", kind="")))
    for logging, code, message in (
            (logging_config("/logs/r", kind="kafka"), grpc.StatusCode.NOT_FOUND,
             "Cannot find LogCollector::Factory for type: kafka"),
            (logging_config(""), grpc.StatusCode.INVALID_ARGUMENT, "filename_prefix is empty"),
            (logging_config("/logs/r", rate=1.5), grpc.StatusCode.INVALID_ARGUMENT, "sampling_rate 1.5 is not in [0, 1]")):
        with pytest.raises(errors.ServingError, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
            request_log.validate(config(logging))
        assert caught.value.code == code
