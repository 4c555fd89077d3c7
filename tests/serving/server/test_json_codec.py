"""TF Serving's JSON: decoding shapes, dtypes and b64; row and columnar encoding; float text."""
import numpy as np
import pytest

from serving.server import errors, json_codec


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
