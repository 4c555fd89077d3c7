"""Text-proto configs of tensorflow_model_server that tensorflow-serving-api does not ship.

MonitoringConfig (tensorflow_serving/config/monitoring_config.proto) and BatchingParameters
(tensorflow_serving/servables/tensorflow/session_bundle_config.proto) are rebuilt here from their
field definitions so the same text files parse for the local server and the real binary.
"""
import functools
import os

from google.protobuf import descriptor_pb2, descriptor_pool, text_format, wrappers_pb2
from google.protobuf import message_factory

_F = descriptor_pb2.FieldDescriptorProto


def _field(name, number, ftype, type_name=None, repeated=False):
    f = _F(name=name, number=number, type=ftype,
           label=_F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL)
    if type_name:
        f.type_name = type_name
    return f


@functools.lru_cache(maxsize=None)
def _classes():
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    fd = descriptor_pb2.FileDescriptorProto(
        name="serving_local/config.proto", package="tensorflow.serving",
        dependency=["google/protobuf/wrappers.proto"], syntax="proto3")
    prom = fd.message_type.add(name="PrometheusConfig")
    prom.field.extend([_field("enable", 1, _F.TYPE_BOOL), _field("path", 2, _F.TYPE_STRING)])
    mon = fd.message_type.add(name="MonitoringConfig")
    mon.field.extend([_field("prometheus_config", 1, _F.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")])
    bp = fd.message_type.add(name="BatchingParameters")
    i64 = ".google.protobuf.Int64Value"
    bp.field.extend([
        _field("max_batch_size", 1, _F.TYPE_MESSAGE, i64),
        _field("batch_timeout_micros", 2, _F.TYPE_MESSAGE, i64),
        _field("max_enqueued_batches", 3, _F.TYPE_MESSAGE, i64),
        _field("num_batch_threads", 4, _F.TYPE_MESSAGE, i64),
        _field("thread_pool_name", 5, _F.TYPE_MESSAGE, ".google.protobuf.StringValue"),
        _field("allowed_batch_sizes", 6, _F.TYPE_INT64, repeated=True),
        _field("pad_variable_length_inputs", 7, _F.TYPE_BOOL),
        _field("enable_large_batch_splitting", 8, _F.TYPE_MESSAGE, ".google.protobuf.BoolValue"),
        _field("max_execution_batch_size", 9, _F.TYPE_MESSAGE, i64),
    ])
    pool.Add(fd)
    get = lambda n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{n}"))
    return get("MonitoringConfig"), get("BatchingParameters")


def parse_text_file(path: str, message_class):
    """Parse a text proto file; errors name the file (like the binary's 'Invalid protobuf file')."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        return text_format.Parse(text, message_class())
    except text_format.ParseError as exc:
        raise ValueError(f"Invalid protobuf file: '{path}': {exc}") from exc


def monitoring_config(path: str):
    return parse_text_file(path, _classes()[0])


def batching_parameters(path: str):
    return parse_text_file(path, _classes()[1])


def model_server_config(path: str):
    from tensorflow_serving.config import model_server_config_pb2
    return parse_text_file(path, model_server_config_pb2.ModelServerConfig)


def serving_config(model_name: str, base_path: str, versions, labels=None):
    """A ModelServerConfig loading `versions` of one model (a `specific` policy), with {label: version}."""
    from tensorflow_serving.config import model_server_config_pb2
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add(name=model_name, base_path=os.path.abspath(base_path),
                                                model_platform="tensorflow")
    model.model_version_policy.specific.versions.extend(int(v) for v in versions)
    for label, version in (labels or {}).items():
        model.version_labels[label] = int(version)
    return config


def write_model_config(path: str, config) -> None:
    """Write atomically (a polling server never reads half a file)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text_format.MessageToString(config))
    os.replace(tmp, path)
