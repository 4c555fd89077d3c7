"""TF Serving's error model: a canonical status code plus message, mapped to HTTP like the real server."""
import grpc

# tensorflow_serving/model_servers/http_rest_api_util.cc ToHTTPStatusCode.
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}

_BY_INT = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """An error with a gRPC canonical code, raised anywhere in the server and rendered per API."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS.get(self.code, 500)

    @property
    def code_int(self) -> int:
        return self.code.value[0]

    def __str__(self):
        return f"{self.code.name}: {self.message}"


class PayloadTooLarge(ServingError):
    """A REST body over the size limit: RESOURCE_EXHAUSTED, answered with HTTP 413."""

    def __init__(self, message: str):
        super().__init__(grpc.StatusCode.RESOURCE_EXHAUSTED, message)

    @property
    def http_status(self) -> int:
        return 413


def invalid_argument(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def code_from_int(value: int) -> grpc.StatusCode:
    return _BY_INT.get(value, grpc.StatusCode.UNKNOWN)


def from_exception(exc: BaseException) -> ServingError:
    """Map a TensorFlow/Python exception to a ServingError keeping TF's canonical code when it has one."""
    if isinstance(exc, ServingError):
        return exc
    error_code = getattr(exc, "error_code", None)  # tf.errors.OpError
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(error_code, int):
        return ServingError(code_from_int(error_code), message)
    if isinstance(exc, FileNotFoundError) or (isinstance(exc, OSError) and "does not exist" in message):
        return ServingError(grpc.StatusCode.NOT_FOUND, message)
    if isinstance(exc, OSError) and "Cannot parse" in message:
        return ServingError(grpc.StatusCode.DATA_LOSS, message)
    if isinstance(exc, (ValueError, TypeError)):
        return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)
    return ServingError(grpc.StatusCode.UNKNOWN, f"{type(exc).__name__}: {message}")
