"""Protobuf wire format written directly, for the request log's REST records.

`tensor_proto_bytes(array)` equals `ndarray_to_tensor_proto(array).SerializeToString()` (the typed
*_val fields of TF Serving's REST -> gRPC conversion); float and double values, the costly ones when
appended one by one, are packed by numpy in one go. Serialized messages concatenate: `field(n, payload)`
is field n of the enclosing message, a length-delimited one (a message, bytes, packed values).
"""
import functools

import numpy as np

from serving.server.servable import ndarray_to_tensor_proto, proto_field

_PACKED = {"float_val": (5, "<f4"), "double_val": (6, "<f8")}  # TensorProto field number, little-endian layout
_DTYPE, _TENSOR_SHAPE, _DIM, _DIM_SIZE = 1, 2, 2, 1  # TensorProto.dtype, .tensor_shape; Shape.dim; Dim.size
_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def varint(n: int) -> bytes:
    """Base-128 varint of an integer >= 0."""
    if n < 0x80:
        return _ONE_BYTE[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


@functools.lru_cache(maxsize=None)
def _packed(dtype):
    """(the dtype field's bytes, the value field's number, layout) of a float/double dtype, else None."""
    dtype_enum, value_field = proto_field(dtype)
    if value_field not in _PACKED:
        return None
    return (varint(_DTYPE << 3) + varint(dtype_enum),) + _PACKED[value_field]


def tensor_proto_bytes(array: np.ndarray) -> bytes:
    """Serialized TensorProto of `array`, equal to ndarray_to_tensor_proto(array)'s."""
    packed = _packed(array.dtype)
    if packed is None:
        return ndarray_to_tensor_proto(array).SerializeToString()
    header, number, layout = packed
    parts = [header]
    if array.ndim:
        parts.append(field(_TENSOR_SHAPE, b"".join(
            [field(_DIM, varint(_DIM_SIZE << 3) + varint(int(size)) if size else b"") for size in array.shape])))
    if array.size:
        parts.append(field(number, array.astype(layout, copy=False).tobytes()))
    return b"".join(parts)
