"""Local stand-in for `tensorflow_model_server`: same flags, gRPC and REST API, version lifecycle.

    python -m serving.server.model_server --port=8500 --rest_api_port=8501 \
        --model_name=flight_delay --model_base_path=/path/to/pushed/models

Production runs the real TF Serving image (serving/deploy/); this server lets tests, the
InfraValidator and developers use the identical API on machines without the binary or Docker.
Differences from the binary are listed in serving/README.md.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from concurrent import futures  # noqa: E402
from serving.server import request_log  # noqa: E402
from serving.server.command import GRPC_PORT  # noqa: E402

log = logging.getLogger("serving.server.model_server")

INT32_MAX = 2**31 - 1
STARTUP_FAILED = 255  # main.cc returns -1
DEFAULT_REST_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def _bool(value) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in ("1", "true", "t", "yes"):
        return True
    if lowered in ("0", "false", "f", "no"):
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {value!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m serving.server.model_server", allow_abbrev=False,
        description="TF-Serving-compatible model server (flags as tensorflow_model_server).")
    flag = p.add_argument

    def bool_flag(name, default, help_):
        flag(f"--{name}", type=_bool, nargs="?", const=True, default=default, help=help_)

    flag("--port", type=int, default=GRPC_PORT, help=f"gRPC port to listen on (default {GRPC_PORT})")
    flag("--grpc_socket_path", default="", help="If non-empty, also listen on this UNIX socket for gRPC")
    flag("--rest_api_port", type=int, default=0, help="HTTP/REST port (0 = REST API off)")
    flag("--rest_api_num_threads", type=int, default=0, help="accepted; REST runs on an event loop + thread pool")
    flag("--rest_api_timeout_in_ms", type=int, default=30000, help="REST request timeout")
    flag("--rest_api_enable_cors_support", type=_bool, nargs="?", const=True, default=False,
         help="add CORS headers to REST responses")
    bool_flag("enable_batching", False, "batch concurrent Predict calls (parameters: --batching_parameters_file)")
    flag("--batching_parameters_file", default="", help="ascii BatchingParameters protobuf file")
    bool_flag("allow_version_labels_for_unavailable_models", False,
              "allow labels to point at versions that are not AVAILABLE")
    flag("--model_config_file", default="", help="ascii ModelServerConfig protobuf file (overrides --model_name/--model_base_path)")
    flag("--model_config_file_poll_wait_seconds", type=int, default=0,
         help="re-read --model_config_file every N seconds (0 = never)")
    flag("--model_name", default="default", help="name of model (ignored if --model_config_file is set)")
    flag("--model_base_path", default="", help="path to export (ignored if --model_config_file is set)")
    flag("--max_num_load_retries", type=int, default=5, help="retries of a failed version load")
    flag("--load_retry_interval_micros", type=int, default=60_000_000, help="wait between load retries")
    flag("--file_system_poll_wait_seconds", type=int, default=1,
         help="seconds between polls of the base paths for new versions (0 = once, <0 = never)")
    bool_flag("flush_filesystem_caches", True, "accepted, no effect")
    flag("--tensorflow_session_parallelism", type=int, default=0, help="accepted, no effect")
    flag("--tensorflow_intra_op_parallelism", type=int, default=0, help="TF intra-op threads (0 = auto)")
    flag("--tensorflow_inter_op_parallelism", type=int, default=0, help="TF inter-op threads (0 = auto)")
    flag("--ssl_config_file", default="", help="not supported (must be empty)")
    flag("--platform_config_file", default="", help="not supported (must be empty)")
    flag("--per_process_gpu_memory_fraction", type=float, default=0, help="accepted, no effect")
    flag("--saved_model_tags", default="serve", help="comma-separated MetaGraphDef tags to load")
    flag("--grpc_channel_arguments", default="",
         help="comma-separated key=value gRPC server arguments, e.g. grpc.max_receive_message_length=1048576")
    flag("--grpc_max_threads", type=int, default=0, help="gRPC worker threads (0 = 4 x cores, min 8)")
    bool_flag("enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests on load")
    flag("--num_request_iterations_for_warmup", type=int, default=1, help="replays per warmup record")
    flag("--monitoring_config_file", default="", help="ascii MonitoringConfig protobuf file")
    bool_flag("remove_unused_fields_from_bundle_metagraph", True, "accepted, no effect")
    bool_flag("enable_signature_method_name_check", False, "accepted, no effect")
    bool_flag("xla_cpu_compilation_enabled", False, "accepted, no effect")
    bool_flag("enable_profiler", True, "accepted, no effect")
    flag("--version", action="store_true", help="print the version and exit")
    # Local extensions (not flags of the real binary).
    flag("--bind_address", default="127.0.0.1",
         help="[local server only] address for gRPC and REST (the binary binds 0.0.0.0)")
    flag("--rest_api_max_request_bytes", type=int, default=DEFAULT_REST_MAX_REQUEST_BYTES,
         help="[local server only] REST bodies above this size get HTTP 413 (default 64 MiB)")
    flag("--request_log_max_file_bytes", type=int, default=request_log.DEFAULT_MAX_FILE_BYTES,
         help="[local server only] a request log file (logging_config) is closed at this size and a new one"
              " begun")
    flag("--request_log_max_file_seconds", type=float, default=request_log.DEFAULT_MAX_FILE_SECONDS,
         help="[local server only] ... or when it is this old")
    flag("--request_log_queue_size", type=int, default=request_log.DEFAULT_QUEUE_SIZE,
         help="[local server only] records waiting to be written; more are dropped and counted")
    return p


def parse_grpc_channel_arguments(text: str) -> list:
    """'k=v,k2=v2' -> [(k, int-or-str)] like the binary's parseGrpcChannelArgs."""
    options = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        if "=" not in item:
            raise ValueError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            options.append((key, int(value)))
        except ValueError:
            options.append((key, value))
    return options


def build_config(args):
    """ModelServerConfig from --model_config_file or from --model_name/--model_base_path."""
    from tensorflow_serving.config import model_server_config_pb2

    from serving.server import protos
    if args.model_config_file:
        return protos.model_server_config(args.model_config_file)
    if not args.model_base_path:
        raise SystemExit("Both server_options.model_base_path and server_options.model_config_file are"
                         " empty!")
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = args.model_name
    model.base_path = args.model_base_path
    model.model_platform = "tensorflow"
    return config


class ModelServer:
    """Wires ServerCore, the gRPC services, the REST app and the pollers; `run()` blocks."""

    def __init__(self, args):
        self.args = args
        self._stop = threading.Event()
        self._grpc_server = None
        self._uvicorn = None
        self.metrics = None
        self.monitoring_path = None
        self.grpc_port = None

    def _configure_tensorflow(self):
        import tensorflow as tf
        if self.args.tensorflow_intra_op_parallelism:
            tf.config.threading.set_intra_op_parallelism_threads(self.args.tensorflow_intra_op_parallelism)
        if self.args.tensorflow_inter_op_parallelism:
            tf.config.threading.set_inter_op_parallelism_threads(self.args.tensorflow_inter_op_parallelism)

    def setup(self):
        import grpc

        from serving.server import grpc_api, protos
        from serving.server.server_core import ServerCore
        args = self.args
        if args.ssl_config_file or args.platform_config_file:
            raise SystemExit("--ssl_config_file and --platform_config_file are not supported by the local"
                             " model server")
        if args.rest_api_port and args.rest_api_port == args.port:
            log.error("--rest_api_port cannot be same as --port. Please use a different port for HTTP/REST"
                      " API. Skipped exporting HTTP/REST API.")
            args.rest_api_port = 0
        batching_parameters = None
        if args.batching_parameters_file:
            batching_parameters = protos.batching_parameters(args.batching_parameters_file)
        if args.monitoring_config_file:
            monitoring = protos.monitoring_config(args.monitoring_config_file)
            if monitoring.prometheus_config.enable:
                from serving.server.monitoring import Metrics
                self.metrics = Metrics()
                self.monitoring_path = monitoring.prometheus_config.path or "/monitoring/prometheus/metrics"
        batching = None
        if args.enable_batching:
            from serving.server.batching import BatchingOptions
            on_batch = self.metrics.batch_size.observe if self.metrics is not None else None
            batching = BatchingOptions.from_proto(batching_parameters, on_batch=on_batch)
            log.info("Batching enabled: %s", batching)
        elif batching_parameters is not None:
            raise ValueError("server_options.batching_parameters_file is set without setting"
                             " server_options.enable_batching to true.")
        self._configure_tensorflow()
        tags = [t for t in args.saved_model_tags.split(",") if t]
        if min(args.request_log_max_file_bytes, args.request_log_max_file_seconds, args.request_log_queue_size) <= 0:
            raise ValueError("--request_log_max_file_bytes, --request_log_max_file_seconds and"
                             " --request_log_queue_size must be > 0")
        request_logger = request_log.ServerRequestLogger(
            tags, on_count=self.metrics.count_request_log if self.metrics is not None else None,
            max_file_bytes=args.request_log_max_file_bytes, max_file_seconds=args.request_log_max_file_seconds,
            queue_size=args.request_log_queue_size)
        self.core = ServerCore(
            batching=batching,
            file_system_poll_wait_seconds=args.file_system_poll_wait_seconds,
            max_num_load_retries=args.max_num_load_retries,
            load_retry_interval_micros=args.load_retry_interval_micros,
            enable_model_warmup=args.enable_model_warmup,
            num_request_iterations_for_warmup=args.num_request_iterations_for_warmup,
            saved_model_tags=tags, request_logger=request_logger,
            allow_version_labels_for_unavailable_models=args.allow_version_labels_for_unavailable_models)
        self._config_text = None
        if args.model_config_file:
            with open(args.model_config_file, encoding="utf-8") as handle:
                self._config_text = handle.read()
        config = build_config(args)
        self.core.reload_config(config)
        self.core.start_polling()
        if args.model_config_file and args.model_config_file_poll_wait_seconds > 0:
            threading.Thread(target=self._poll_config_file, name="config-poller", daemon=True).start()

        # Like the binary: messages up to INT32_MAX unless --grpc_channel_arguments says otherwise.
        options = parse_grpc_channel_arguments(args.grpc_channel_arguments)
        given = {key for key, _ in options}
        options += [(key, INT32_MAX) for key in ("grpc.max_receive_message_length",
                                                 "grpc.max_send_message_length") if key not in given]
        workers = args.grpc_max_threads or max(8, 4 * (os.cpu_count() or 1))
        self._grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers,
                                                                   thread_name_prefix="grpc"),
                                        options=options)
        grpc_api.add_to_server(self._grpc_server, self.core, self.metrics)
        try:
            self.grpc_port = self._grpc_server.add_insecure_port(f"{args.bind_address}:{args.port}")
        except RuntimeError:  # grpcio raises when the port is taken
            self.grpc_port = 0
        if not self.grpc_port:
            raise SystemExit(f"Failed to bind gRPC to {args.bind_address}:{args.port}")
        if args.grpc_socket_path:
            self._grpc_server.add_insecure_port(f"unix:{args.grpc_socket_path}")
        self._grpc_server.start()
        log.info("Running gRPC ModelServer at %s:%d ...", args.bind_address, self.grpc_port)

    def _poll_config_file(self):
        from serving.server import protos
        path = self.args.model_config_file
        last = self._config_text
        while not self._stop.wait(self.args.model_config_file_poll_wait_seconds):
            try:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
                if text != last:
                    last = text  # a bad edit is reported once, not on every poll
                    log.info("Model config file %s changed, reloading", path)
                    self.core.reload_config(protos.model_server_config(path))
            except Exception:  # a bad edit keeps the current config
                log.exception("Reloading model config file %s failed", path)

    def run(self):
        """Serve until SIGINT/SIGTERM."""
        args = self.args
        # uvicorn re-raises the signal it caught once it has stopped: this handler then lets us
        # shut gRPC down cleanly instead of dying on the default action.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stop.set())
        if args.rest_api_port:
            import uvicorn

            from serving.server import rest_api
            app = rest_api.make_app(self.core, metrics=self.metrics, monitoring_path=self.monitoring_path,
                                    max_request_bytes=args.rest_api_max_request_bytes,
                                    timeout_seconds=args.rest_api_timeout_in_ms / 1000,
                                    enable_cors=args.rest_api_enable_cors_support)
            config = uvicorn.Config(app, host=args.bind_address, port=args.rest_api_port, log_level="warning",
                                    access_log=False, timeout_keep_alive=30, lifespan="off")
            self._uvicorn = uvicorn.Server(config)
            log.info("Exporting HTTP/REST API at:%s:%d ...", args.bind_address, args.rest_api_port)
            try:
                self._uvicorn.run()  # returns on SIGINT/SIGTERM
            except SystemExit:  # uvicorn exits when it cannot bind its port
                log.error("Failed to start HTTP Server at %s:%d", args.bind_address, args.rest_api_port)
                self.shutdown()
                return 1
        else:
            self._stop.wait()
        self.shutdown()
        return 0

    def shutdown(self):
        self._stop.set()
        if getattr(self, "core", None) is not None:
            self.core.stop()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=1).wait(5)
        if getattr(self, "core", None) is not None:
            self.core.request_logger.close()  # after the last request: what is queued is written
        log.info("Model server stopped")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        print("TensorFlow ModelServer: local (serving.server.model_server)")
        import tensorflow as tf
        print(f"TensorFlow Library: {tf.__version__}")
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname).1s %(name)s] %(message)s")
    server = ModelServer(args)
    try:
        server.setup()  # returns once the initial models are loaded (or raises), like BuildAndStart
    except Exception as exc:
        from serving.server.errors import ServingError
        if not isinstance(exc, (ValueError, OSError, ServingError)):
            raise
        # main.cc: the message on stdout, exit status -1; nothing was listening yet.
        print(f"Failed to start server. Error: {exc}", flush=True)
        server.shutdown()
        return STARTUP_FAILED
    return server.run()


def _exit_now(code: int) -> None:
    """Exit without the multi-second interpreter teardown of TF/gRPC (everything is stopped by now)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _exit_now(main())
