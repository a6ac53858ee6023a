"""The TensorFlow graph reader on hand-built protobuf bytes and text: every wire type it decodes, packed and
unpacked repeated values, negative ints, unknown fields skipped, truncated input refused."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from detectors import tf_graph
from detectors.tf_graph import GraphFormatError, constants, decode_graph, parse_text_graph


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1  # negative ints: two's complement in 64 bits, 10 bytes
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num: int, wire: int) -> bytes:
    return varint(num << 3 | wire)


def vint(num: int, v: int) -> bytes:
    return key(num, 0) + varint(v)


def ld(num: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(num, 2) + varint(len(data)) + data


def f32(num: int, v: float) -> bytes:
    return key(num, 5) + struct.pack("<f", v)


def shape(*dims: int) -> bytes:
    return b"".join(ld(2, vint(1, d)) for d in dims)


def attr(name: str, value: bytes) -> bytes:
    return ld(5, ld(1, name) + ld(2, value))


def node(name: str, op: str, inputs: list[str] = (), attrs: bytes = b"") -> bytes:
    return ld(1, ld(1, name) + ld(2, op) + b"".join(ld(3, i) for i in inputs) + attrs)


def test_graph_nodes_attrs_and_tensors() -> None:
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    content_tensor = vint(1, 1) + ld(2, shape(2, 3)) + ld(4, weights.tobytes())
    packed_floats = vint(1, 1) + ld(2, shape(3)) + ld(5, struct.pack("<3f", 0.5, 1.5, -2.0))
    unpacked_scalar = vint(1, 1) + ld(2, shape(2, 2)) + f32(5, 7.0)  # one value fills the whole shape
    negative_int = vint(1, 3) + ld(2, shape(1)) + vint(7, -1)
    strings = vint(1, 7) + ld(8, "label")
    graph = (
        node("w", "Const", attrs=attr("value", ld(8, content_tensor)) + attr("dtype", vint(6, 1)))
        + node("v", "Const", attrs=attr("value", ld(8, packed_floats)))
        + node("s", "Const", attrs=attr("value", ld(8, unpacked_scalar)))
        + node("axis", "Const", attrs=attr("value", ld(8, negative_int)))
        + node("names", "Const", attrs=attr("value", ld(8, strings)))
        + node("conv", "Conv2D", ["x", "w"],
               attr("strides", ld(1, ld(3, varint(1) + varint(2) + varint(2) + varint(1))))
               + attr("padding", ld(2, "SAME")) + attr("eps", f32(4, 0.001)) + attr("flag", vint(5, 1))
               + attr("k", vint(3, -3)) + attr("shape", ld(7, shape(-1, 300))))
        + vint(99, 12345)  # an unknown GraphDef field is skipped
        + ld(4, b"library bytes")  # the function library is skipped
    )
    nodes = decode_graph(graph)
    assert [n.name for n in nodes] == ["w", "v", "s", "axis", "names", "conv"]
    conv = nodes[-1]
    assert conv.op == "Conv2D" and conv.inputs == ["x", "w"]
    assert conv.attr["strides"] == [1, 2, 2, 1]
    assert conv.attr["padding"] == "SAME" and conv.attr["flag"] is True and conv.attr["k"] == -3
    assert conv.attr["eps"] == pytest.approx(0.001) and conv.attr["shape"] == (-1, 300)
    assert nodes[0].attr["dtype"] == 1
    values = constants(nodes)
    assert set(values) == {"w", "v", "s", "axis"}  # the string constant is left out
    np.testing.assert_array_equal(values["w"], weights)
    np.testing.assert_array_equal(values["v"], np.array([0.5, 1.5, -2.0], dtype=np.float32))
    np.testing.assert_array_equal(values["s"], np.full((2, 2), 7.0, dtype=np.float32))
    assert values["axis"].tolist() == [-1] and values["axis"].dtype == np.int32
    assert set(constants(nodes, {"v"})) == {"v"}


def test_truncated_and_malformed_bytes_are_refused(tmp_path) -> None:
    good = node("w", "Const")
    with pytest.raises(GraphFormatError):
        decode_graph(good[:-2])  # a field that runs past the end
    with pytest.raises(GraphFormatError):
        decode_graph(key(1, 3) + b"\x00")  # group wire types are not used by GraphDef
    with pytest.raises(GraphFormatError):
        decode_graph(b"\xff\xff")  # a varint that never ends
    bad = tmp_path / "model.pb"
    bad.write_bytes(good[:-2])
    with pytest.raises(GraphFormatError, match="model.pb"):
        tf_graph.read_graph(bad)


def test_tensor_with_wrong_value_count_is_refused() -> None:
    t = tf_graph.decode_tensor(vint(1, 1) + ld(2, shape(2, 2)) + ld(5, struct.pack("<3f", 1, 2, 3)))
    with pytest.raises(GraphFormatError, match="has 3 values"):
        t.to_numpy()


def test_text_graph() -> None:
    text = """
    # OpenCV text graph
    node {
      name: "image_tensor"
      op: "Placeholder"
      attr { key: "shape" value { shape { dim { size: -1 } dim { size: 3 } } } }
    }
    node {
      name: "PriorBox_0"
      op: "PriorBox"
      input: "feat"
      input: "image_tensor"
      attr { key: "clip" value { b: false } }
      attr { key: "width" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
                                           float_val: 30.0 float_val: 42.5 } } }
      attr { key: "strides" value { list { i: 1 i: 2 } } }
      attr { key: "code_type" value { s: "CENTER_SIZE" } }
      attr { key: "nms_threshold" value { f: 0.6 } }
    }
    library {
    }
    """
    nodes = parse_text_graph(text)
    assert [(n.name, n.op) for n in nodes] == [("image_tensor", "Placeholder"), ("PriorBox_0", "PriorBox")]
    assert nodes[0].attr["shape"] == (-1, 3)
    prior = nodes[1]
    assert prior.inputs == ["feat", "image_tensor"] and prior.attr["clip"] is False
    assert prior.attr["width"].to_numpy().tolist() == [30.0, 42.5]
    assert prior.attr["strides"] == [1, 2] and prior.attr["code_type"] == "CENTER_SIZE"
    assert prior.attr["nms_threshold"] == pytest.approx(0.6)
    with pytest.raises(GraphFormatError, match="missing"):
        parse_text_graph('node { name: "a" ')
