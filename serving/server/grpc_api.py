"""gRPC PredictionService and ModelService on top of ServerCore (official tensorflow-serving-api stubs)."""
import logging
import time

import grpc
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_management_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc, regression_pb2)

from serving.server import errors
from serving.server.servable import ndarray_to_tensor_proto, tensor_proto_to_ndarray

log = logging.getLogger("serving.server.model_server")


def spec_target(model_spec):
    """(name, version or None, label or None) of a ModelSpec."""
    choice = model_spec.WhichOneof("version_choice")
    version = model_spec.version.value if choice == "version" else None
    label = model_spec.version_label if choice == "version_label" else None
    return model_spec.name, version, label


def fill_model_spec(spec, servable, signature_name: str) -> None:
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_name


def run_predict(core, request, metrics=None):
    name, version, label = spec_target(request.model_spec)
    servable = core.servable(name, version, label)
    inputs = {alias: tensor_proto_to_ndarray(alias, proto) for alias, proto in request.inputs.items()}
    key, outputs = servable.predict(request.model_spec.signature_name, inputs, list(request.output_filter))
    response = predict_pb2.PredictResponse()
    fill_model_spec(response.model_spec, servable, key)
    for alias, array in outputs.items():
        response.outputs[alias].CopyFrom(ndarray_to_tensor_proto(array))
    return response


def run_classify(core, request):
    servable = core.servable(*spec_target(request.model_spec))
    key, result = servable.classify(request.model_spec.signature_name, request.input)
    response = classification_pb2.ClassificationResponse(result=result)
    fill_model_spec(response.model_spec, servable, key)
    return response


def run_regress(core, request):
    servable = core.servable(*spec_target(request.model_spec))
    key, result = servable.regress(request.model_spec.signature_name, request.input)
    response = regression_pb2.RegressionResponse(result=result)
    fill_model_spec(response.model_spec, servable, key)
    return response


def run_metadata(core, request):
    if not request.metadata_field:
        raise errors.invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
    for field in request.metadata_field:
        if field != "signature_def":
            raise errors.invalid_argument(f"Metadata field {field} is not supported")
    servable = core.servable(*spec_target(request.model_spec))
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    fill_model_spec(response.model_spec, servable, "")
    response.metadata["signature_def"].Pack(servable.signature_def_map())
    return response


def run_model_status(core, request):
    name, version, _ = spec_target(request.model_spec)
    if not name:
        raise errors.invalid_argument("Missing ModelSpec")
    response = get_model_status_pb2.GetModelStatusResponse()
    for vs in core.version_states(name, version):
        status = response.model_version_status.add()
        status.version = vs.version
        status.state = get_model_status_pb2.ModelVersionStatus.State.Value(vs.state)
        status.status.error_code = vs.error_code.value[0]
        status.status.error_message = vs.error_message
    return response


_LOGGED = {"Predict": "predict", "Classify": "classify", "Regress": "regress"}


def _serve(core, method_name, fn, request, context, metrics=None):
    """Run fn(core, request); a ServingError (or any failure) becomes the gRPC status, never a crash.
    A Predict/Classify/Regress that succeeded goes to the request logger (a sample, never waiting)."""
    with core.request_logger.serving:  # request logs are written in the gaps between requests
        return _serve_call(core, method_name, fn, request, context, metrics)


def _serve_call(core, method_name, fn, request, context, metrics):
    started = time.perf_counter()
    try:
        response = fn(core, request)
        if method_name in _LOGGED:
            core.request_logger.log(_LOGGED[method_name], request, response)
        if metrics is not None:
            metrics.observe(getattr(request, "model_spec", None), method_name, "OK", started)
        return response
    except errors.ServingError as err:
        failure = err
    except Exception as exc:  # never let a request kill the server
        log.exception("%s failed", method_name)
        failure = errors.from_exception(exc)
    if metrics is not None:
        metrics.observe(getattr(request, "model_spec", None), method_name, failure.code.name, started)
    context.abort(failure.code, failure.message)


def _multi_inference(core, request):
    raise errors.ServingError(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, core, metrics=None):
        self.core = core
        self.metrics = metrics

    def Predict(self, request, context):
        return _serve(self.core, "Predict", run_predict, request, context, self.metrics)

    def Classify(self, request, context):
        return _serve(self.core, "Classify", run_classify, request, context, self.metrics)

    def Regress(self, request, context):
        return _serve(self.core, "Regress", run_regress, request, context, self.metrics)

    def GetModelMetadata(self, request, context):
        return _serve(self.core, "GetModelMetadata", run_metadata, request, context, self.metrics)

    def MultiInference(self, request, context):
        return _serve(self.core, "MultiInference", _multi_inference, request, context, self.metrics)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, core):
        self.core = core

    def GetModelStatus(self, request, context):
        return _serve(self.core, "GetModelStatus", run_model_status, request, context)

    def HandleReloadConfigRequest(self, request, context):
        def reload(core, request):
            # model_service_impl.cc: only a model_config_list is accepted here (an empty config
            # would otherwise be "no action" and a custom one a transition error).
            if request.config.WhichOneof("config") != "model_config_list":
                raise errors.invalid_argument(
                    "ServerModelConfig type not supported by HandleReloadConfigRequest. Only"
                    " ModelConfigList is currently supported")
            core.reload_config(request.config)
            return model_management_pb2.ReloadConfigResponse()  # status.error_code 0 = OK
        return _serve(self.core, "HandleReloadConfigRequest", reload, request, context)


def add_to_server(server, core, metrics=None) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(core, metrics), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), server)
