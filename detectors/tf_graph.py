"""A minimal reader of TensorFlow graphs without TensorFlow: binary ``GraphDef`` protobufs (the frozen
``.pb`` that holds the weights) and the text format (the ``.pbtxt`` that OpenCV uses for the topology).

Why hand-written: TensorFlow is a 500 MB dependency for reading a few hundred constant tensors, and the
``protobuf`` package would still need TensorFlow's ``.proto`` definitions. Only the messages a graph needs
are decoded: ``GraphDef`` → ``NodeDef`` (name, op, input, attr) → ``AttrValue`` → ``TensorProto`` /
``TensorShapeProto``. Unknown fields are skipped, as protobuf readers must.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# tensorflow/core/framework/types.proto: DataType → numpy dtype (the ones frozen detection graphs use)
DTYPES: dict[int, np.dtype] = {
    1: np.dtype(np.float32), 2: np.dtype(np.float64), 3: np.dtype(np.int32), 4: np.dtype(np.uint8),
    5: np.dtype(np.int16), 6: np.dtype(np.int8), 9: np.dtype(np.int64), 10: np.dtype(np.bool_),
    19: np.dtype(np.float16),
}
DTYPE_NAMES = {"DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
               "DT_STRING": 7, "DT_INT64": 9, "DT_BOOL": 10, "DT_HALF": 19}


class GraphFormatError(ValueError):
    """Bytes or text that are not a well-formed graph (truncated file, wrong file, bad field)."""


@dataclass
class Tensor:
    """``TensorProto``: a dtype, a shape and the values (``tensor_content`` bytes or the typed ``*_val``)."""

    dtype: int = 0
    shape: tuple[int, ...] = ()
    content: bytes = b""
    values: list[Any] = field(default_factory=list)

    def to_numpy(self) -> np.ndarray:
        """The values as an array of the tensor's shape; a single ``*_val`` fills the whole shape (as TF does)."""
        if self.dtype not in DTYPES:
            raise GraphFormatError(f"tensor dtype {self.dtype} is not supported")
        dt = DTYPES[self.dtype]
        count = int(np.prod(self.shape)) if self.shape else 1
        if self.content:
            arr = np.frombuffer(self.content, dtype=dt.newbyteorder("<")).astype(dt)
        elif self.dtype == 19:  # half_val holds the float16 bit patterns as int32
            arr = np.array(self.values, dtype=np.uint16).view(np.float16)
        else:
            arr = np.array(self.values, dtype=dt)
        if arr.size == 1 and count > 1:
            arr = np.full(count, arr[0], dtype=dt)
        if arr.size != count:
            raise GraphFormatError(f"tensor of shape {self.shape} has {arr.size} values")
        return arr.reshape(self.shape)


@dataclass
class Node:
    """``NodeDef``. ``attr`` maps each key to its decoded value: str / int / float / bool / dtype int,
    a shape tuple, a :class:`Tensor`, or a list of those (``AttrValue.list``)."""

    name: str = ""
    op: str = ""
    inputs: list[str] = field(default_factory=list)
    attr: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- protobuf wire format


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise GraphFormatError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise GraphFormatError("varint longer than 10 bytes")


def _signed(v: int) -> int:
    """int32/int64 fields are two's complement in 64 bits."""
    return v - (1 << 64) if v >= 1 << 63 else v


def fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of each field: varints as int, fixed32/64 as raw 4/8 bytes,
    length-delimited as bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise GraphFormatError(f"unsupported wire type {wire} (field {num})")
        if pos > end:
            raise GraphFormatError(f"field {num} runs past the end of its message")
        yield num, wire, value


def _packed(wire: int, value: Any, kind: str) -> list[Any]:
    """A repeated scalar, packed (one length-delimited blob) or not (one field per value)."""
    if kind == "f":
        if wire == 5:
            return [struct.unpack("<f", value)[0]]
        return list(struct.unpack(f"<{len(value) // 4}f", value))
    if kind == "d":
        if wire == 1:
            return [struct.unpack("<d", value)[0]]
        return list(struct.unpack(f"<{len(value) // 8}d", value))
    if wire == 0:
        return [_signed(value)]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(_signed(v))
    return out


def decode_shape(buf: bytes) -> tuple[int, ...]:
    """``TensorShapeProto``: dim (2) → Dim.size (1)."""
    dims = []
    for num, _, value in fields(buf):
        if num == 2:
            size = 0
            for dnum, _, dval in fields(value):
                if dnum == 1:
                    size = _signed(dval)
            dims.append(size)
    return tuple(dims)


_TENSOR_VALS = {5: "f", 6: "d", 7: "i", 10: "i", 11: "i", 13: "i"}  # float, double, int, int64, bool, half


def decode_tensor(buf: bytes) -> Tensor:
    """``TensorProto``: dtype (1), tensor_shape (2), tensor_content (4), the typed ``*_val`` fields."""
    t = Tensor()
    for num, wire, value in fields(buf):
        if num == 1:
            t.dtype = value
        elif num == 2:
            t.shape = decode_shape(value)
        elif num == 4:
            t.content = bytes(value)
        elif num in _TENSOR_VALS:
            t.values.extend(_packed(wire, value, _TENSOR_VALS[num]))
    return t


def _decode_list(buf: bytes) -> list[Any]:
    """``AttrValue.ListValue``: s (2), i (3), f (4), b (5), type (6), shape (7), tensor (8)."""
    out: list[Any] = []
    for num, wire, value in fields(buf):
        if num == 2:
            out.append(bytes(value).decode("utf-8", "replace"))
        elif num == 3:
            out.extend(_packed(wire, value, "i"))
        elif num == 4:
            out.extend(_packed(wire, value, "f"))
        elif num == 5:
            out.extend(bool(v) for v in _packed(wire, value, "i"))
        elif num == 6:
            out.extend(_packed(wire, value, "i"))
        elif num == 7:
            out.append(decode_shape(value))
        elif num == 8:
            out.append(decode_tensor(value))
    return out


def decode_attr_value(buf: bytes) -> Any:
    """``AttrValue`` oneof: list (1), s (2), i (3), f (4), b (5), type (6), shape (7), tensor (8)."""
    result: Any = None
    for num, _, value in fields(buf):
        if num == 1:
            result = _decode_list(value)
        elif num == 2:
            result = bytes(value).decode("utf-8", "replace")
        elif num == 3:
            result = _signed(value)
        elif num == 4:
            result = struct.unpack("<f", value)[0]
        elif num == 5:
            result = bool(value)
        elif num == 6:
            result = value
        elif num == 7:
            result = decode_shape(value)
        elif num == 8:
            result = decode_tensor(value)
    return result


def decode_node(buf: bytes) -> Node:
    """``NodeDef``: name (1), op (2), input (3), attr (5, map entries of key 1 → AttrValue 2)."""
    node = Node()
    for num, _, value in fields(buf):
        if num == 1:
            node.name = bytes(value).decode("utf-8")
        elif num == 2:
            node.op = bytes(value).decode("utf-8")
        elif num == 3:
            node.inputs.append(bytes(value).decode("utf-8"))
        elif num == 5:
            key, attr = "", None
            for enum, _, evalue in fields(value):
                if enum == 1:
                    key = bytes(evalue).decode("utf-8")
                elif enum == 2:
                    attr = decode_attr_value(evalue)
            node.attr[key] = attr
    return node


def decode_graph(buf: bytes) -> list[Node]:
    """``GraphDef``: node (1); versions and the function library are skipped."""
    return [decode_node(value) for num, _, value in fields(memoryview(buf).tobytes()) if num == 1]


def read_graph(path: str | Path) -> list[Node]:
    """The nodes of a binary GraphDef file (a frozen ``.pb``)."""
    p = Path(path)
    try:
        return decode_graph(p.read_bytes())
    except GraphFormatError as exc:
        raise GraphFormatError(f"{p}: not a TensorFlow GraphDef ({exc})") from exc


def constants(nodes: list[Node], names: set[str] | None = None) -> dict[str, np.ndarray]:
    """The numeric ``Const`` nodes' values by node name (the weights of a frozen graph), only ``names``
    when given. String constants (labels, asset paths) are left out: no network layer reads them."""
    out = {}
    for n in nodes:
        value = n.attr.get("value")
        if n.op == "Const" and isinstance(value, Tensor) and value.dtype in DTYPES and (
                names is None or n.name in names):
            out[n.name] = value.to_numpy()
    return out


# ---------------------------------------------------------------- text format (.pbtxt)

_TOKEN = re.compile(r'\s*(?:(#[^\n]*)|([{}:\[\],])|("(?:[^"\\]|\\.)*")|([^\s{}:\[\],"#]+))')


def _tokens(text: str) -> Iterator[str]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            if text[pos:].strip() == "":
                return
            raise GraphFormatError(f"unexpected text at offset {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        if m.group(1):
            continue
        tok = m.group(2) or m.group(3) or m.group(4)
        if tok:
            yield tok


def parse_text(text: str) -> list[tuple[str, Any]]:
    """Generic text-format message → ordered ``(field, value)`` pairs; sub-messages as nested lists,
    scalars as their token text (strings unquoted)."""
    toks = list(_tokens(text))
    pos = 0

    def message(closing: str | None) -> list[tuple[str, Any]]:
        nonlocal pos
        out: list[tuple[str, Any]] = []
        while pos < len(toks):
            name = toks[pos]
            if name == closing:
                pos += 1
                return out
            pos += 1
            if pos < len(toks) and toks[pos] == ":":
                pos += 1
            if pos >= len(toks):
                raise GraphFormatError(f"field {name!r} has no value")
            if toks[pos] == "{":
                pos += 1
                out.append((name, message("}")))
            else:
                tok = toks[pos]
                pos += 1
                out.append((name, _unquote(tok) if tok.startswith('"') else tok))
        if closing is not None:
            raise GraphFormatError(f"missing {closing!r}")
        return out

    return message(None)


def _unquote(tok: str) -> str:
    return tok[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")


def _text_shape(msg: list[tuple[str, Any]]) -> tuple[int, ...]:
    return tuple(int(dict(d).get("size", "0")) for k, d in msg if k == "dim")


def _text_dtype(tok: str) -> int:
    return DTYPE_NAMES[tok] if tok in DTYPE_NAMES else int(tok)


def _text_tensor(msg: list[tuple[str, Any]]) -> Tensor:
    t = Tensor()
    for k, v in msg:
        if k == "dtype":
            t.dtype = _text_dtype(v)
        elif k == "tensor_shape":
            t.shape = _text_shape(v)
        elif k in ("float_val", "double_val"):
            t.values.append(float(v))
        elif k in ("int_val", "int64_val", "half_val"):
            t.values.append(int(v))
        elif k == "bool_val":
            t.values.append(v == "true")
        elif k == "tensor_content":
            t.content = v.encode("latin-1")
    return t


def _text_scalar(k: str, v: Any) -> Any:
    if k == "s":
        return v
    if k == "i":
        return int(v)
    if k == "f":
        return float(v)
    if k == "b":
        return v == "true"
    if k == "type":
        return _text_dtype(v)
    if k == "shape":
        return _text_shape(v)
    if k == "tensor":
        return _text_tensor(v)
    raise GraphFormatError(f"unknown AttrValue field {k!r}")


def _text_attr_value(msg: list[tuple[str, Any]]) -> Any:
    result: Any = None
    for k, v in msg:
        result = [_text_scalar(lk, lv) for lk, lv in v] if k == "list" else _text_scalar(k, v)
    return result


def parse_text_graph(text: str) -> list[Node]:
    """The nodes of a text-format GraphDef (OpenCV's ``.pbtxt`` topology files)."""
    nodes = []
    for k, msg in parse_text(text):
        if k != "node":
            continue
        node = Node()
        for nk, nv in msg:
            if nk == "name":
                node.name = nv
            elif nk == "op":
                node.op = nv
            elif nk == "input":
                node.inputs.append(nv)
            elif nk == "attr":
                entry = dict(nv)
                node.attr[entry["key"]] = _text_attr_value(entry.get("value", []))
        nodes.append(node)
    return nodes


def read_text_graph(path: str | Path) -> list[Node]:
    p = Path(path)
    try:
        return parse_text_graph(p.read_text(encoding="utf-8"))
    except (GraphFormatError, KeyError, ValueError) as exc:
        raise GraphFormatError(f"{p}: not a text-format GraphDef ({exc})") from exc
