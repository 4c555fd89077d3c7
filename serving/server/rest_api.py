"""TF Serving's HTTP/REST API (g3doc api_rest.md) as a Starlette app over ServerCore.

URL patterns and error handling follow tensorflow_serving/model_servers/http_rest_api_handler.cc:
  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]            model status
  GET  /v1/models/{m}[/versions/{v}|/labels/{l}]/metadata   model metadata
  POST /v1/models/{m}[/versions/{v}|/labels/{l}]:(predict|classify|regress)
Errors answer {"error": message} with the HTTP code of the canonical status.
"""
import json
import logging
import re
import time

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.routing import Route

from serving.server import errors, json_codec
from serving.server.grpc_api import run_model_status

log = logging.getLogger("serving.server.model_server")

# http_rest_api_util.h kHTTPRestApiHandlerPathRegex: the REST handler's share of the URL space;
# any other path (but the Prometheus one) gets evhttp's 404 page.
API_PATH_RE = re.compile(r"(?i)/v1/.*")
NOT_FOUND_HTML = ("<HTML><HEAD>\n<TITLE>404 Not Found</TITLE>\n</HEAD><BODY>\n<H1>Not Found</H1>\n"
                  "</BODY></HTML>\n")
# http_rest_api_util.cc AddCORSHeaders (--rest_api_enable_cors_support).
CORS_HEADERS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST, GET",
                "Access-Control-Allow-Headers": "Content-Type"}
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"]
PREDICTION_RE = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)")
STATUS_RE = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?")


def _json_response(text: str, status: int = 200, cors: bool = False) -> Response:
    return Response(text, status_code=status, media_type="application/json",
                    headers=CORS_HEADERS if cors else None)


def error_response(err: errors.ServingError, cors: bool = False) -> Response:
    return _json_response('{ "error": ' + json.dumps(err.message, ensure_ascii=False) + " }",
                          err.http_status, cors)


class RestApi:
    def __init__(self, core, metrics=None, max_request_bytes=64 << 20, timeout_seconds=30.0,
                 enable_cors=False):
        self.core = core
        self.metrics = metrics
        self.max_request_bytes = max_request_bytes
        self.timeout_seconds = timeout_seconds
        self.cors = enable_cors

    # ---- request plumbing -------------------------------------------------------------------
    async def read_body(self, request) -> bytes:
        """The body, or HTTP 413 past max_request_bytes (the rest is drained so the client reads the answer)."""
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= self.max_request_bytes:
                chunks.append(chunk)
        if size > self.max_request_bytes:
            raise errors.PayloadTooLarge(
                f"Request body of {size} bytes exceeds the limit of {self.max_request_bytes} bytes"
                f" (--rest_api_max_request_bytes)")
        return b"".join(chunks)

    async def dispatch(self, request) -> Response:
        with self.core.request_logger.serving:  # request logs are written in the gaps between requests
            return await self._dispatch(request)

    async def _dispatch(self, request) -> Response:
        path = request.url.path
        method = request.method
        started = time.perf_counter()
        api, model_name = "unknown", ""
        if not API_PATH_RE.fullmatch(path):
            return Response(NOT_FOUND_HTML, status_code=404, media_type="text/html")
        if method == "OPTIONS":  # CORS preflight (http_server.cc): no body, 200 iff an http(s) Origin
            origin = request.headers.get("origin", "")
            return Response(b"", status_code=200 if re.search(r"https?://", origin) else 400,
                            headers=CORS_HEADERS if self.cors else None)
        try:
            if method == "POST" and (m := PREDICTION_RE.fullmatch(path)):
                model_name, version, label, api = m.group(1), m.group(2), m.group(3), m.group(4).lower()
                body = await self.read_body(request)
                with anyio.fail_after(self.timeout_seconds):  # --rest_api_timeout_in_ms
                    text = await anyio.to_thread.run_sync(
                        self._process, api, model_name, version, label, body, abandon_on_cancel=True)
                response = _json_response(text, 200, self.cors)
            elif method == "GET" and (m := STATUS_RE.fullmatch(path)):
                model_name, version, label, metadata = m.groups()
                if not model_name:
                    raise errors.invalid_argument("Missing model name in request.")
                api = "metadata" if metadata else "status"
                fn = self._metadata if metadata else self._status
                text = await run_in_threadpool(fn, model_name, version, label)
                response = _json_response(text, 200, self.cors)
            else:
                raise errors.invalid_argument(f"Malformed request: {method} {path}")
        except errors.ServingError as err:
            response = error_response(err, self.cors)
        except TimeoutError:
            response = error_response(errors.ServingError(
                errors.grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline exceeded"), self.cors)
        except ClientDisconnect:
            return Response(status_code=499)
        except Exception as exc:  # never let a request kill the server
            log.exception("REST %s %s failed", method, path)
            response = error_response(errors.from_exception(exc), self.cors)
        if self.metrics is not None and api in ("predict", "classify", "regress"):
            status = "OK" if response.status_code == 200 else str(response.status_code)
            self.metrics.request_count.labels(model_name, status).inc()
            self.metrics.request_latency.labels(model_name, api, "REST").observe(
                (time.perf_counter() - started) * 1e6)
        return response

    # ---- handlers (run in worker threads) ---------------------------------------------------
    def _servable(self, name, version, label):
        return self.core.servable(name, int(version) if version else None, label)

    def _process(self, api, name, version, label, body: bytes) -> str:
        doc = json_codec.parse_json(body)
        signature_name = json_codec.signature_name_of(doc)
        servable = self._servable(name, version, label)
        logger = self.core.request_logger
        if api == "predict":
            _, sig = servable.signature(signature_name)
            inputs, fmt = json_codec.decode_predict(doc, sig)
            key, outputs = servable.predict(signature_name, inputs)
            text = json_codec.encode_predict(outputs, fmt)
            logger.log_rest_predict(servable, key, inputs, outputs)  # as the equivalent PredictRequest
            return text
        request_input = json_codec.decode_examples(doc)
        if api == "classify":
            key, result = servable.classify(signature_name, request_input)
            text = json_codec.encode_classification(result)
        else:
            key, result = servable.regress(signature_name, request_input)
            text = json_codec.encode_regression(result)
        logger.log_rest_examples(api, servable, key, request_input, result)
        return text

    def _status(self, name, version, label) -> str:
        from google.protobuf import json_format
        from tensorflow_serving.apis import get_model_status_pb2
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        if label:
            request.model_spec.version.value = self.core.resolve_version(name, None, label)
        elif version:
            request.model_spec.version.value = int(version)
        response = run_model_status(self.core, request)
        return json.dumps(json_format.MessageToDict(
            response, preserving_proto_field_name=True, including_default_value_fields=True), indent=1)

    def _metadata(self, name, version, label) -> str:
        from google.protobuf import json_format
        from tensorflow_serving.apis import model_pb2
        servable = self._servable(name, version, label)
        spec = model_pb2.ModelSpec(name=servable.name, signature_name="")
        spec.version.value = servable.version
        as_dict = lambda msg: json_format.MessageToDict(  # noqa: E731
            msg, preserving_proto_field_name=True, including_default_value_fields=True)
        return json.dumps({"model_spec": as_dict(spec),
                           "metadata": {"signature_def": as_dict(servable.signature_def_map())}}, indent=1)


def make_app(core, metrics=None, monitoring_path=None, max_request_bytes=64 << 20, timeout_seconds=30.0,
             enable_cors=False) -> Starlette:
    api = RestApi(core, metrics, max_request_bytes, timeout_seconds, enable_cors)
    routes = []
    if metrics is not None and monitoring_path:
        from serving.server.monitoring import CONTENT_TYPE

        async def prometheus(request):
            return Response(metrics.exposition(), media_type=CONTENT_TYPE)
        routes.append(Route(monitoring_path, prometheus, methods=ALL_METHODS))
    routes.append(Route("/{path:path}", api.dispatch, methods=ALL_METHODS))
    return Starlette(routes=routes)
