"""Read a TensorFlow ``GraphDef`` (``frozen_inference_graph.pb``) without TensorFlow.

A minimal protobuf wire-format decoder for just the messages a frozen graph's weights live in:

- ``GraphDef``: ``node = 1`` (repeated ``NodeDef``).
- ``NodeDef``: ``name = 1``, ``op = 2``, ``input = 3`` (repeated), ``device = 4``,
  ``attr = 5`` (``map<string, AttrValue>``, i.e. repeated entries ``{key = 1, value = 2}``).
- ``AttrValue``: ``f = 4`` (float), ``type = 6``, ``tensor = 8`` (others are skipped).
- ``TensorProto``: ``dtype = 1``, ``tensor_shape = 2`` (``TensorShapeProto``: ``dim = 2``
  ``{size = 1}``), ``tensor_content = 4`` (raw little-endian bytes), ``float_val = 5``,
  ``int_val = 7``, ``int64_val = 10`` (each packed or not).

Wire format: every field is a varint key ``(field_number << 3) | wire_type`` followed by a value:
wire type 0 a varint, 1 eight bytes (fixed64), 2 a varint length then that many bytes, 5 four
bytes (fixed32). Unknown fields are skipped; group wire types (3, 4) never occur in these
messages and are rejected as corruption.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.errors import DetectorError

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5
# TensorFlow DataType enum values this reader decodes, and their numpy equivalents.
DT_FLOAT, DT_DOUBLE, DT_INT32, DT_INT64 = 1, 2, 3, 9
_NUMPY_DTYPES = {DT_FLOAT: np.dtype("<f4"), DT_DOUBLE: np.dtype("<f8"),
                 DT_INT32: np.dtype("<i4"), DT_INT64: np.dtype("<i8")}


class _WireError(ValueError):
    """The bytes are not valid protobuf wire format."""


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``: 7 bits a byte, least significant group first."""
    result = shift = 0
    end = len(buf)
    while True:
        if pos >= end:
            raise _WireError("varint runs past the end of the data")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise _WireError("varint longer than 10 bytes")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field_number, wire_type, value)`` of one message.

    ``value`` is an ``int`` for varints and a ``memoryview`` of the raw bytes otherwise (4 bytes
    for fixed32, 8 for fixed64, the payload for length-delimited fields).
    """
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _WireError("field number 0")
        if wire == VARINT:
            value, pos = _varint(buf, pos)
            yield number, wire, value
            continue
        if wire == LENGTH:
            size, pos = _varint(buf, pos)
        elif wire == FIXED64:
            size = 8
        elif wire == FIXED32:
            size = 4
        else:
            raise _WireError(f"unsupported wire type {wire}")
        if pos + size > end:
            raise _WireError("field runs past the end of the data")
        yield number, wire, buf[pos:pos + size]
        pos += size


def _repeated(value: int | memoryview, wire: int, dtype: np.dtype) -> np.ndarray:
    """Values of one occurrence of a repeated numeric field: packed (length-delimited) or single."""
    if wire == LENGTH:
        if dtype.kind == "f":
            if len(value) % dtype.itemsize:
                raise _WireError("packed float field of odd length")
            return np.frombuffer(value, dtype=dtype)
        ints, pos = [], 0
        while pos < len(value):
            item, pos = _varint(value, pos)
            ints.append(item)
        return _signed(np.array(ints, dtype=np.uint64), dtype)
    if isinstance(value, int):
        return _signed(np.array([value], dtype=np.uint64), dtype)
    return np.frombuffer(value, dtype=dtype)


def _signed(raw: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Varints of int32/int64 fields are two's complement 64-bit: reinterpret, then narrow."""
    return raw.view(np.int64).astype(dtype)


def _text(value: int | memoryview, what: str) -> str:
    if isinstance(value, int):
        raise _WireError(f"{what} is not a string")
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _WireError(f"{what} is not UTF-8") from None


def _shape(buf: memoryview) -> tuple[int, ...]:
    """``TensorShapeProto`` -> dims (``dim = 2``, each ``{size = 1}``)."""
    dims = []
    for number, _, value in _fields(buf):
        if number == 2:
            size = 0
            for dim_number, _, dim_value in _fields(value):
                if dim_number == 1 and isinstance(dim_value, int):
                    size = int(np.array([dim_value], dtype=np.uint64).view(np.int64)[0])
            dims.append(size)
    return tuple(dims)


def _tensor(buf: memoryview) -> np.ndarray | None:
    """``TensorProto`` -> array, or ``None`` for a dtype this reader does not decode."""
    dtype_id, shape, content = 0, (), None
    parts: list[np.ndarray] = []
    for number, wire, value in _fields(buf):
        if number == 1 and isinstance(value, int):
            dtype_id = value
        elif number == 2 and wire == LENGTH:
            shape = _shape(value)
        elif number == 4 and wire == LENGTH:
            content = value
        elif number in (5, 6, 7, 10):
            parts.append((number, wire, value))
    dtype = _NUMPY_DTYPES.get(dtype_id)
    if dtype is None:
        return None
    if any(d < 0 for d in shape):
        raise _WireError(f"tensor with unknown dimension {shape}")
    count = int(np.prod(shape, dtype=np.int64))
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise _WireError(f"tensor_content of {len(content)} bytes for shape {list(shape)}")
        return np.frombuffer(content, dtype=dtype).reshape(shape).copy()
    wanted = {DT_FLOAT: 5, DT_DOUBLE: 6, DT_INT32: 7, DT_INT64: 10}[dtype_id]
    vals = [_repeated(v, w, dtype) for n, w, v in parts if n == wanted]
    values = np.concatenate(vals) if vals else np.zeros(0, dtype)
    if values.size > count or (values.size == 0 and count > 0):
        raise _WireError(f"{values.size} values for shape {list(shape)}")
    if values.size < count:  # TensorFlow repeats the last value to fill the shape
        values = np.concatenate([values, np.full(count - values.size, values[-1], dtype)])
    return values.reshape(shape)


@dataclass
class NodeDef:
    """One graph node: its name, op, inputs, and the attributes this reader decodes.

    ``attrs`` maps an attribute name to a float (``AttrValue.f``), an int (``AttrValue.type``)
    or an array (``AttrValue.tensor``); other attribute kinds are omitted.
    """

    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, float | int | np.ndarray] = field(default_factory=dict)


def _attr_value(buf: memoryview) -> float | int | np.ndarray | None:
    for number, wire, value in _fields(buf):
        if number == 4 and wire == FIXED32:
            return float(np.frombuffer(value, dtype="<f4")[0])
        if number == 6 and isinstance(value, int):
            return value
        if number == 8 and wire == LENGTH:
            return _tensor(value)
    return None


def _node(buf: memoryview) -> NodeDef:
    node = NodeDef(name="", op="")
    for number, _, value in _fields(buf):
        if number == 1:
            node.name = _text(value, "node name")
        elif number == 2:
            node.op = _text(value, "node op")
        elif number == 3:
            node.inputs.append(_text(value, "node input"))
        elif number == 5 and not isinstance(value, int):
            key, attr = "", None
            for entry_number, _, entry_value in _fields(value):
                if entry_number == 1:
                    key = _text(entry_value, "attr key")
                elif entry_number == 2 and not isinstance(entry_value, int):
                    attr = _attr_value(entry_value)
            if attr is not None:
                node.attrs[key] = attr
    if not node.name or not node.op:
        raise _WireError("a node without a name or op")
    return node


def parse_graph_def(data: bytes, source: str = "<bytes>") -> list[NodeDef]:
    """Decode serialized ``GraphDef`` bytes into its nodes, in graph order.

    Raises ``DetectorError`` when the bytes are not a ``GraphDef`` (corrupt, truncated, empty).
    """
    try:
        nodes = [_node(value) for number, wire, value in _fields(memoryview(data))
                 if number == 1 and wire == LENGTH]
    except _WireError as exc:
        raise DetectorError(f"{source} is not a TensorFlow GraphDef ({exc}): pass an intact "
                            "frozen_inference_graph.pb (re-download it if it was truncated)") from None
    if not nodes:
        raise DetectorError(f"{source} holds no graph nodes: it is not a TensorFlow GraphDef; pass "
                            "a frozen_inference_graph.pb")
    return nodes


def read_graph_def(path: str | os.PathLike) -> list[NodeDef]:
    """Read a ``.pb`` file's nodes; ``DetectorError`` if it is missing or not a ``GraphDef``."""
    path = Path(path)
    if not path.is_file():
        raise DetectorError(f"TensorFlow graph {path} not found: check the path")
    return parse_graph_def(path.read_bytes(), str(path))


def const_values(nodes: list[NodeDef]) -> dict[str, np.ndarray]:
    """Every float ``Const`` node's value as a float32 array, keyed by node name."""
    out = {}
    for node in nodes:
        value = node.attrs.get("value") if node.op == "Const" else None
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            out[node.name] = value.astype(np.float32, copy=False)
    return out
