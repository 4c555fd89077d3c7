"""Request logging in TF Serving's own format: the `logging_config` of a model in ModelServerConfig.

Semantics of tensorflow_serving/core/server_request_logger.cc and request_logger.cc (2.16.1):
- one RequestLogger per distinct LoggingConfig: models with equal configs share it, a reload keeps the
  logger of an unchanged config (same files) and closes the others;
- a request is logged when uniform[0, 1) < sampling_config.sampling_rate (0: never, 1: always);
- a record is a tensorflow.serving.PredictionLog: `log_metadata` (model_spec of the version that
  answered: name, version, signature_name; the sampling_config; the server's saved_model_tags;
  timestamp_secs) and `predict_log` / `classify_log` / `regress_log` with the request and the response.
  The logged request's model_spec is the one that answered (a label or "latest" becomes the version);
  REST requests are logged as the gRPC request they are equivalent to.
- log_collector_config.type names the collector: "tfrecord" (or empty) is the one here; another type is
  NOT_FOUND "Cannot find LogCollector::Factory for type: X" (log_collector.cc).

Logging never blocks or fails a request: the request thread samples and enqueues references (the
request, the decoded REST tensors, the answer) on a bounded queue; one writer thread per collector
looks at the queue every 50 ms (a request never wakes it) and builds and writes the records in the gaps
between requests (`ServerRequestLogger.serving` marks a request; a record waits at most 1 s for a gap).
A full queue or a failed write drops the record; every sampled record is counted in
`:tensorflow:serving:request_log_count{model_name, status_code}` (request_logger.cc's metric): OK when
written, else why it was dropped (RESOURCE_EXHAUSTED: queue full; PERMISSION_DENIED, NOT_FOUND, ...:
the write failed).

Files: `<filename_prefix>-<UTC start YYYYMMDDTHHMMSSZ>-<pid>-<seq>.tfrecord`, a new one when the current
one reaches max_file_bytes, is max_file_seconds old or was removed; flushed after each batch of records.
Unlike the binary (no request-logger creator: any logging_config fails its start-up), the configs are
checked with the rest of a config, before it changes anything.
"""
import errno
import functools
import glob
import itertools
import logging
import os
import queue
import random
import threading
import time
import types

from serving.server import errors, wire

log = logging.getLogger("serving.server.model_server")

COLLECTOR_TYPES = ("tfrecord", "")  # "" = the default collector
FILE_SUFFIX = ".tfrecord"
DEFAULT_MAX_FILE_BYTES = 64 << 20
DEFAULT_MAX_FILE_SECONDS = 3600
DEFAULT_QUEUE_SIZE = 10000
_BATCH = 256  # records written between two flushes at most
# The writer looks at the queue this often: a request never wakes it (a wake-up per record and the GIL
# hand-overs it brings were most of REST's +10-14 % p50), and records are written in batches.
_POLL_SECONDS = 0.05
# While a request is being served the writer waits (looking every _IDLE_POLL_SECONDS), up to
# DEFAULT_MAX_WAIT_SECONDS after a record arrived or until the queue is half full: on a server with gaps
# between requests the records are built in the gaps.
_IDLE_POLL_SECONDS = 0.002
DEFAULT_MAX_WAIT_SECONDS = 1.0
_RETRY_SECONDS = 1.0  # after a failed write, records are dropped (and counted) this long before a retry
_SEQUENCE = itertools.count()  # process-wide: two collectors on one prefix never share a file name


# ---- config -------------------------------------------------------------------------------------
def validate(config) -> None:
    """ServingError for a logging_config the server cannot honour (checked before a config changes anything)."""
    for model in config.model_config_list.config:
        if not model.HasField("logging_config"):
            continue
        collector = model.logging_config.log_collector_config
        if collector.type not in COLLECTOR_TYPES:
            raise errors.not_found(f"Cannot find LogCollector::Factory for type: {collector.type}")
        if not collector.filename_prefix:
            raise errors.invalid_argument(
                f"logging_config of model {model.name}: log_collector_config.filename_prefix is empty")
        rate = model.logging_config.sampling_config.sampling_rate
        if not 0.0 <= rate <= 1.0:
            raise errors.invalid_argument(
                f"logging_config of model {model.name}: sampling_config.sampling_rate {rate} is not in [0, 1]")


def file_name(prefix: str, started: float, pid: int, sequence: int) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    return f"{prefix}-{stamp}-{pid}-{sequence:05d}{FILE_SUFFIX}"


# ---- writing ------------------------------------------------------------------------------------
def _status_of(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not hasattr(exc, "error_code"):
        return {errno.EACCES: "PERMISSION_DENIED", errno.EPERM: "PERMISSION_DENIED", errno.EROFS: "PERMISSION_DENIED",
                errno.ENOENT: "NOT_FOUND", errno.ENOTDIR: "NOT_FOUND",
                errno.ENOSPC: "RESOURCE_EXHAUSTED"}.get(exc.errno, "UNAVAILABLE")
    return errors.from_exception(exc).code.name


class TFRecordCollector:
    """A bounded queue and a writer thread appending serialized PredictionLogs to rotated TFRecord files."""

    def __init__(self, filename_prefix: str, on_count, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 max_file_seconds: float = DEFAULT_MAX_FILE_SECONDS, queue_size: int = DEFAULT_QUEUE_SIZE,
                 idle=None, max_wait_seconds: float = DEFAULT_MAX_WAIT_SECONDS):
        self.prefix = os.path.abspath(filename_prefix)
        self._idle = idle  # () -> True when no request is being served; None: never wait
        self.max_wait_seconds = max_wait_seconds
        self.max_file_bytes = max_file_bytes
        self.max_file_seconds = max_file_seconds
        self._on_count = on_count  # (model_name, status_code, n)
        self._queue = queue.Queue(queue_size)
        self._closed = False
        self._writer = None
        self._path = None
        self._opened = 0.0
        self._bytes = 0
        self._retry_at = 0.0
        self._failure = None
        self._warned = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="request-log-writer", daemon=True)
        self._thread.start()

    def collect(self, model_name: str, build) -> None:
        """Enqueue `build(timestamp) -> PredictionLog` (or its serialized bytes) without waiting; a full queue
        drops it (counted)."""
        if self._closed:
            return
        try:
            self._queue.put_nowait((model_name, build, time.time()))
        except queue.Full:
            self._count(model_name, "RESOURCE_EXHAUSTED", 1, f"request log queue full ({self._queue.maxsize}):"
                                                            f" records dropped")

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, close the file, stop the thread."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._thread.join(timeout)

    def _count(self, model_name, status, n, warning=None):
        if warning and status not in self._warned:
            self._warned.add(status)  # once per reason: a broken disk must not flood the server log
            log.warning("Request log %s: %s (%s); requests are still served", self.prefix, warning, status)
        self._on_count(model_name, status, n)

    def _run(self):
        while True:
            stopping = self._stop.wait(_POLL_SECONDS)
            while True:
                batch = []
                while len(batch) < _BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not batch:
                    break
                self._write(batch)
            self._rotate_if_old()
            if stopping:
                self._close_file()
                return

    def _write(self, batch):
        records = []
        for model_name, build, when in batch:
            self._wait_for_idle(when)
            try:
                record = build(when)
                records.append((model_name, record if isinstance(record, bytes) else record.SerializeToString()))
            except Exception as exc:  # a record that cannot be built is dropped, never the writer
                self._count(model_name, errors.from_exception(exc).code.name, 1, f"cannot build a record: {exc}")
            time.sleep(0)  # let a request thread have the GIL between two records
        if not records:
            return
        self._wait_for_idle(batch[-1][2])
        if time.monotonic() < self._retry_at:
            for model_name, _ in records:
                self._count(model_name, self._failure, 1)
            return
        if self._writer is not None and not os.path.exists(self._path):
            log.warning("Request log %s was removed while open: starting a new file", self._path)
            self._close_file()
        written = 0
        try:
            for _, data in records:
                self._ensure_file(len(data))
                self._writer.write(data)
                self._bytes += len(data) + 16  # TFRecord framing: length, 2 CRCs
                written += 1
            self._writer.flush()
        except Exception as exc:  # unwritable directory, full disk...: drop and retry later
            self._failure = _status_of(exc)
            self._retry_at = time.monotonic() + _RETRY_SECONDS
            self._close_file()
            for model_name, _ in records[written:]:
                self._count(model_name, self._failure, 1, f"cannot write: {exc}")
            records = records[:written]
        for model_name, _ in records:
            self._on_count(model_name, "OK", 1)

    def _wait_for_idle(self, when: float):
        """Wait while a request is being served, at most until `when` + max_wait_seconds (or a half-full
        queue, or close())."""
        if self._idle is None:
            return
        deadline = when + self.max_wait_seconds
        while (not self._idle() and time.time() < deadline and self._queue.qsize() * 2 < self._queue.maxsize
               and not self._stop.is_set()):
            time.sleep(_IDLE_POLL_SECONDS)

    def _ensure_file(self, size: int):
        if self._writer is not None and (self._bytes + size + 16 > self.max_file_bytes
                                         or time.monotonic() - self._opened >= self.max_file_seconds):
            self._close_file()
        if self._writer is None:
            import tensorflow as tf
            os.makedirs(os.path.dirname(self.prefix), exist_ok=True)
            path = file_name(self.prefix, time.time(), os.getpid(), next(_SEQUENCE))
            self._writer = tf.io.TFRecordWriter(path)
            self._path, self._opened, self._bytes = path, time.monotonic(), 0

    def _rotate_if_old(self):
        if self._writer is not None and time.monotonic() - self._opened >= self.max_file_seconds:
            self._close_file()

    def _close_file(self):
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception as exc:
                log.warning("Request log %s: closing %s failed: %s", self.prefix, self._path, exc)
            self._writer = None


class RequestLogger:
    """One LoggingConfig: its sampling and its collector."""

    def __init__(self, logging_config, saved_model_tags, collector):
        from tensorflow_serving.config import logging_config_pb2
        self.config = logging_config
        self.rate = logging_config.sampling_config.sampling_rate
        self.sampling_config = logging_config_pb2.SamplingConfig()
        self.sampling_config.CopyFrom(logging_config.sampling_config)
        self.saved_model_tags = list(saved_model_tags)
        self.collector = collector
        self._uniform = random.Random().random

    def sample(self) -> bool:
        """RequestLogger's UniformSampler: uniform[0, 1) < sampling_rate."""
        return self._uniform() < self.rate

    def log(self, model_name: str, entry) -> None:
        """Sample; if kept, enqueue the record. `entry()` -> (model_spec, the serialized PredictionLog fields
        after log_metadata) runs on the writer thread: the request thread only decides and enqueues."""
        if not self.sample():
            return

        def build(when) -> bytes:
            from tensorflow_serving.apis import prediction_log_pb2
            model_spec, tail = entry()
            head = prediction_log_pb2.PredictionLog()
            meta = head.log_metadata
            meta.model_spec.CopyFrom(model_spec)
            meta.sampling_config.CopyFrom(self.sampling_config)
            meta.saved_model_tags.extend(self.saved_model_tags)
            meta.timestamp_secs = int(when)
            return head.SerializeToString() + tail  # serialized messages concatenate: the fields of both
        self.collector.collect(model_name, build)

    def close(self):
        self.collector.close()


def _never_raises(method):
    """Logging must not fail a request: an unexpected error is logged (once) and the record dropped."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            method(self, *args, **kwargs)
        except Exception:
            if not self._failed:
                self._failed = True
                log.exception("Request logging failed; requests are still served")
    return wrapper


class _Serving:
    """`with server_request_logger.serving:` around a request: the writers wait for the gaps between requests."""
    __slots__ = ("_requests",)

    def __init__(self, requests: list):
        self._requests = requests

    def __enter__(self):
        self._requests.append(None)

    def __exit__(self, *exc):
        self._requests.pop()


class ServerRequestLogger:
    """The loggers of the served models (ServerCore's server_request_logger); `update()` on each config."""

    def __init__(self, saved_model_tags=("serve",), on_count=None, max_file_bytes=DEFAULT_MAX_FILE_BYTES,
                 max_file_seconds=DEFAULT_MAX_FILE_SECONDS, queue_size=DEFAULT_QUEUE_SIZE):
        self.saved_model_tags = tuple(saved_model_tags)
        self.on_count = on_count or (lambda model_name, status, n: None)
        self.options = {"max_file_bytes": max_file_bytes, "max_file_seconds": max_file_seconds,
                        "queue_size": queue_size, "idle": self.idle}
        self._serving = []  # one entry per request being served (list append/pop: atomic, no lock)
        self.serving = _Serving(self._serving)
        self._by_model = {}  # model name -> RequestLogger (replaced whole, read without a lock)
        self._by_config = {}  # serialized LoggingConfig -> RequestLogger
        self._lock = threading.Lock()
        self._failed = False

    def update(self, config) -> None:
        """Loggers for a validated ModelServerConfig (FindOrCreateLogger: one per distinct LoggingConfig)."""
        with self._lock:
            by_config, by_model = {}, {}
            for model in config.model_config_list.config:
                if not model.HasField("logging_config"):
                    continue
                key = model.logging_config.SerializeToString(deterministic=True)
                logger = by_config.get(key) or self._by_config.get(key)
                if logger is None:
                    collector = TFRecordCollector(model.logging_config.log_collector_config.filename_prefix,
                                                  self.on_count, **self.options)
                    logger = RequestLogger(model.logging_config, self.saved_model_tags, collector)
                    log.info("Logging requests of model %s (sampling rate %g) to %s-*%s", model.name,
                             logger.rate, collector.prefix, FILE_SUFFIX)
                by_config[key] = logger
                by_model[model.name] = logger
            gone = [logger for key, logger in self._by_config.items() if key not in by_config]
            self._by_model, self._by_config = by_model, by_config
        for logger in gone:
            logger.close()

    def logger(self, model_name: str):
        return self._by_model.get(model_name)

    def idle(self) -> bool:
        """No request is being served (the writers build and write records then)."""
        return not self._serving

    def close(self) -> None:
        with self._lock:
            loggers, self._by_model, self._by_config = list(self._by_config.values()), {}, {}
        for logger in loggers:
            logger.close()

    # ---- what is logged --------------------------------------------------------------------
    @_never_raises
    def log(self, kind: str, request, response) -> None:
        """A gRPC Predict/Classify/Regress that succeeded (kind: "predict", "classify", "regress")."""
        spec = response.model_spec
        logger = self._by_model.get(spec.name)
        if logger is None:
            return

        def entry():
            from tensorflow_serving.apis import prediction_log_pb2
            record = prediction_log_pb2.PredictionLog()
            logged = getattr(record, f"{kind}_log")
            logged.request.CopyFrom(request)
            logged.request.model_spec.CopyFrom(spec)
            logged.response.CopyFrom(response)
            return spec, record.SerializeToString()
        logger.log(spec.name, entry)

    @_never_raises
    def log_rest_predict(self, servable, signature_key: str, inputs: dict, outputs: dict) -> None:
        """A REST :predict, logged as its PredictRequest/PredictResponse (tensors from the decoded JSON, in
        TF Serving's typed *_val fields; written as bytes, see wire.py)."""
        logger = self._by_model.get(servable.name)
        if logger is None:
            return
        name, version = servable.name, servable.version

        def entry():
            n = _predict_fields()
            spec = _model_spec(name, version, signature_key)
            spec_bytes = spec.SerializeToString()
            request = wire.field(n.request_spec, spec_bytes) + _tensor_map(n.request_inputs, inputs)
            response = _tensor_map(n.response_outputs, outputs) + wire.field(n.response_spec, spec_bytes)
            predict_log = wire.field(n.request, request) + wire.field(n.response, response)
            return spec, wire.field(n.predict_log, predict_log)
        logger.log(name, entry)

    @_never_raises
    def log_rest_examples(self, kind: str, servable, signature_key: str, request_input, result) -> None:
        """A REST :classify/:regress, logged as its ClassificationRequest/Response (RegressionRequest/Response)."""
        logger = self._by_model.get(servable.name)
        if logger is None:
            return
        name, version = servable.name, servable.version

        def entry():
            from tensorflow_serving.apis import prediction_log_pb2
            spec = _model_spec(name, version, signature_key)
            record = prediction_log_pb2.PredictionLog()
            logged = getattr(record, f"{kind}_log")
            logged.request.model_spec.CopyFrom(spec)
            logged.request.input.CopyFrom(request_input)
            logged.response.model_spec.CopyFrom(spec)
            logged.response.result.CopyFrom(result)
            return spec, record.SerializeToString()
        logger.log(name, entry)


def _model_spec(name: str, version: int, signature_key: str):
    from tensorflow_serving.apis import model_pb2
    spec = model_pb2.ModelSpec(name=name, signature_name=signature_key)
    spec.version.value = version
    return spec


@functools.lru_cache(maxsize=None)
def _predict_fields():
    """Field numbers of a predict_log record, from the protos' descriptors."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    number = lambda message, name: message.DESCRIPTOR.fields_by_name[name].number  # noqa: E731
    return types.SimpleNamespace(
        predict_log=number(prediction_log_pb2.PredictionLog, "predict_log"),
        request=number(prediction_log_pb2.PredictLog, "request"),
        response=number(prediction_log_pb2.PredictLog, "response"),
        request_spec=number(predict_pb2.PredictRequest, "model_spec"),
        request_inputs=number(predict_pb2.PredictRequest, "inputs"),
        response_outputs=number(predict_pb2.PredictResponse, "outputs"),
        response_spec=number(predict_pb2.PredictResponse, "model_spec"))


def _tensor_map(number: int, arrays: dict) -> bytes:
    """A map<string, TensorProto> field: one entry (key 1, value 2: protobuf's map encoding) per array."""
    return b"".join(wire.field(number, wire.field(1, alias.encode()) + wire.field(2, wire.tensor_proto_bytes(array)))
                    for alias, array in arrays.items())


# ---- reading ------------------------------------------------------------------------------------
def log_files(path: str) -> list:
    """Log files of a directory (every *.tfrecord in it), a filename_prefix, or the file itself; sorted."""
    if os.path.isdir(path):
        return sorted(glob.glob(os.path.join(glob.escape(path), f"*{FILE_SUFFIX}")))
    if os.path.isfile(path):
        return [path]
    return sorted(glob.glob(f"{glob.escape(path)}-*{FILE_SUFFIX}"))


def read_logs(paths):
    """PredictionLogs of the files (paths: a path or a list, each as log_files takes it).

    A file's truncated last record (one being written) ends that file; corruption raises ValueError
    naming the file.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2
    files = []
    for path in [paths] if isinstance(paths, str) else paths:
        found = log_files(path)
        if not found:
            raise FileNotFoundError(f"{path}: no request log files ({FILE_SUFFIX})")
        files += found
    from google.protobuf.message import DecodeError
    from tensorflow.python.util import deprecation
    for path in files:
        try:
            with deprecation.silence():
                iterator = tf.compat.v1.io.tf_record_iterator(path)
            for data in iterator:
                yield prediction_log_pb2.PredictionLog.FromString(data)
        except tf.errors.DataLossError as exc:
            if "truncated" not in str(exc).lower():
                raise ValueError(f"{path}: not a TFRecord file of PredictionLogs ({exc.message})") from None
        except DecodeError as exc:
            raise ValueError(f"{path}: a record is not a PredictionLog ({exc})") from None


def _value(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v.item() if hasattr(v, "item") else v


def _example_row(example) -> dict:
    row = {}
    for name, feature in example.features.feature.items():
        values = getattr(feature, feature.WhichOneof("kind")).value if feature.WhichOneof("kind") else []
        row[name] = _value(values[0]) if len(values) == 1 else [_value(v) for v in values]
    return row


def rows(record, examples_input: str = None) -> list:
    """[(inputs, outputs)] per row of a record: {name: python value} each (bytes decoded as UTF-8).

    predict_log: one [batch, ...] tensor per input/output alias; with `examples_input` (the alias of a
    serialized tf.Example input), that input's examples give the row's features. classify_log /
    regress_log: the examples' features; outputs {"classes": [(label, score)]} or {"value": v}.
    A log without a response (the proxy's) gives empty outputs.
    """
    import tensorflow as tf
    kind = record.WhichOneof("log_type")
    if kind == "predict_log":
        request, response = record.predict_log.request, record.predict_log.response
        inputs = {alias: tf.make_ndarray(t) for alias, t in request.inputs.items()}
        outputs = {alias: tf.make_ndarray(t) for alias, t in response.outputs.items()}
        batch = max([len(a) if a.ndim else 1 for a in inputs.values()] or [0])
        result = []
        for i in range(batch):
            if examples_input and examples_input in inputs:
                row = _example_row(tf.train.Example.FromString(inputs[examples_input][i]))
            else:
                row = {alias: _value(a[i] if a.ndim else a) for alias, a in inputs.items()}
            out = {}
            for alias, a in outputs.items():
                v = a[i] if a.ndim and len(a) == batch else a
                out[alias] = _value(v) if getattr(v, "ndim", 0) == 0 else v.tolist()
            result.append((row, out))
        return result
    if kind in ("classify_log", "regress_log"):
        entry = getattr(record, kind)
        request_input = entry.request.input
        if request_input.WhichOneof("kind") == "example_list_with_context":
            context = _example_row(request_input.example_list_with_context.context)
            examples = [{**context, **_example_row(e)} for e in request_input.example_list_with_context.examples]
        else:
            examples = [_example_row(e) for e in request_input.example_list.examples]
        if kind == "classify_log":
            outs = [{"classes": [(c.label, c.score) for c in r.classes]}
                    for r in entry.response.result.classifications]
        else:
            outs = [{"value": r.value} for r in entry.response.result.regressions]
        return [(row, outs[i] if i < len(outs) else {}) for i, row in enumerate(examples)]
    return []
