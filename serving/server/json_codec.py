"""TF Serving's REST JSON <-> tensors (tensorflow_serving/util/json_tensor.cc semantics and messages).

Predict: row format `instances` (answers `predictions`) or columnar `inputs` (answers `outputs`);
`{"b64": ...}` carries binary strings; float outputs are written the way TF Serving writes them
(shortest "%g" that round-trips, else 9 significant digits, always with a decimal point).
Classify/Regress: `examples` (+ optional `context`) of JSON objects become tf.Examples.
"""
import base64
import binascii
import json
import math

import numpy as np

from serving.server import errors

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MAX_MESSAGE_VALUE = 1000  # characters of a JSON value quoted in an error message


# ---- helpers ------------------------------------------------------------------------------------
def _type_name(val) -> str:
    if val is None:
        return "Null"
    if val is True:
        return "True"
    if val is False:
        return "False"
    if isinstance(val, dict):
        return "Object"
    if isinstance(val, list):
        return "Array"
    if isinstance(val, str):
        return "String"
    return "Number"


def write_decimal(value: float, float32: bool = True) -> str:
    """TF Serving's WriteDecimal: '%g' if it round-trips, else max_digits10; '.0' for whole numbers."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%g" % value
    back = float(text)
    if (np.float32(back) != np.float32(value)) if float32 else (back != value):
        text = "%.9g" % value if float32 else "%.17g" % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def value_to_string(val) -> str:
    """JsonValueToString for error messages."""
    if isinstance(val, float):
        text = write_decimal(val, float32=False)
    else:
        text = json.dumps(val, separators=(",", ":"), ensure_ascii=False)
    if len(text) > _MAX_MESSAGE_VALUE:
        text = text[:_MAX_MESSAGE_VALUE] + "...(truncated)"
    return text


def _format_error(doc, *parts) -> errors.ServingError:
    return errors.invalid_argument(f"JSON Value: {value_to_string(doc)} " + "".join(str(p) for p in parts))


def _is_b64(val) -> bool:
    return isinstance(val, dict) and len(val) == 1 and isinstance(val.get("b64"), str)


def _is_element_object(val) -> bool:
    return isinstance(val, dict) and not _is_b64(val)


def _b64decode(val) -> bytes:
    if not _is_b64(val):
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(val)} not formatted correctly for base64 data")
    try:
        return base64.b64decode(val["b64"], validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid_argument("Unable to base64 decode") from None


def parse_json(body: bytes):
    """ParseJson: the top level must be a JSON object."""
    if not body:
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.invalid_argument(f"JSON Parse error: Invalid encoding in string. at offset: {exc.start}") from None
    if not text.strip():
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise errors.invalid_argument(f"JSON Parse error: {exc.msg} at offset: {exc.pos}") from None
    except RecursionError:
        raise errors.invalid_argument("JSON Parse error: nesting too deep") from None
    if not isinstance(doc, dict):
        raise _format_error(doc, "Is not object")
    return doc


def signature_name_of(doc) -> str:
    name = doc.get("signature_name", "")
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {value_to_string(doc)} not formatted correctly. 'signature_name' key must be a"
            f" string value.")
    return name


# ---- JSON value -> numpy -------------------------------------------------------------------------
def _dense_shape(val) -> list:
    shape = []
    while isinstance(val, list):
        shape.append(len(val))
        if not val:
            break
        val = val[0]
    return shape


def _type_error(val, dtype_name: str) -> errors.ServingError:
    return errors.invalid_argument(
        f"JSON Value: {value_to_string(val)} Type: {_type_name(val)} is not of expected type: {dtype_name}")


_INT_BOUNDS = {"int64": (-(1 << 63), (1 << 63) - 1), "int32": (-(1 << 31), (1 << 31) - 1),
               "int16": (-(1 << 31), (1 << 31) - 1), "int8": (-(1 << 31), (1 << 31) - 1),
               "uint8": (-(1 << 31), (1 << 31) - 1), "uint16": (-(1 << 31), (1 << 31) - 1),
               "uint32": (0, (1 << 32) - 1), "uint64": (0, (1 << 64) - 1)}
_FLOATS = ("float", "double")  # half/bfloat16: Unimplemented in AddValueToTensor


def _convert_scalar(val, dtype_name: str):
    """One JSON leaf as a value of dtype_name (AddValueToTensor rules); errors built only on failure."""
    cls = type(val)
    if dtype_name in _FLOATS:
        # Any JSON number, rounded like rapidjson's GetFloat()/GetDouble() (float32 overflow -> inf).
        if cls is float:
            return val
        if cls is int:
            try:
                return float(val)
            except OverflowError:  # rapidjson cannot parse it either
                raise errors.invalid_argument("JSON Parse error: Number too big to be stored in double") from None
        raise _type_error(val, dtype_name)
    if dtype_name in _INT_BOUNDS:
        lo, hi = _INT_BOUNDS[dtype_name]
        if cls is int and lo <= val <= hi:
            return val
        raise _type_error(val, dtype_name)
    if dtype_name == "string":
        if cls is str:
            return val.encode("utf-8")
        if cls is dict:
            return _b64decode(val)
        raise _type_error(val, dtype_name)
    if dtype_name == "bool":
        if cls is bool:
            return val
        raise _type_error(val, dtype_name)
    raise errors.ServingError(errors.grpc.StatusCode.UNIMPLEMENTED,
                              f"Conversion of JSON Value: {value_to_string(val)} to type: {dtype_name}")


def _fill(val, level: int, shape: list, dtype_name: str, out: list) -> None:
    """FillTensorProto: leaves must all sit at depth len(shape); lists must match the shape."""
    rank = len(shape)
    if not isinstance(val, list):
        if level != rank:
            raise errors.invalid_argument(
                f"JSON Value: {value_to_string(val)} found at incorrect level: {level + 1} in the JSON DOM."
                f" Expected at level: {rank}")
        if isinstance(val, dict) and dtype_name != "string":
            raise errors.invalid_argument(
                f"JSON Value: {value_to_string(val)} Type: Object is not of expected type: {dtype_name}")
        out.append(_convert_scalar(val, dtype_name))
        return
    if level >= rank:
        raise errors.invalid_argument(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(val) != shape[level]:
        raise errors.invalid_argument(
            f"Encountered list at unexpected size: {len(val)} at level: {level} expected size: {shape[level]}")
    for item in val:
        _fill(item, level + 1, shape, dtype_name, out)


def _to_array(values: list, shape: list, dtype_enum: int) -> np.ndarray:
    from serving.server.servable import numpy_dtype
    np_dtype = numpy_dtype(dtype_enum)
    if np_dtype == np.object_:
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array.reshape(shape)
    with np.errstate(over="ignore"):  # float32 overflow is inf, as static_cast<float> gives
        return np.array(values, dtype=np_dtype).reshape(shape)


def _tensor_from_json(val, dtype_enum: int) -> tuple:
    from serving.server.servable import dtype_string
    if not isinstance(val, list):  # scalar fast path (one value per instance, the common case)
        if isinstance(val, dict) and dtype_string(dtype_enum) != "string":
            raise _type_error(val, dtype_string(dtype_enum))
        return [], [_convert_scalar(val, dtype_string(dtype_enum))]
    shape = _dense_shape(val)
    out = []
    _fill(val, 0, shape, dtype_string(dtype_enum), out)
    return shape, out


def decode_predict(doc, signature_def) -> tuple:
    """-> (inputs {alias: ndarray}, 'row' | 'columnar') for a parsed :predict body."""
    from serving.server.servable import dtype_string
    infos = dict(signature_def.inputs)
    if not infos:
        raise errors.invalid_argument("Failed to get input map for signature")
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise _format_error(doc, "Not formatted correctly expecting only one of 'inputs' or 'instances' keys"
                                 " to exist ")
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise _format_error(doc, "Excepting 'instances' to be an list/array")
        if not instances:
            raise _format_error(doc, "No values in 'instances' array")
        return _decode_instances(instances, infos, dtype_string), "row"
    if has_inputs:
        return _decode_inputs(doc["inputs"], infos), "columnar"
    raise errors.invalid_argument("Missing 'inputs' or 'instances' key")


def _decode_instances(instances, infos, dtype_string) -> dict:
    if not isinstance(instances[0], dict) and len(infos) > 1:
        raise errors.invalid_argument(
            "instances is a plain list, but expecting list of objects as multiple input tensors required as"
            " per tensorinfo_map")
    objects = _is_element_object(instances[0])
    names = sorted(infos)
    values = {n: [] for n in names}
    shapes = {}

    def add(item, name):
        if name not in infos:
            raise errors.invalid_argument(f"JSON object: does not have named input: {name}")
        shape, out = _tensor_from_json(item, infos[name].dtype)
        if name not in shapes:
            shapes[name] = shape
        else:
            expected_size = int(np.prod(shapes[name])) if shapes[name] else 1
            if expected_size != len(out):
                raise errors.invalid_argument(f"Expecting tensor size: {expected_size} but got: {len(out)}")
            if shapes[name] != shape:
                raise errors.invalid_argument(
                    f"Expecting shape [{','.join(map(str, shapes[name]))}] but got: [{','.join(map(str, shape))}]")
        values[name].extend(out)

    for index, elem in enumerate(instances):
        if objects:
            if not _is_element_object(elem):
                raise errors.invalid_argument(f"Expecting object but got list at item {index} of input list")
            for name, item in elem.items():
                try:
                    add(item, name)
                except errors.ServingError as err:
                    raise errors.invalid_argument(
                        f"Failed to process element: {index} key: {name} of 'instances' list. Error: {err}") from None
            if set(elem) != set(names):
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. JSON object:"
                    f" {value_to_string(elem)} must only have keys: {','.join(names)}")
        else:
            if _is_element_object(elem):
                raise errors.invalid_argument(f"Expecting value/list but got object at item {index} of input list")
            try:
                add(elem, names[0])
            except errors.ServingError as err:
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. Error: {err}") from None
    count = len(instances)
    return {n: _to_array(values[n], [count] + shapes[n], infos[n].dtype) for n in names}


def _decode_inputs(val, infos) -> dict:
    if not isinstance(val, dict) or _is_b64(val):
        if len(infos) > 1:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as multiple input tensors required as"
                " per tensorinfo_map")
        name = next(iter(infos))
        shape, out = _tensor_from_json(val, infos[name].dtype)
        return {name: _to_array(out, shape, infos[name].dtype)}
    result = {}
    for name in sorted(infos):
        if name not in val:
            raise errors.invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        shape, out = _tensor_from_json(val[name], infos[name].dtype)
        result[name] = _to_array(out, shape, infos[name].dtype)
    return result  # keys that are not signature inputs are ignored (FillTensorMapFromInputsMap)


# ---- numpy -> JSON ------------------------------------------------------------------------------
def _scalar_json(v, kind: str, as_bytes: bool) -> str:
    if kind == "f":
        return write_decimal(v, float32=(v.dtype == np.float32 if hasattr(v, "dtype") else True))
    if kind == "b":
        return "true" if v else "false"
    if kind in "iu":
        return str(int(v))
    if kind in "OSU":
        raw = v if isinstance(v, bytes) else str(v).encode()
        if as_bytes:
            return '{"b64": "' + base64.b64encode(raw).decode("ascii") + '"}'
        return json.dumps(raw.decode("utf-8", "replace"), ensure_ascii=False)
    raise errors.invalid_argument(f"Failed to write JSON value for tensor type: {kind}")


def _array_json(array, as_bytes: bool, dtype=None) -> str:
    array = np.asarray(array, dtype=dtype)
    kind = array.dtype.kind
    if array.ndim == 0:
        return _scalar_json(array[()], kind, as_bytes)
    if array.ndim == 1:
        if kind == "f":
            f32 = array.dtype == np.float32
            return "[" + ", ".join(write_decimal(v, f32) for v in array.tolist()) + "]"
        return "[" + ", ".join(_scalar_json(v, kind, as_bytes) for v in array) + "]"
    return "[" + ", ".join(_array_json(sub, as_bytes) for sub in array) + "]"


def encode_predict(outputs: dict, fmt: str) -> str:
    """MakeRowFormatJsonFromTensors / MakeColumnarFormatJsonFromTensors."""
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    as_bytes = {n: outputs[n].dtype.kind in "OSU" and n.endswith("_bytes") for n in names}
    if fmt == "columnar":
        if len(names) == 1:
            return '{"outputs": ' + _array_json(outputs[names[0]], as_bytes[names[0]]) + "}"
        return '{"outputs": {' + ", ".join(
            json.dumps(n) + ": " + _array_json(outputs[n], as_bytes[n]) for n in names) + "}}"
    batch = 0
    for n in names:
        array = outputs[n]
        if array.ndim == 0:
            raise errors.invalid_argument(f"Tensor name: {n} has no shape information ")
        if array.shape[0] < 1:
            raise errors.invalid_argument(f"Tensor name: {n} has invalid batch size: {array.shape[0]}")
        if batch and array.shape[0] != batch:
            raise errors.invalid_argument(
                f"Tensor name: {n} has inconsistent batch size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    if len(names) == 1:
        n = names[0]
        return '{"predictions": [' + ", ".join(_array_json(outputs[n][i], as_bytes[n], outputs[n].dtype)
                                             for i in range(batch)) + "]}"
    rows = []
    for i in range(batch):
        rows.append("{" + ", ".join(json.dumps(n) + ": " + _array_json(outputs[n][i], as_bytes[n], outputs[n].dtype)
                                    for n in names) + "}")
    return '{"predictions": [' + ", ".join(rows) + "]}"


# ---- classify / regress -----------------------------------------------------------------------
def _add_feature_value(val, name: str, feature) -> None:
    kind = feature.WhichOneof("kind")

    def incompatible():
        current = {"bytes_list": "bytes", "float_list": "float", "int64_list": "int64"}.get(kind, "UNKNOWN")
        return errors.invalid_argument(f"Unexpected element type in feature: {name} expecting type: {current}")

    if val is None or isinstance(val, list) or (isinstance(val, dict) and not _is_b64(val)):
        raise errors.invalid_argument(f"Feature: {name} has element with unexpected JSON type: {_type_name(val)}")
    if isinstance(val, bool):
        if kind not in (None, "int64_list"):
            raise incompatible()
        feature.int64_list.value.append(1 if val else 0)
    elif isinstance(val, dict):
        if kind not in (None, "bytes_list"):
            raise incompatible()
        feature.bytes_list.value.append(_b64decode(val))
    elif isinstance(val, str):
        if kind not in (None, "bytes_list"):
            raise incompatible()
        feature.bytes_list.value.append(val.encode("utf-8"))
    elif isinstance(val, float):
        if kind not in (None, "float_list"):
            raise incompatible()
        feature.float_list.value.append(val)  # GetFloat(): float32 overflow -> inf
    else:
        if kind not in (None, "int64_list"):
            raise incompatible()
        if val > INT64_MAX:
            raise errors.invalid_argument(f"Feature: {name} has uint64 element. Only int64 is supported.")
        feature.int64_list.value.append(val)


def example_from_json(val):
    import tensorflow as tf
    if not isinstance(val, dict):
        raise errors.invalid_argument(f"Example must be JSON object but got JSON {_type_name(val)}")
    example = tf.train.Example()
    for name, content in val.items():
        feature = example.features.feature[name]
        for item in (content if isinstance(content, list) else [content]):
            _add_feature_value(item, name, feature)
    return example


def decode_examples(doc):
    """tensorflow.serving.Input from a :classify/:regress body."""
    from tensorflow_serving.apis import input_pb2
    request_input = input_pb2.Input()
    has_context = "context" in doc
    if has_context:
        request_input.example_list_with_context.context.CopyFrom(example_from_json(doc["context"]))
    if "examples" not in doc:
        raise _format_error(doc, "When method is classify, key 'examples' is expected and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise _format_error(doc, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise _format_error(doc, "'examples' value is an empty array")
    target = (request_input.example_list_with_context.examples if has_context
              else request_input.example_list.examples)
    for item in examples:
        target.add().CopyFrom(example_from_json(item))
    return request_input


def encode_classification(result) -> str:
    if not result.classifications:
        raise errors.invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classifications in result.classifications:
        rows.append("[" + ", ".join("[" + json.dumps(c.label, ensure_ascii=False) + ", " + write_decimal(c.score) + "]"
                                    for c in classifications.classes) + "]")
    return '{"results": [' + ", ".join(rows) + "]}"


def encode_regression(result) -> str:
    if not result.regressions:
        raise errors.invalid_argument("Cannot convert empty RegressionResults to JSON")
    return '{"results": [' + ", ".join(write_decimal(r.value) for r in result.regressions) + "]}"
