"""TF Serving API conformance: the same tests run against the real binary (when on PATH) or ours."""
import base64
import json
import math
import os

import grpc
import numpy as np
import pytest
import requests

from data import contract
from serving.tools import contract_model
from serving.client import tf_dtype
from tests.serving.conftest import MAX_BYTES, serve_flight_and_tf1

ROWS = [contract_model.example_row(i) for i in range(5)]


@pytest.fixture(scope="module")
def server(library, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("api_server"))
    monitoring = os.path.join(root, "monitoring.config")
    with open(monitoring, "w") as handle:
        handle.write('prometheus_config { enable: true path: "/monitoring/prometheus/metrics" }\n')
    proc = serve_flight_and_tf1(library, root, [
        f"--monitoring_config_file={monitoring}",
        "--max_num_load_retries=0", "--file_system_poll_wait_seconds=1",
        f"--grpc_channel_arguments=grpc.max_receive_message_length={MAX_BYTES}",
    ], local_flags=[f"--rest_api_max_request_bytes={MAX_BYTES}"])
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def stubs(server):
    from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
    channel = grpc.insecure_channel(server.grpc_target, options=[("grpc.max_send_message_length", 64 << 20)])
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def rest(server, method, path, body=None):
    data = body if body is None or isinstance(body, (bytes, str)) else json.dumps(body)
    response = requests.request(method, server.rest_url + path, data=data, timeout=60)
    return response.status_code, response.json()


def predict_request(model="flight", rows=ROWS, signature="", version=None, label=None):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label:
        request.model_spec.version_label = label
    for k in contract.FEATURE_KEYS:
        request.inputs[k].CopyFrom(tf.make_tensor_proto([r[k] for r in rows],
                                                        dtype=tf_dtype(k)))
    return request


# ---- status / metadata -------------------------------------------------------------------------
def test_rest_model_status(server):
    code, body = rest(server, "GET", "/v1/models/flight")
    assert code == 200
    assert body == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    code, body = rest(server, "GET", "/v1/models/flight/versions/1")
    assert code == 200 and body["model_version_status"][0]["version"] == "1"


def test_grpc_model_status(stubs):
    from tensorflow_serving.apis import get_model_status_pb2
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "tf1"
    response = stubs[1].GetModelStatus(request, timeout=10)
    assert [(s.version, s.state, s.status.error_code) for s in response.model_version_status] == [
        (7, get_model_status_pb2.ModelVersionStatus.AVAILABLE, 0)]


def test_rest_metadata_follows_model_contract(server):
    code, body = rest(server, "GET", "/v1/models/flight/metadata")
    assert code == 200
    assert body["model_spec"] == {"name": "flight", "version": "1", "signature_name": ""}
    sigs = body["metadata"]["signature_def"]["signature_def"]
    raw = sigs[contract.SERVING_SIGNATURE]
    assert sorted(raw["inputs"]) == sorted(contract.FEATURE_KEYS)
    for k in contract.FEATURE_KEYS:
        assert raw["inputs"][k]["dtype"] == {"string": "DT_STRING", "int64": "DT_INT64",
                                             "float32": "DT_FLOAT"}[contract.tf_dtype_name(k)]
        assert raw["inputs"][k]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert raw["outputs"][contract.PREDICTION_KEY]["dtype"] == "DT_FLOAT"
    assert raw["method_name"] == "tensorflow/serving/predict"
    assert list(sigs[contract.EXAMPLES_SIGNATURE]["inputs"]) == [contract.EXAMPLES_INPUT]


def test_grpc_metadata(stubs):
    from tensorflow_serving.apis import get_model_metadata_pb2
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "tf1"
    response = stubs[0].GetModelMetadata(request, timeout=10)
    assert response.model_spec.version.value == 7
    sig_map = get_model_metadata_pb2.SignatureDefMap()
    assert response.metadata["signature_def"].Unpack(sig_map)
    assert sig_map.signature_def["classify_x"].method_name == "tensorflow/serving/classify"
    assert sig_map.signature_def["regress_x"].method_name == "tensorflow/serving/regress"


# ---- predict -----------------------------------------------------------------------------------
def test_predict_row_columnar_grpc_and_examples_agree_with_in_process(server, stubs, library):
    import tensorflow as tf
    expected = library.expected(1, ROWS)
    assert len(set(round(p, 4) for p in expected)) > 1  # rows give different answers

    code, body = rest(server, "POST", "/v1/models/flight:predict", {"instances": ROWS})
    assert code == 200
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-6)

    columns = {k: [r[k] for r in ROWS] for k in contract.FEATURE_KEYS}
    code, body = rest(server, "POST", "/v1/models/flight/versions/1:predict",
                      {"signature_name": "serving_default", "inputs": columns})
    assert code == 200
    np.testing.assert_allclose(body["outputs"], expected, rtol=1e-6)

    response = stubs[0].Predict(predict_request(), timeout=30)
    assert response.model_spec.name == "flight" and response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    np.testing.assert_allclose(tf.make_ndarray(response.outputs[contract.PREDICTION_KEY]), expected, rtol=1e-6)

    serialized = [contract.example_from_row(r).SerializeToString() for r in ROWS]
    code, body = rest(server, "POST", "/v1/models/flight:predict", {
        "signature_name": contract.EXAMPLES_SIGNATURE,
        "instances": [{"b64": base64.b64encode(s).decode()} for s in serialized]})
    assert code == 200
    np.testing.assert_allclose(body["predictions"], expected, rtol=1e-6)

    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "flight"
    request.model_spec.signature_name = contract.EXAMPLES_SIGNATURE
    request.inputs[contract.EXAMPLES_INPUT].CopyFrom(tf.make_tensor_proto(serialized))
    outputs = stubs[0].Predict(request, timeout=30).outputs
    np.testing.assert_allclose(tf.make_ndarray(outputs[contract.PREDICTION_KEY]), expected, rtol=1e-6)


def test_predict_multi_output_row_format_is_dict_per_instance(server):
    code, body = rest(server, "POST", "/v1/models/tf1:predict", {"instances": [[1.0], [-2.5]]})
    assert code == 200
    assert body == {"predictions": [{"sign": "pos", "y": [3.0]}, {"sign": "neg", "y": [-4.0]}]}
    code, body = rest(server, "POST", "/v1/models/tf1:predict", {"inputs": {"x": [[0.5]]}})
    assert code == 200 and body == {"outputs": {"sign": ["pos"], "y": [[2.0]]}}
    code, body = rest(server, "POST", "/v1/models/tf1:predict", {"inputs": [[0.5], [1.0]]})
    assert code == 200 and body["outputs"]["y"] == [[2.0], [3.0]]


# ---- classify / regress ------------------------------------------------------------------------
def test_rest_classify_and_regress(server):
    code, body = rest(server, "POST", "/v1/models/tf1:classify",
                      {"signature_name": "classify_x", "examples": [{"x": 0.0}, {"x": 2.0}]})
    assert code == 200
    (neg0, p_neg0), (pos0, p_pos0) = body["results"][0]
    assert (neg0, pos0) == ("neg", "pos") and p_neg0 == pytest.approx(0.5) and p_pos0 == pytest.approx(0.5)
    assert body["results"][1][1][1] == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-6)

    code, body = rest(server, "POST", "/v1/models/tf1/versions/7:regress",
                      {"signature_name": "regress_x", "context": {"x": 9.0}, "examples": [{"x": 1.5}, {}]})
    assert code == 200
    assert body == {"results": [4.0, 19.0]}  # example feature wins over context; context fills the rest


def test_grpc_classify_and_regress(stubs):
    import tensorflow as tf
    from tensorflow_serving.apis import classification_pb2, regression_pb2
    examples = [tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))})) for x in (-1.0, 3.0)]
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tf1"
    request.model_spec.signature_name = "classify_x"
    request.input.example_list.examples.extend(examples)
    result = stubs[0].Classify(request, timeout=30).result
    assert [[c.label for c in r.classes] for r in result.classifications] == [["neg", "pos"]] * 2
    assert result.classifications[1].classes[1].score == pytest.approx(1 / (1 + math.exp(-3.0)), rel=1e-6)

    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "tf1"
    request.model_spec.signature_name = "regress_x"
    request.input.example_list.examples.extend(examples)
    response = stubs[0].Regress(request, timeout=30)
    assert [r.value for r in response.result.regressions] == [-1.0, 7.0]
    assert response.model_spec.version.value == 7


def test_classify_on_predict_signature_is_rejected(server, stubs):
    from tensorflow_serving.apis import classification_pb2
    code, body = rest(server, "POST", "/v1/models/tf1:classify", {"examples": [{"x": 1.0}]})
    assert code == 400 and "classify" in body["error"]
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "tf1"
    request.input.example_list.examples.add()
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Classify(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# ---- malformed requests ------------------------------------------------------------------------
GOOD = {"instances": ROWS[:1]}


def _with(row_changes=None, drop=None):
    row = dict(ROWS[0], **(row_changes or {}))
    if drop:
        del row[drop]
    return {"instances": [row]}


MALFORMED = [
    ("bad json", "/v1/models/flight:predict", b'{"instances": [', 400, "JSON Parse error"),
    ("empty body", "/v1/models/flight:predict", b"", 400, "JSON Parse error"),
    ("not an object", "/v1/models/flight:predict", b"[1, 2]", 400, "Is not object"),
    ("no instances/inputs", "/v1/models/flight:predict", {"signature_name": ""}, 400,
     "Missing 'inputs' or 'instances' key"),
    ("both instances and inputs", "/v1/models/flight:predict", dict(GOOD, inputs={}), 400,
     "expecting only one of 'inputs' or 'instances'"),
    ("empty instances", "/v1/models/flight:predict", {"instances": []}, 400, "No values in 'instances'"),
    ("unknown feature", "/v1/models/flight:predict", _with({"tail_number": "N1"}), 400, "tail_number"),
    ("missing feature", "/v1/models/flight:predict", _with(drop="month"), 400, "must only have keys"),
    ("string for int64", "/v1/models/flight:predict", _with({"month": "May"}), 400,
     'JSON Value: "May" Type: String is not of expected type: int64'),
    ("number for string", "/v1/models/flight:predict", _with({"carrier": 7}), 400,
     "is not of expected type: string"),
    ("float for int64", "/v1/models/flight:predict", _with({"distance": 12.5}), 400,
     "is not of expected type: int64"),
    ("list for scalar", "/v1/models/flight:predict",
     {"instances": [ROWS[0], dict(ROWS[1], month=[1, 2])]}, 400, "month"),
    ("signature_name not a string", "/v1/models/flight:predict", dict(GOOD, signature_name=3), 400,
     "'signature_name' key must be a string value"),
    ("unknown signature", "/v1/models/flight:predict", dict(GOOD, signature_name="nope"), 400,
     'Serving signature key "nope" not found.'),
    ("unknown model", "/v1/models/nope:predict", GOOD, 404, "Servable not found for request: Latest(nope)"),
    ("unknown version", "/v1/models/flight/versions/42:predict", GOOD, 404,
     "Servable not found for request: Specific(flight, 42)"),
    ("unknown label", "/v1/models/flight/labels/gold:predict", GOOD, 400,
     "Unrecognized servable version label: gold"),
    ("unknown verb", "/v1/models/flight:explain", GOOD, 400, "Malformed request"),
    ("classify without examples", "/v1/models/tf1:classify", {"signature_name": "classify_x"}, 400,
     "'examples' is expected"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_rest_malformed_requests_get_tf_serving_errors(server, case):
    _, path, body, status, message = case
    response = requests.post(server.rest_url + path,
                             data=body if isinstance(body, bytes) else json.dumps(body), timeout=30)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert message in response.json()["error"]
    assert server.alive()


def test_rest_status_errors(server):
    assert rest(server, "GET", "/v1/models/nope") == (404, {"error": "Could not find any versions of model nope"})
    code, body = rest(server, "GET", "/v1/models/flight/versions/9")
    assert code == 404 and "Could not find version 9 of model flight" in body["error"]
    code, body = rest(server, "GET", "/v1/models/flight/labels/gold/metadata")
    assert code == 400 and body["error"] == "Unrecognized servable version label: gold"


GRPC_MALFORMED = [
    ("unknown model", dict(model="nope"), grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(nope)"),
    ("unknown version", dict(version=42), grpc.StatusCode.NOT_FOUND, "Specific(flight, 42)"),
    ("unknown label", dict(label="gold"), grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label"),
    # predict_util.cc: FAILED_PRECONDITION (REST maps it to 400, as INVALID_ARGUMENT)
    ("unknown signature", dict(signature="nope"), grpc.StatusCode.FAILED_PRECONDITION,
     'Serving signature key "nope" not found.'),
]


@pytest.mark.parametrize("case", GRPC_MALFORMED, ids=[c[0] for c in GRPC_MALFORMED])
def test_grpc_bad_model_spec(stubs, case):
    _, kwargs, code, message = case
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(predict_request(**kwargs), timeout=30)
    assert info.value.code() == code and message in info.value.details()


def test_grpc_wrong_inputs(stubs, server):
    import tensorflow as tf
    request = predict_request()
    request.inputs["month"].CopyFrom(tf.make_tensor_proto([1.0] * len(ROWS), dtype=tf.float32))
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "float" in info.value.details() and "int64" in info.value.details()

    request = predict_request()
    del request.inputs["carrier"]
    request.inputs["carrierz"].CopyFrom(tf.make_tensor_proto(["UA"] * len(ROWS)))
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "carrierz" in info.value.details()

    request = predict_request()
    del request.inputs["carrier"]
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "carrier" in info.value.details()
    assert server.alive()


def test_oversized_payloads_are_rejected_and_server_stays_up(server, stubs):
    import tensorflow as tf
    big_rows = [contract_model.example_row(i) for i in range(8)] * 1200  # ~3 MB JSON / ~1.3 MB proto
    request = predict_request(rows=big_rows)
    assert request.ByteSize() > MAX_BYTES
    with pytest.raises(grpc.RpcError) as info:
        stubs[0].Predict(request, timeout=60)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    if server.is_local:  # the real binary has no REST body limit
        body = json.dumps({"instances": big_rows})
        assert len(body) > MAX_BYTES
        response = requests.post(server.rest_url + "/v1/models/flight:predict", data=body, timeout=60)
        assert response.status_code == 413 and "exceeds the limit" in response.json()["error"]
    # still serving, both APIs
    response = stubs[0].Predict(predict_request(rows=ROWS[:2]), timeout=30)
    assert tf.make_ndarray(response.outputs[contract.PREDICTION_KEY]).shape == (2,)
    assert rest(server, "POST", "/v1/models/flight:predict", GOOD)[0] == 200


def test_prometheus_metrics_count_requests(server):
    rest(server, "POST", "/v1/models/flight:predict", GOOD)
    text = requests.get(server.rest_url + "/monitoring/prometheus/metrics", timeout=10).text
    counts = [line for line in text.splitlines()
              if line.startswith(":tensorflow:serving:request_count") and 'model_name="flight"' in line]
    assert counts and sum(float(line.rsplit(" ", 1)[1]) for line in counts) >= 1
    # The binary's names: no prometheus_client `_total` suffix on counters, no `_created` samples.
    assert "_total" not in text and "_created" not in text
