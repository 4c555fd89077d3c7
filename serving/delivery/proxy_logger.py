"""Request logging for `tensorflow_model_server`, which cannot log: nginx mirrors each routed predict
request to this small HTTP process, which writes the same PredictionLog TFRecord files as the local
server's logging_config (serving/server/request_log.py: collector, file names, rotation, drops).

What it cannot see, and so leaves out of each record:
- the answer: the mirrored copy carries the request only (no `predict_log.response`);
- the version, unless nginx's route header gives it: nginx sends the route it chose for the request
  (`X-Model-Route: canary v4 green`) with the copy; a request addressing /versions/V names it itself;
  otherwise `model_spec.version` stays unset;
- whether the request succeeded (a failed request is logged too), and requests that bypass the proxy.
A REST body becomes its PredictRequest through the column contract (serving/client.py: rows of
`instances`, contract dtypes); a body it cannot read is dropped and counted (INVALID_ARGUMENT).
"""
import json
import logging
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from data import contract
from serving import client as serving_client
from serving.server import errors, request_log

log = logging.getLogger("serving.delivery.proxy_logger")

_URI = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:predict$")
_ROUTE = re.compile(r"^\w+ v(\d+) ")


def prediction_log(uri: str, route: str, body: bytes, sampling_config, when: float):
    """The PredictionLog (request only) of one mirrored REST predict; ValueError when it is not one."""
    from tensorflow_serving.apis import prediction_log_pb2
    match = _URI.match(uri)
    if not match:
        raise ValueError(f"not a predict URI: {uri!r}")
    model_name, version, label = match.groups()
    routed = _ROUTE.match(route or "")
    if routed:
        version = routed.group(1)
    doc = json.loads(body)
    signature = doc.get("signature_name") or contract.SERVING_SIGNATURE
    rows = serving_client.rows_from_json(body.decode("utf-8"))
    record = prediction_log_pb2.PredictionLog()
    request = record.predict_log.request
    request.CopyFrom(serving_client.predict_request(model_name, serving_client.columns_from_rows(rows), signature,
                                                    version=int(version) if version else None,
                                                    label=None if version else label))
    meta = record.log_metadata
    meta.model_spec.CopyFrom(request.model_spec)
    meta.sampling_config.CopyFrom(sampling_config)
    meta.timestamp_secs = int(when)
    return record


class ProxyLogger:
    """The HTTP endpoint nginx mirrors to: answers 204 at once, records are built and written by the collector."""

    def __init__(self, listen: str, filename_prefix: str, sampling_rate: float = 1.0, on_count=None, **options):
        from tensorflow_serving.config import logging_config_pb2
        host, _, port = listen.rpartition(":")
        self.counts = {}
        self._lock = threading.Lock()
        self.collector = request_log.TFRecordCollector(filename_prefix, on_count or self._count, **options)
        config = logging_config_pb2.LoggingConfig()
        config.log_collector_config.filename_prefix = filename_prefix
        config.sampling_config.sampling_rate = sampling_rate
        self.logger = request_log.RequestLogger(config, (), self.collector)
        self.server = ThreadingHTTPServer((host, int(port)), self._handler())
        self.server.daemon_threads = True

    def _count(self, model_name, status, n):
        with self._lock:
            self.counts[(model_name, status)] = self.counts.get((model_name, status), 0) + n

    def _handler(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(204)
                self.end_headers()
                owner.submit(self.headers.get("X-Original-URI", ""), self.headers.get("X-Model-Route", ""), body)

            def log_message(self, *args):  # no access log: nginx keeps one
                pass
        return Handler

    def submit(self, uri: str, route: str, body: bytes) -> None:
        match = _URI.match(uri)
        model_name = match.group(1) if match else ""
        if not self.logger.sample():
            return
        sampling = self.logger.sampling_config

        def build(when):
            try:
                return prediction_log(uri, route, body, sampling, when)
            except (ValueError, KeyError, UnicodeDecodeError) as exc:
                raise errors.invalid_argument(f"{uri}: {exc}") from None
        self.collector.collect(model_name, build)

    def serve_forever(self):
        self.server.serve_forever(poll_interval=0.2)

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.collector.close()
