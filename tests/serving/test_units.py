"""In-process tests of the server's pure parts: version policy, JSON codec, flags, configs, client helpers."""
import os

import grpc
import numpy as np
import pytest

from data.contract import MODEL_NAME
from serving import client as serving_client
from serving import errors, json_codec, model_server, protos
from serving.server_core import ServerCore, aspired_versions

DEPLOY = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "serving", "deploy")


def _policy(text):
    from google.protobuf import text_format
    from tensorflow_serving.config import file_system_storage_path_source_pb2 as fs
    return text_format.Parse(text, fs.FileSystemStoragePathSourceConfig.ServableVersionPolicy())


@pytest.mark.parametrize("text,expected", [
    ("", {9}),
    ("latest { num_versions: 2 }", {5, 9}),
    ("all {}", {1, 5, 9}),
    ("specific { versions: 1 versions: 7 }", {1}),
])
def test_version_policies(text, expected):
    assert aspired_versions(_policy(text) if text else None, [1, 5, 9]) == expected
    assert aspired_versions(_policy(text) if text else None, []) == set()


@pytest.mark.parametrize("value,text", [
    (0.1, "0.1"), (3.0, "3.0"), (0.51749283, "0.517492831"), (1e7, "1e+07"), (-2.5, "-2.5"),
    (float("nan"), "NaN"), (float("-inf"), "-Infinity"),
])
def test_floats_are_written_like_tf_serving(value, text):
    assert json_codec.write_decimal(np.float32(value)) == text


def _signature(**inputs):
    from tensorflow.core.protobuf import meta_graph_pb2
    sig = meta_graph_pb2.SignatureDef(method_name="tensorflow/serving/predict")
    for name, (dtype, dims) in inputs.items():
        info = sig.inputs[name]
        info.dtype = dtype
        for d in dims:
            info.tensor_shape.dim.add().size = d
    return sig


def test_json_decoding_shapes_dtypes_and_b64():
    from tensorflow.core.framework import types_pb2
    sig = _signature(x=(types_pb2.DT_FLOAT, [-1, 2]), s=(types_pb2.DT_STRING, [-1]))
    inputs, fmt = json_codec.decode_predict({"instances": [{"x": [1, 2.5], "s": {"b64": "AAE="}},
                                                           {"x": [3, 4], "s": "ok"}]}, sig)
    assert fmt == "row"
    np.testing.assert_array_equal(inputs["x"], np.array([[1, 2.5], [3, 4]], np.float32))
    assert list(inputs["s"]) == [b"\x00\x01", b"ok"]
    with pytest.raises(errors.ServingError, match="Expecting tensor size: 2 but got: 3"):
        json_codec.decode_predict({"instances": [{"x": [1, 2], "s": "a"}, {"x": [1, 2, 3], "s": "b"}]}, sig)
    with pytest.raises(errors.ServingError, match="Encountered list at unexpected size"):
        json_codec.decode_predict({"inputs": {"x": [[1, 2], [3]], "s": ["a", "b"]}}, sig)
    with pytest.raises(errors.ServingError, match="instances is a plain list"):
        json_codec.decode_predict({"instances": [1.0]}, sig)
    # json_tensor.cc AddValueToTensor: any JSON number becomes a float (GetFloat(): overflow -> inf)
    inputs, _ = json_codec.decode_predict({"inputs": {"x": [[1e39, 16777217]], "s": ["a"]}}, sig)
    assert inputs["x"].dtype == np.float32 and inputs["x"].tolist() == [[float("inf"), 16777216.0]]
    with pytest.raises(errors.ServingError, match="Unable to base64 decode"):
        json_codec.decode_predict({"inputs": {"x": [[1, 0]], "s": [{"b64": "!!"}]}}, sig)


def test_json_encoding_row_and_columnar():
    outputs = {"p": np.array([0.25, 1.0], np.float32), "id_bytes": np.array([b"\x00", b"a"], dtype=object)}
    assert json_codec.encode_predict(outputs, "row") == (
        '{"predictions": [{"id_bytes": {"b64": "AA=="}, "p": 0.25}, {"id_bytes": {"b64": "YQ=="}, "p": 1.0}]}')
    assert json_codec.encode_predict({"p": outputs["p"]}, "columnar") == '{"outputs": [0.25, 1.0]}'
    with pytest.raises(errors.ServingError, match="inconsistent batch size"):
        json_codec.encode_predict({"a": np.zeros(2), "b": np.zeros(3)}, "row")


def test_examples_json_types():
    doc = {"context": {"c": "x"}, "examples": [{"i": 3, "f": [1.5, 2.0], "b": {"b64": "YQ=="}}]}
    request_input = json_codec.decode_examples(doc)
    example = request_input.example_list_with_context.examples[0]
    assert list(example.features.feature["i"].int64_list.value) == [3]
    assert list(example.features.feature["f"].float_list.value) == [1.5, 2.0]
    assert list(example.features.feature["b"].bytes_list.value) == [b"a"]
    with pytest.raises(errors.ServingError, match="Unexpected element type in feature: f"):
        json_codec.decode_examples({"examples": [{"f": [1.5, "x"]}]})


def test_http_codes_follow_tf_serving():
    assert errors.invalid_argument("x").http_status == 400
    assert errors.not_found("x").http_status == 404
    assert errors.ServingError(grpc.StatusCode.UNAVAILABLE, "x").http_status == 503
    assert errors.PayloadTooLarge("x").http_status == 413


def test_flags_parse_like_the_binary():
    args = model_server.build_parser().parse_args([
        "--port=9000", "--rest_api_port", "9001", "--model_name=m", "--model_base_path=/p",
        "--enable_batching", "--enable_model_warmup=false", "--file_system_poll_wait_seconds=0"])
    assert (args.port, args.rest_api_port, args.model_name, args.model_base_path) == (9000, 9001, "m", "/p")
    assert args.enable_batching is True and args.enable_model_warmup is False
    assert args.bind_address == "127.0.0.1"
    with pytest.raises(SystemExit):
        model_server.build_parser().parse_args(["--no_such_flag=1"])
    assert model_server.parse_grpc_channel_arguments("grpc.max_receive_message_length=10,a=b") == [
        ("grpc.max_receive_message_length", 10), ("a", "b")]
    config = model_server.build_config(model_server.build_parser().parse_args(
        ["--model_name=m", "--model_base_path=/models/m"]))
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [("m", "/models/m")]


def test_deploy_configs_parse(tmp_path):
    config = protos.model_server_config(os.path.join(DEPLOY, "models.config"))
    model = config.model_config_list.config[0]
    assert model.name == MODEL_NAME and set(model.version_labels) == {"stable", "canary"}
    assert set(model.version_labels.values()) <= set(model.model_version_policy.specific.versions)
    assert protos.monitoring_config(os.path.join(DEPLOY, "monitoring.config")).prometheus_config.enable
    assert protos.batching_parameters(os.path.join(DEPLOY, "batching_parameters.txt")).max_batch_size.value == 64
    bad = tmp_path / "bad.config"
    bad.write_text("model_config_list { config { nme: 'x' } }")
    with pytest.raises(ValueError, match="bad.config"):
        protos.model_server_config(str(bad))


def test_promote_rollback_edit_labels():
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2
    config = text_format.Parse("""model_config_list { config { name: "f" base_path: "/nowhere"
        model_version_policy { specific { versions: 1 versions: 2 versions: 3 } }
        version_labels { key: "stable" value: 2 } version_labels { key: "canary" value: 3 } } }""",
                               model_server_config_pb2.ModelServerConfig())
    assert serving_client.promote(config, "f") == (2, 3)
    assert serving_client.rollback(config, "f") == (3, 2)
    assert serving_client.rollback(config, "f") == (2, 1)
    with pytest.raises(ValueError, match="no version older than stable=1"):
        serving_client.rollback(config, "f")
    serving_client.set_label(config, "f", "canary", 4)
    assert list(config.model_config_list.config[0].model_version_policy.specific.versions) == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="'g' is not in the model config"):
        serving_client.promote(config, "g")


def test_client_rows_name_bad_values():
    from serving.contract_model import example_row
    row = {k: str(v) for k, v in example_row(3).items()}
    assert serving_client.normalize_row(row)["distance"] == example_row(3)["distance"]
    with pytest.raises(ValueError, match="feature 'month': value 'May' is not a valid int64"):
        serving_client.normalize_row(dict(row, month="May"))
    with pytest.raises(ValueError, match="CSV line 2: .*missing feature"):
        serving_client.rows_from_csv("carrier,month\nUA,1\n")


def test_server_core_keeps_serving_through_bad_versions(library, tmp_path):
    """ServerCore in-process on real SavedModels: availability-preserving load/unload."""
    base = str(tmp_path / "m")
    library.push(library.contract[1], base, 1)
    core = ServerCore(max_num_load_retries=0, enable_model_warmup=True)
    from tensorflow_serving.config import model_server_config_pb2
    cfg = model_server_config_pb2.ModelServerConfig()
    model = cfg.model_config_list.config.add(name="m", base_path=base, model_platform="tensorflow")
    core.reload_config(cfg)
    assert core.servable("m").version == 1
    os.makedirs(os.path.join(base, "2"))  # empty version dir: load fails
    core.poll_once()
    states = {s.version: (s.state, s.error_code) for s in core.version_states("m")}
    assert states[1] == ("AVAILABLE", grpc.StatusCode.OK)
    assert states[2][0] == "END" and states[2][1] != grpc.StatusCode.OK
    held = core.servable("m")
    library.push(library.contract[2], base, 3)
    core.poll_once()
    assert core.servable("m").version == 3
    assert {s.version: s.state for s in core.version_states("m")} == {1: "END", 2: "END", 3: "AVAILABLE"}
    assert held.version == 1 and held.predict  # an in-flight reference survives the unload
    with pytest.raises(errors.ServingError, match=r"Specific\(m, 1\)"):
        core.servable("m", version=1)
    model.model_version_policy.all.SetInParent()  # 'all' reloads the unloaded v1, not the broken v2
    model.version_labels["old"] = 1
    with pytest.raises(errors.ServingError, match="version 1 of model m, which is not currently available"):
        core.reload_config(cfg)  # labels are checked against the versions AVAILABLE before the reload
    del model.version_labels["old"]
    core.reload_config(cfg)
    model.version_labels["old"] = 1
    core.reload_config(cfg)
    assert core.servable("m", label="old").version == 1 and core.servable("m").version == 3
    model.version_labels["old"] = 2
    with pytest.raises(errors.ServingError, match="version 2 of model m, which is not currently available"):
        core.reload_config(cfg)
    assert core.servable("m", label="old").version == 1
