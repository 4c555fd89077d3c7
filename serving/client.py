"""Clients for TF Serving's REST and gRPC APIs (real binary or serving.server.model_server alike).

    rest = RestClient("http://127.0.0.1:8501", "flight_delay")
    rest.predict(instances=[row, ...])                  # -> {"predictions": [...]}
    grpc_client = GrpcClient("127.0.0.1:8500", "flight_delay")
    grpc_client.predict(columns_from_rows([row, ...]))  # -> {"late_probability": ndarray}

Plus the contract helpers (CSV/JSON rows -> typed feature columns / tf.Examples). Editing version
labels in a models.config is delivery work: serving/delivery/labels.py.
"""
import csv
import io
import json
import os

from data import contract

DEFAULT_GRPC_TIMEOUT = 30.0


class ServingClientError(Exception):
    """A non-OK answer: `code` is the HTTP status (REST) or grpc.StatusCode name (gRPC)."""

    def __init__(self, code, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# ---- feature rows ------------------------------------------------------------------------------
tf_dtype = contract.tf_dtype


def coerce_value(feature: str, value):
    """A CSV/JSON value as the contract dtype of `feature`; errors name the feature and value."""
    kind = contract.tf_dtype_name(feature)
    try:
        if kind == "string":
            return str(value)
        if kind == "int64":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(float(value)) if isinstance(value, str) and "." in value else int(value)
        if value is None or value == "":
            return float("nan")  # missing weather
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"feature {feature!r}: value {value!r} is not a valid {kind}") from None


def normalize_row(row: dict) -> dict:
    """Keep the model's features (drop the label/extra columns), typed per the contract; the float features
    (weather, operations) may be absent and are sent as missing."""
    missing = [k for k in contract.FEATURE_KEYS if k not in row and k not in contract.FLOAT_FEATURES]
    if missing:
        raise ValueError(f"row is missing feature(s) {missing}; got columns {sorted(row)}")
    return {k: coerce_value(k, row.get(k)) for k in contract.FEATURE_KEYS}  # an absent float: missing (NaN)


def rows_from_csv(text: str, limit: int = None) -> list:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for line_no, row in enumerate(reader, start=2):
        try:
            rows.append(normalize_row(row))
        except ValueError as exc:
            raise ValueError(f"CSV line {line_no}: {exc}") from None
        if limit and len(rows) >= limit:
            break
    return rows


def rows_from_json(text: str) -> list:
    """A JSON object, a list of objects, or {"instances": [...]}."""
    doc = json.loads(text)
    if isinstance(doc, dict) and "instances" in doc:
        doc = doc["instances"]
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ValueError("JSON input must be an object, a list of objects or {\"instances\": [...]}")
    return [normalize_row(r) for r in doc]


def columns_from_rows(rows: list) -> dict:
    """{feature: list of values} (the columnar / gRPC layout)."""
    return {k: [r[k] for r in rows] for k in contract.FEATURE_KEYS}


example_from_row = contract.example_from_row


# ---- REST --------------------------------------------------------------------------------------
class RestClient:
    """`base_url`: http(s)://host:port, or host:port (http)."""

    def __init__(self, base_url: str, model_name: str, timeout: float = 30.0):
        import requests
        self.base_url = (base_url if "://" in base_url else f"http://{base_url}").rstrip("/")
        self.model_name = model_name
        self.timeout = timeout
        self.session = requests.Session()

    def _url(self, version=None, label=None, suffix="") -> str:
        url = f"{self.base_url}/v1/models/{self.model_name}"
        if version is not None:
            url += f"/versions/{version}"
        elif label:
            url += f"/labels/{label}"
        return url + suffix

    def _answer(self, response) -> dict:
        try:
            body = response.json()
        except ValueError:
            body = {"error": response.text}
        if response.status_code != 200:
            raise ServingClientError(response.status_code, body.get("error", response.text))
        return body

    def _send(self, method: str, url: str, **kwargs) -> dict:
        import requests
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError:
            raise ServingClientError("UNAVAILABLE", f"no server answers at {self.base_url}") from None
        except requests.RequestException as exc:
            raise ServingClientError(type(exc).__name__, f"{url}: {exc}") from None
        return self._answer(response)

    def status(self, version=None, label=None) -> dict:
        return self._send("GET", self._url(version, label))

    def metadata(self, version=None, label=None) -> dict:
        return self._send("GET", self._url(version, label, "/metadata"))

    def post(self, verb: str, body, version=None, label=None) -> dict:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self._send("POST", self._url(version, label, f":{verb}"), data=data)

    def predict(self, instances=None, inputs=None, signature_name=None, version=None, label=None) -> dict:
        body = {}
        if signature_name:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = instances
        if inputs is not None:
            body["inputs"] = inputs
        return self.post("predict", body, version, label)

    def classify(self, examples, context=None, signature_name=None, version=None, label=None) -> dict:
        body = {"examples": examples}
        if context is not None:
            body["context"] = context
        if signature_name:
            body["signature_name"] = signature_name
        return self.post("classify", body, version, label)

    def regress(self, examples, context=None, signature_name=None, version=None, label=None) -> dict:
        body = {"examples": examples}
        if context is not None:
            body["context"] = context
        if signature_name:
            body["signature_name"] = signature_name
        return self.post("regress", body, version, label)

    def close(self):
        self.session.close()


# ---- gRPC --------------------------------------------------------------------------------------
def fill_spec(spec, model_name: str, version=None, label=None, signature_name=None) -> None:
    """A ModelSpec: the model, a version or a label (neither: the latest), a signature."""
    spec.name = model_name
    if version is not None:
        spec.version.value = int(version)
    elif label:
        spec.version_label = label
    if signature_name:
        spec.signature_name = signature_name


def predict_request(model_name: str, inputs: dict, signature_name=None, version=None, label=None):
    """PredictRequest from {alias: list/ndarray/TensorProto}; contract features get contract dtypes."""
    import tensorflow as tf
    from tensorflow.core.framework import tensor_pb2
    from tensorflow_serving.apis import predict_pb2
    request = predict_pb2.PredictRequest()
    fill_spec(request.model_spec, model_name, version, label, signature_name)
    for alias, value in inputs.items():
        if isinstance(value, tensor_pb2.TensorProto):
            request.inputs[alias].CopyFrom(value)
            continue
        dtype = tf_dtype(alias) if alias in contract.FEATURE_KEYS else None
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
    return request


class GrpcClient:
    def __init__(self, target: str, model_name: str, timeout: float = DEFAULT_GRPC_TIMEOUT,
                 max_message_bytes: int = 2**31 - 1):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
        self.model_name = model_name
        self.timeout = timeout
        self.channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes)])
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self.channel)

    def _spec(self, spec, version=None, label=None, signature_name=None):
        fill_spec(spec, self.model_name, version, label, signature_name)

    def _call(self, method, request):
        import grpc
        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise ServingClientError(err.code().name, err.details()) from None

    def status(self, version=None):
        from tensorflow_serving.apis import get_model_status_pb2
        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, version)
        return self._call(self.models.GetModelStatus, request)

    def metadata(self, version=None, label=None):
        from tensorflow_serving.apis import get_model_metadata_pb2
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, version, label)
        return self._call(self.prediction.GetModelMetadata, request)

    def predict_request(self, inputs: dict, signature_name=None, version=None, label=None):
        return predict_request(self.model_name, inputs, signature_name, version, label)

    def predict(self, inputs: dict, signature_name=None, version=None, label=None, raw=False):
        """{output alias: ndarray} (or the PredictResponse with raw=True)."""
        import tensorflow as tf
        response = self._call(self.prediction.Predict,
                              self.predict_request(inputs, signature_name, version, label))
        if raw:
            return response
        return {k: tf.make_ndarray(v) for k, v in response.outputs.items()}

    def predict_examples(self, rows: list, version=None, label=None, raw=False):
        """Predict on `serving_tf_example` with rows serialized as tf.Examples."""
        import numpy as np
        serialized = np.array([example_from_row(r).SerializeToString() for r in rows], dtype=object)
        return self.predict({contract.EXAMPLES_INPUT: serialized}, contract.EXAMPLES_SIGNATURE,
                            version, label, raw)

    def _input(self, examples, context=None):
        from tensorflow_serving.apis import input_pb2
        request_input = input_pb2.Input()
        if context is not None:
            request_input.example_list_with_context.context.CopyFrom(context)
            request_input.example_list_with_context.examples.extend(examples)
        else:
            request_input.example_list.examples.extend(examples)
        return request_input

    def classify(self, examples, context=None, signature_name=None, version=None, label=None):
        from tensorflow_serving.apis import classification_pb2
        request = classification_pb2.ClassificationRequest(input=self._input(examples, context))
        self._spec(request.model_spec, version, label, signature_name)
        return self._call(self.prediction.Classify, request)

    def regress(self, examples, context=None, signature_name=None, version=None, label=None):
        from tensorflow_serving.apis import regression_pb2
        request = regression_pb2.RegressionRequest(input=self._input(examples, context))
        self._spec(request.model_spec, version, label, signature_name)
        return self._call(self.prediction.Regress, request)

    def reload_config(self, config):
        from tensorflow_serving.apis import model_management_pb2
        request = model_management_pb2.ReloadConfigRequest(config=config)
        return self._call(self.models.HandleReloadConfigRequest, request)

    def close(self):
        self.channel.close()


# ---- a live server's version states -------------------------------------------------------------
def version_states(target: str, model_name: str) -> dict:
    """{version: state name (AVAILABLE, LOADING...)} from a live server's GetModelStatus (gRPC)."""
    from tensorflow_serving.apis import get_model_status_pb2
    statuses = GrpcClient(target, model_name).status().model_version_status
    return {s.version: get_model_status_pb2.ModelVersionStatus.State.Name(s.state) for s in statuses}
