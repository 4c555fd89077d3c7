"""Prometheus metrics with TF Serving's metric names (exported when monitoring_config enables them)."""
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_COUNTERS = (":tensorflow:serving:request_count", ":tensorflow:cc:saved_model:load_attempt_count",
             ":tensorflow:serving:request_log_count")


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_count = Counter(
            ":tensorflow:serving:request_count", "The total number of requests.",
            ["model_name", "status"], registry=self.registry)
        self.request_latency = Histogram(
            ":tensorflow:serving:request_latency", "Distribution of wall time (in microseconds) for"
            " Tensorflow Serving request.", ["model_name", "API", "entrypoint"], registry=self.registry,
            buckets=(10, 18, 32.4, 58.3, 105, 189, 340, 612, 1102, 1984, 3570, 6427, 11568, 20823, 37481,
                     67466, 121439, 218591, 393464, 708235, 1274823, 2294682, 4130428, 7434771))
        self.batch_size = Histogram(
            ":tensorflow:serving:batching_session:processed_batch_size", "Tracks the batch size"
            " distribution on processing.", registry=self.registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
        self.load_count = Counter(
            ":tensorflow:cc:saved_model:load_attempt_count", "The number of times a SavedModel was"
            " attempted to load.", ["model_path", "status"], registry=self.registry)
        # request_logger.cc's counter; here also the records dropped (status_code != OK: why), since
        # logging never waits for the disk (serving/server/request_log.py).
        self.request_log_count = Counter(
            ":tensorflow:serving:request_log_count", "The total number of requests logged from the model"
            " server sliced down by model_name and status code.", ["model_name", "status_code"],
            registry=self.registry)

    def count_request_log(self, model_name: str, status_code: str, n: int = 1) -> None:
        self.request_log_count.labels(model_name, status_code).inc(n)

    def observe(self, model_spec, api: str, status: str, started: float, entrypoint: str = "GRPC"):
        name = getattr(model_spec, "name", "") if model_spec is not None else ""
        self.request_count.labels(name, status).inc()
        self.request_latency.labels(name, api, entrypoint).observe((time.perf_counter() - started) * 1e6)

    def exposition(self) -> bytes:
        """Text format as the binary writes it: counters without prometheus_client's `_total` suffix and
        no `_created` samples (tensorflow_serving/util/prometheus_exporter.cc)."""
        lines = []
        for line in generate_latest(self.registry).decode().splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0] if not line.startswith("#") else line.split(" ")[2]
            if name.endswith("_created"):
                continue
            for counter in _COUNTERS:
                line = line.replace(f"{counter}_total", counter)
            lines.append(line)
        return ("\n".join(lines) + "\n").encode()
