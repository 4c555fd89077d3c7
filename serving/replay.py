"""`python -m serving replay`: a span's rows sent to a model server as live traffic, one request per row.

Bounded: at most `limit` rows (all of the file by default) and `max_seconds` of sending; loopback
targets only (a replay is test traffic, never aimed at someone else's server). Rows become requests
through serving/client.py (the contract's typing, RestClient / GrpcClient); the labels file it can
write holds the flights' natural key (data/contract.py NATURAL_KEY) and label, to be joined later
with the request logs.
"""
import csv
import ipaddress
import sys
import threading
import time

from data import contract
from serving import client as serving_client

MAX_CONCURRENCY = 8


class ReplayError(ValueError):
    """Bad input or target: the message is one line naming the file/field/value."""


def loopback_target(target: str) -> str:
    """`target` (HOST:PORT) when HOST is a loopback address or localhost, else ReplayError."""
    host, sep, port = target.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not host:
        raise ReplayError(f"--target {target!r}: expected HOST:PORT")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ReplayError(f"--target {target!r}: not a loopback address (replay only sends to 127.0.0.0/8,"
                          f" ::1 or localhost)")
    return target


def check_rate(rate: float) -> None:
    if not rate > 0:
        raise ReplayError(f"--rate {rate}: must be > 0")


def read_rows(path: str, limit: int = 0, with_labels: bool = False) -> list:
    """[(features row, natural key, label or None)] of a span CSV, at most `limit` rows (0 = all)."""
    try:
        handle = open(path, encoding="utf-8", newline="")
    except OSError as exc:
        raise ReplayError(f"{path}: {exc.strerror}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in contract.FEATURE_KEYS + ((contract.LABEL_KEY,) if with_labels else ())
                   if c not in (reader.fieldnames or ())]
        if missing:
            raise ReplayError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = []
        for line, raw in enumerate(reader, start=2):
            try:
                row = serving_client.normalize_row(raw)
                label = int(raw[contract.LABEL_KEY]) if with_labels else None
            except ValueError as exc:
                raise ReplayError(f"{path}: line {line}: {exc}") from None
            rows.append((row, contract.natural_key(row), label))
            if limit and len(rows) >= limit:
                break
    if not rows:
        raise ReplayError(f"{path}: no rows")
    return rows


def write_labels(path: str, rows: list) -> None:
    """CSV: the NATURAL_KEY columns and the label, one line per row (data.spans_io.read_labels reads it)."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(contract.NATURAL_KEY + (contract.LABEL_KEY,))
        for _, key, label in rows:
            writer.writerow(list(key) + [label])


class _Sender:
    """One client per thread: REST (instances: [row]) or gRPC (one [1] tensor per feature)."""

    def __init__(self, protocol: str, target: str, model_name: str, timeout: float):
        self.protocol, self.target, self.model_name, self.timeout = protocol, target, model_name, timeout
        self._local = threading.local()

    def prepare(self, row: dict) -> None:
        """Pay the one-time costs (TensorFlow's import for gRPC tensors) before the clock starts."""
        if self.protocol == "grpc":
            serving_client.predict_request(self.model_name, serving_client.columns_from_rows([row]))

    def send(self, row: dict) -> float:
        if not hasattr(self._local, "client"):
            self._local.client = (serving_client.RestClient(f"http://{self.target}", self.model_name, self.timeout)
                                  if self.protocol == "rest" else
                                  serving_client.GrpcClient(self.target, self.model_name, self.timeout))
        if self.protocol == "rest":
            answer = self._local.client.predict(instances=[row])["predictions"][0]
            return float(answer[contract.PREDICTION_KEY] if isinstance(answer, dict) else answer)
        outputs = self._local.client.predict(serving_client.columns_from_rows([row]))
        return float(outputs[contract.PREDICTION_KEY][0])


def replay(rows: list, target: str, protocol: str = "rest", rate: float = 10.0, model_name: str = contract.MODEL_NAME,
           max_seconds: float = 600.0, concurrency: int = 4, timeout: float = 30.0, progress=None) -> dict:
    """Send each row once, request i at start + i / rate (later if the server is slower), until the rows
    or max_seconds run out. Returns {"sent", "ok", "failed", "errors", "seconds", "latency_ms_p50", ...}."""
    loopback_target(target)
    check_rate(rate)
    sender = _Sender(protocol, target, model_name, timeout)
    sender.prepare(rows[0][0])
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "failed": 0, "errors": {}, "latencies": [], "sent": []}
    start = time.monotonic()
    deadline = start + max_seconds

    def work():
        while True:
            with lock:
                i = state["next"]
                if i >= len(rows):
                    return
                state["next"] += 1
            due = start + i / rate
            now = time.monotonic()
            if due >= deadline or now >= deadline:
                with lock:
                    state["next"] = len(rows)  # time is up: no more requests
                return
            if due > now:
                time.sleep(due - now)
            sent = time.perf_counter()
            try:
                sender.send(rows[i][0])
                error = None
            except serving_client.ServingClientError as exc:
                error = str(exc.code)
            except Exception as exc:  # connection refused, timeout: counted, the replay goes on
                error = type(exc).__name__
            elapsed = time.perf_counter() - sent
            with lock:
                state["sent"].append(i)
                if error is None:
                    state["ok"] += 1
                    state["latencies"].append(elapsed)
                else:
                    state["failed"] += 1
                    state["errors"][error] = state["errors"].get(error, 0) + 1

    threads = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(concurrency, MAX_CONCURRENCY)))]
    for thread in threads:
        thread.start()
    shown = start
    while True:
        running = any(t.is_alive() for t in threads)
        if progress and (not running or time.monotonic() - shown >= 1.0):
            shown = time.monotonic()
            with lock:
                done = state["ok"] + state["failed"]
                progress(f"replay: {done}/{len(rows)} sent, {state['failed']} failed,"
                         f" {done / max(shown - start, 1e-9):.1f} req/s")
        if not running:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - start
    latencies = sorted(state["latencies"])
    pick = (lambda q: round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)
            if latencies else None)
    sent = state["ok"] + state["failed"]
    return {"target": target, "protocol": protocol, "model_name": model_name, "rows": len(rows), "sent": sent,
            "ok": state["ok"], "failed": state["failed"], "errors": state["errors"], "seconds": round(seconds, 3),
            "rate": round(sent / seconds, 2) if seconds else None, "latency_ms_p50": pick(0.5),
            "latency_ms_p99": pick(0.99), "stopped_by_time": sent < len(rows),
            "sent_rows": sorted(state["sent"])}


def progress_to_stderr(line: str) -> None:
    end = "\r" if sys.stderr.isatty() else "\n"
    print(line, end=end, file=sys.stderr, flush=True)
