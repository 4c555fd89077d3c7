"""gRPC status -> HTTP code, as TF Serving maps them."""
import grpc

from serving.server import errors


def test_http_codes_follow_tf_serving():
    assert errors.invalid_argument("x").http_status == 400
    assert errors.not_found("x").http_status == 404
    assert errors.ServingError(grpc.StatusCode.UNAVAILABLE, "x").http_status == 503
    assert errors.PayloadTooLarge("x").http_status == 413
