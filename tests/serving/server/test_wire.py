"""The request log's direct protobuf encoding (serving/server/wire.py) against the protobuf library: the
same TensorProto as ndarray_to_tensor_proto for every dtype and shape."""
import numpy as np
import pytest
from tensorflow.core.framework import tensor_pb2

from serving.server import wire
from serving.server.servable import ndarray_to_tensor_proto

ARRAYS = {
    "float32": np.array([[0.5, -1.25e-30], [3.4e38, 0.0]], dtype=np.float32),
    "float64": np.array([1e-300, -2.5, 7.0]),
    "int64 across varint lengths": np.array([0, 1, 127, 128, 16383, 16384, 2 ** 35, 2 ** 63 - 1, -1, -2 ** 63]),
    "int32": np.array([[-7, 300], [2 ** 31 - 1, -2 ** 31]], dtype=np.int32),
    "int8 and uint8": np.array([-128, 5, 127], dtype=np.int8),
    "uint8": np.array([0, 255], dtype=np.uint8),
    "uint32": np.array([0, 2 ** 32 - 1], dtype=np.uint32),
    "uint64": np.array([2 ** 64 - 1, 3], dtype=np.uint64),
    "bool": np.array([[True, False, True]]),
    "bytes objects": np.array([b"EWR", b"", "\u00e9t\u00e9".encode(), b"x" * 300], dtype=object),
    "str objects": np.array(["JFK", "\u00e9t\u00e9", 12], dtype=object),
    "numpy bytes": np.array([b"ab", b"c"]),
    "scalar": np.float32(2.5) * np.ones((), dtype=np.float32),
    "string scalar": np.array(b"only", dtype=object),
    "a zero dimension": np.zeros((2, 0, 3), dtype=np.float32),
    "big-endian floats": np.array([[1.5, -2.0]], dtype=">f8"),
    "batch 64": np.arange(-32, 32, dtype=np.int64) * 1000003,
    "half (the library's encoding)": np.array([1.5, -2.0], dtype=np.float16),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_tensor_proto_bytes_parse_to_the_librarys_tensor_proto(name):
    array = ARRAYS[name]
    ours = tensor_pb2.TensorProto.FromString(wire.tensor_proto_bytes(array))
    assert ours == ndarray_to_tensor_proto(array)


def test_nan_and_infinities_keep_their_values():
    import tensorflow as tf
    array = np.array([np.nan, np.inf, -np.inf, 1.0], dtype=np.float32)
    back = tf.make_ndarray(tensor_pb2.TensorProto.FromString(wire.tensor_proto_bytes(array)))
    assert back.dtype == np.float32 and np.isnan(back[0]) and list(back[1:]) == [np.inf, -np.inf, 1.0]


def test_varints_and_fields_follow_the_wire_format():
    assert [wire.varint(n) for n in (0, 1, 127, 128, 300)] == [b"\x00", b"\x01", b"\x7f", b"\x80\x01", b"\xac\x02"]
    assert wire.field(2, b"abc") == b"\x12\x03abc"
