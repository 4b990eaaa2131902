"""One wire format for everything that crosses a process boundary while grading.

Grading sends plain JSON between processes, never pickle: a process that ran student code
may send anything, so the receiver decodes every message as untrusted data. JSON has no
arrays, tensors, tuples, bytes or non-finite floats, so those travel as *tagged* objects:
a JSON object whose key :data:`TAG` (``"@type"``) names what it holds.

==================  ==========================================================================
``"@type"``         fields
==================  ==========================================================================
``"ndarray"``       ``dtype`` (a name in :data:`ARRAY_DTYPES`), ``shape`` (list of ints),
                    ``data`` (base64 of the C-order bytes, little-endian)
``"numpy-scalar"``  ``dtype``, ``data`` (a NumPy scalar such as ``np.float32(1.5)``)
``"tensor"``        ``dtype`` (a name in :data:`TENSOR_DTYPES`), ``shape``, ``data``,
                    ``requires_grad``, ``parameter`` and optionally ``grad`` (a tensor)
``"torch-dtype"``   ``name`` (``torch.float32`` -> ``"float32"``)
``"torch-device"``  ``name`` (``"cpu"``)
``"float"``         ``value``: ``"nan"``, ``"inf"`` or ``"-inf"`` (JSON has no such numbers)
``"tuple"``         ``items``: list of values
``"dict"``          ``items``: list of ``[key, value]`` (a dict whose keys are not all
                    strings, or that has a key ``"@type"``)
``"bytes"``         ``data``: base64
==================  ==========================================================================

``None``, booleans, ints, finite floats, strings, lists and dicts with string keys are
plain JSON. A process that needs more tags (an object handle, a module description)
passes ``hook`` to :func:`encode` and ``tags`` to :func:`decode`; its tags may not reuse
these names. Decoding checks every field: dtypes against a whitelist, shapes against the
byte count, a cap on bytes and on nesting; anything else raises :class:`CodecError`.

The encoder binds everything it calls when this module is imported, so student code that
runs later in the same process (the clean runner, :mod:`relu_course.grading.runner`) and
patches ``base64``, ``json`` or NumPy's Python functions does not change what it sends.

Examples
--------
>>> import numpy as np
>>> wire = dumps({"x": np.array([1.0, -0.0, np.nan]), "n": (1, 2)})
>>> back = loads(wire)
>>> back["x"].dtype, back["n"]
(dtype('float64'), (1, 2))
>>> encode(np.float32(0.5))
{'@type': 'numpy-scalar', 'dtype': 'float32', 'data': 'AAAAPw=='}
>>> decode({"@type": "T", "data": ""})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
relu_course.grading.codec.CodecError: unknown wire tag 'T' (known: bytes, dict, ...)
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = [
    "ARRAY_DTYPES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "TAG",
    "TAGS",
    "TENSOR_DTYPES",
    "CodecError",
    "decode",
    "decode_array",
    "decode_tensor",
    "dumps",
    "encode",
    "encode_array",
    "encode_tensor",
    "loads",
    "parse",
]

#: The key that marks a tagged object.
TAG = "@type"
#: NumPy dtypes an array or scalar may have on the wire.
ARRAY_DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
     "float16", "float32", "float64", "complex64", "complex128"}
)  # fmt: skip
#: torch dtypes a tensor may have on the wire.
TENSOR_DTYPES = frozenset(
    {"bool", "int8", "int16", "int32", "int64", "uint8", "float16", "bfloat16", "float32",
     "float64", "complex64", "complex128"}
)  # fmt: skip
#: Default cap on the decoded bytes of arrays, tensors and bytes in one message.
MAX_BYTES = 256 * 2**20
#: Default cap on how deeply values nest.
MAX_DEPTH = 32
_MAX_NDIM = 32

# bound now: code that runs later in this process cannot swap them
_b64encode, _b64decode, _Error = base64.b64encode, base64.b64decode, binascii.Error
_json_dumps, _json_loads = json.dumps, json.loads
_type, _isinstance, _len, _str, _int, _float = type, isinstance, len, str, int, float
_bytes, _bytearray = bytes, bytearray
_ndarray, _generic, _np_dtype = np.ndarray, np.generic, np.dtype
_asarray, _ascontiguousarray, _frombuffer = np.asarray, np.ascontiguousarray, np.frombuffer
_tobytes, _view, _copy = np.ndarray.tobytes, np.ndarray.view, np.ndarray.copy
_isfinite, _prod = math.isfinite, math.prod
_modules = sys.modules
_LITTLE = sys.byteorder == "little"


class CodecError(ValueError):
    """A value that cannot be put on the wire, or a message that is not valid wire data."""


Hook = Callable[[Any], "dict[str, Any] | None"]
TagDecoder = Callable[[Mapping[str, Any], Callable[[Any], Any]], Any]
#: called with each tensor and array :func:`decode` builds (see its ``seen``)
Seen = Callable[[Any], object]


# ----------------------------------------------------------------------------- encode


def encode(
    value: Any, *, hook: Hook | None = None, depth: int = 0, max_depth: int = MAX_DEPTH
) -> Any:
    """``value`` as JSON-ready data (the table in the module docstring).

    ``hook`` is called first on every value that is not plain JSON; a dict it returns
    (a tagged object of its own) is used as it is, ``None`` lets the codec go on. A value
    neither handles, or nesting deeper than ``max_depth`` (the receiver's limit), raises
    :class:`CodecError`.

    Examples
    --------
    >>> encode({"a": [1, 2.5, None], 3: float("inf")})
    {'@type': 'dict', 'items': [['a', [1, 2.5, None]], [3, {'@type': 'float', 'value': 'inf'}]]}
    """
    if depth > max_depth:
        raise CodecError(f"values nest deeper than {max_depth} levels")
    t = _type(value)
    if value is None or t is bool or t is int or t is str:
        return value
    if t is float:
        if _isfinite(value):
            return value
        return {
            TAG: "float",
            "value": "nan" if value != value else ("inf" if value > 0 else "-inf"),
        }
    if hook is not None:
        done = hook(value)
        if done is not None:
            return done

    def inner(v: Any) -> Any:
        return encode(v, hook=hook, depth=depth + 1, max_depth=max_depth)

    if t is list:
        return [inner(v) for v in value]
    if t is tuple:
        return {TAG: "tuple", "items": [inner(v) for v in value]}
    if t is dict:
        if all(_type(k) is str for k in value) and TAG not in value:
            return {k: inner(v) for k, v in value.items()}
        return {TAG: "dict", "items": [[inner(k), inner(v)] for k, v in value.items()]}
    if t is bytes or t is bytearray:
        return {TAG: "bytes", "data": _b64encode(_bytes(value)).decode()}
    if _isinstance(value, (_ndarray, _generic)):
        return encode_array(value)
    torch = _modules.get("torch")
    if torch is not None:
        if torch.Tensor in t.__mro__:
            return encode_tensor(value)
        if t is torch.dtype:
            return {TAG: "torch-dtype", "name": _str(value).removeprefix("torch.")}
        if t is torch.device:
            return {TAG: "torch-device", "name": _str(value)}
    raise CodecError(f"a {t.__module__}.{t.__qualname__} cannot be put on the wire")


def encode_array(a: Any) -> dict[str, Any]:
    """A NumPy array (a subclass becomes a plain array) or scalar as a tagged object.

    Examples
    --------
    >>> encode_array(np.zeros((0, 2), dtype=np.int32))
    {'@type': 'ndarray', 'dtype': 'int32', 'shape': [0, 2], 'data': ''}
    """
    scalar = _isinstance(a, _generic)
    base = _asarray(a) if scalar else _view(a, _ndarray)
    name = base.dtype.name
    if name not in ARRAY_DTYPES:
        raise CodecError(f"a NumPy array of dtype {base.dtype} cannot be put on the wire")
    little = base.dtype.newbyteorder("<")
    data = _b64encode(_tobytes(_ascontiguousarray(base, dtype=little))).decode()
    if scalar:
        return {TAG: "numpy-scalar", "dtype": name, "data": data}
    return {TAG: "ndarray", "dtype": name, "shape": [_int(s) for s in base.shape], "data": data}


def encode_tensor(t: Any, *, grad: bool = True) -> dict[str, Any]:
    """A torch tensor (any subclass, device or layout) as a tagged object, with its
    ``requires_grad``, whether it is an ``nn.Parameter``, and its ``.grad`` (when ``grad``).
    """
    import torch

    with torch._C.DisableTorchFunction():  # a subclass's __torch_function__ does not run
        base = torch.Tensor.detach(t)
        if base.device.type != "cpu":
            base = base.cpu()
        if base.layout != torch.strided:
            base = base.to_dense()
        base = base.resolve_conj().resolve_neg().contiguous()
        name = _str(base.dtype).removeprefix("torch.")
        if name not in TENSOR_DTYPES:
            raise CodecError(f"a tensor of dtype {base.dtype} cannot be put on the wire")
        flat = base.reshape(-1)
        raw = b"" if flat.numel() == 0 else flat.view(torch.uint8).numpy().tobytes()
        out: dict[str, Any] = {
            TAG: "tensor",
            "dtype": name,
            "shape": [_int(s) for s in base.shape],
            "data": _b64encode(_little(raw, base.element_size())).decode(),
            "requires_grad": bool(t.requires_grad),
            "parameter": _isinstance(t, torch.nn.Parameter),
        }
        g = t.grad if grad and t.is_leaf else None
        if g is not None:
            out["grad"] = encode_tensor(g, grad=False)
    return out


def _little(raw: bytes, itemsize: int) -> bytes:
    """Native-order bytes of items of ``itemsize`` bytes in little-endian order."""
    if _LITTLE or itemsize == 1:
        return raw
    return _tobytes(_frombuffer(raw, dtype=f">u{itemsize}").astype(f"<u{itemsize}"))


def dumps(value: Any, *, hook: Hook | None = None) -> bytes:
    """:func:`encode`, then strict JSON (UTF-8, no NaN literals)."""
    return _json_dumps(encode(value, hook=hook), allow_nan=False).encode()


# ----------------------------------------------------------------------------- decode


class _Decoder:
    def __init__(
        self, tags: Mapping[str, TagDecoder], max_bytes: int, max_depth: int, seen: Seen | None
    ) -> None:
        clash = set(tags) & set(_DECODERS)
        if clash:
            raise ValueError(f"wire tags {sorted(clash)} are the codec's own")
        self.tags, self.left, self.max_depth = dict(tags), max_bytes, max_depth
        self.seen = seen

    def raw(self, data: Any, size: int | None = None) -> bytes:
        if _type(data) is not str:
            raise CodecError(f"expected base64 text, got {_type(data).__name__}")
        if _len(data) > 4 * (self.left // 3 + 1):
            raise CodecError("the message holds more bytes than allowed")
        try:
            raw = _b64decode(data, validate=True)
        except (_Error, ValueError) as exc:
            raise CodecError(f"bad base64 data: {exc}") from None
        self.left -= _len(raw)
        if self.left < 0:
            raise CodecError("the message holds more bytes than allowed")
        if size is not None and _len(raw) != size:
            raise CodecError(f"expected {size} bytes, got {_len(raw)}")
        return raw

    def __call__(self, data: Any, depth: int = 0) -> Any:
        if depth > self.max_depth:
            raise CodecError(f"values nest deeper than {self.max_depth} levels")
        t = _type(data)
        if data is None or t is bool or t is int or t is str:
            return data
        if t is float:
            if not _isfinite(data):
                raise CodecError("a non-finite float must be a tagged object")
            return data
        if t is list:
            return [self(v, depth + 1) for v in data]
        if t is not dict:
            raise CodecError(f"{t.__name__} is not wire data")
        if TAG not in data:
            return {k: self(v, depth + 1) for k, v in data.items()}
        tag = data[TAG]
        if _type(tag) is str and tag in _DECODERS:
            value = _DECODERS[tag](self, data, depth)
            if self.seen is not None and (tag == "tensor" or tag == "ndarray"):
                self.seen(value)
            return value
        if _type(tag) is str and tag in self.tags:
            return self.tags[tag](data, lambda v: self(v, depth + 1))
        known = ", ".join(sorted({*_DECODERS, *self.tags}))
        raise CodecError(f"unknown wire tag {tag!r} (known: {known})")


def decode(
    data: Any,
    *,
    tags: Mapping[str, TagDecoder] | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
    seen: Seen | None = None,
) -> Any:
    """Rebuild a value from :func:`encode`'s data, checking it as untrusted.

    ``tags`` maps a caller's own tag names to ``decoder(fields, decode_inner)``. Raises
    :class:`CodecError` on anything that is not valid wire data: an unknown tag, a
    dtype off the whitelist, a shape that does not match the bytes, more than
    ``max_bytes`` of array data, nesting deeper than ``max_depth``.

    ``seen``, when given, is called with each tensor and NumPy array built from a
    ``"tensor"`` or ``"ndarray"`` object, in the order they occur in ``data`` (depth first,
    also inside a caller's tags when they decode through ``decode_inner``; never a
    tensor's ``grad``, never a NumPy scalar). A process that must find those very objects
    again (to apply a call's changes to them) records them here instead of walking the
    result a second time.

    Examples
    --------
    >>> decode({"@type": "tuple", "items": [1, {"@type": "float", "value": "-inf"}]})
    (1, -inf)
    >>> met = []
    >>> wire = encode([np.zeros(2), {"b": np.ones(1)}, np.float64(3.0)])
    >>> _ = decode(wire, seen=met.append)
    >>> [a.tolist() for a in met]
    [[0.0, 0.0], [1.0]]
    """
    return _Decoder(tags or {}, max_bytes, max_depth, seen)(data)


def loads(
    wire: bytes | str,
    *,
    tags: Mapping[str, TagDecoder] | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """:func:`parse`, then :func:`decode`."""
    return decode(parse(wire), tags=tags, max_bytes=max_bytes, max_depth=max_depth)


def parse(wire: bytes | str) -> Any:
    """Strict JSON text (no ``NaN`` or ``Infinity`` literals) as plain data, not yet decoded.

    For a process that decodes the parts of a message itself (:func:`decode`, each with
    its own tags); :func:`loads` is ``decode(parse(wire))``.

    Examples
    --------
    >>> parse(b'{"x": [1, 2.5]}')
    {'x': [1, 2.5]}
    >>> parse("[NaN]")
    Traceback (most recent call last):
    ...
    relu_course.grading.codec.CodecError: NaN is not JSON: non-finite floats are tagged objects
    """

    def no_constants(name: str) -> Any:
        raise CodecError(f"{name} is not JSON: non-finite floats are tagged objects")

    try:
        return _json_loads(wire, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        if _isinstance(exc, CodecError):
            raise
        raise CodecError(f"not JSON: {exc}"[:300]) from None


def _shape(d: Mapping[str, Any]) -> list[int]:
    shape = d.get("shape")
    if (
        _type(shape) is not list
        or _len(shape) > _MAX_NDIM
        or any(_type(s) is not int or s < 0 for s in shape)
    ):
        raise CodecError(f"bad shape {shape!r}")
    return shape


def _dtype(d: Mapping[str, Any], allowed: frozenset[str]) -> str:
    name = d.get("dtype")
    if name not in allowed:
        raise CodecError(f"dtype {name!r} may not cross the wire")
    return name


def _array(dec: _Decoder, d: Mapping[str, Any], scalar: bool = False) -> Any:
    dtype = _np_dtype(_dtype(d, ARRAY_DTYPES)).newbyteorder("<")
    shape = [] if scalar else _shape(d)
    raw = dec.raw(d.get("data"), dtype.itemsize * _prod(shape))
    a = _frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))
    return a[()] if scalar else a


def decode_array(d: Mapping[str, Any], *, max_bytes: int = MAX_BYTES) -> Any:
    """The NumPy array (or scalar) of one ``"ndarray"``/``"numpy-scalar"`` tagged object."""
    if d.get(TAG) not in ("ndarray", "numpy-scalar"):
        raise CodecError(f"expected an ndarray, got {d.get(TAG)!r}")
    return decode(d, max_bytes=max_bytes)


def _tensor(dec: _Decoder, d: Mapping[str, Any], depth: int = 0) -> Any:
    import torch

    name = _dtype(d, TENSOR_DTYPES)
    dtype = getattr(torch, name)
    shape = _shape(d)
    itemsize = torch.empty((), dtype=dtype).element_size()
    raw = _little(dec.raw(d.get("data"), itemsize * _prod(shape)), itemsize)
    if not raw:
        t = torch.zeros(shape, dtype=dtype)
    else:
        t = torch.frombuffer(_bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()
    requires_grad = d.get("requires_grad", False)
    if _type(requires_grad) is not bool or _type(d.get("parameter", False)) is not bool:
        raise CodecError("requires_grad and parameter must be booleans")
    if requires_grad and not (t.is_floating_point() or t.is_complex()):
        raise CodecError(f"a {name} tensor cannot require gradients")
    if d.get("parameter"):
        t = torch.nn.Parameter(t, requires_grad=requires_grad)
    elif requires_grad:
        t.requires_grad_(True)
    if "grad" in d:
        g = d["grad"]
        if _type(g) is not dict or g.get(TAG) != "tensor" or "grad" in g:
            raise CodecError("a tensor's grad must be a tensor without a grad")
        t.grad = _tensor(dec, g, depth + 1)
    return t


def decode_tensor(d: Mapping[str, Any], *, max_bytes: int = MAX_BYTES) -> Any:
    """The torch tensor of one ``"tensor"`` tagged object."""
    if d.get(TAG) != "tensor":
        raise CodecError(f"expected a tensor, got {d.get(TAG)!r}")
    return decode(d, max_bytes=max_bytes)


def _nonfinite(dec: _Decoder, d: Mapping[str, Any], depth: int) -> float:
    value = d.get("value")
    if value not in ("nan", "inf", "-inf"):
        raise CodecError(f"bad float {value!r}")
    return _float(value)


def _items(d: Mapping[str, Any]) -> list[Any]:
    items = d.get("items")
    if _type(items) is not list:
        raise CodecError(f"{d.get(TAG)} items must be a list")
    return items


def _pairs(dec: _Decoder, d: Mapping[str, Any], depth: int) -> dict[Any, Any]:
    out = {}
    for pair in _items(d):
        if _type(pair) is not list or _len(pair) != 2:
            raise CodecError("dict items must be [key, value] pairs")
        key = dec(pair[0], depth + 1)
        try:
            out[key] = dec(pair[1], depth + 1)
        except TypeError:
            raise CodecError(f"a dict key of type {_type(key).__name__} is not hashable") from None
    return out


def _torch_dtype(dec: _Decoder, d: Mapping[str, Any], depth: int) -> Any:
    import torch

    name = d.get("name")
    if name not in TENSOR_DTYPES:
        raise CodecError(f"torch dtype {name!r} may not cross the wire")
    return getattr(torch, name)


def _torch_device(dec: _Decoder, d: Mapping[str, Any], depth: int) -> Any:
    import torch

    name = d.get("name")
    try:
        return torch.device(name)
    except (RuntimeError, TypeError):
        raise CodecError(f"bad torch device {name!r}") from None


_DECODERS: dict[str, Callable[[_Decoder, Mapping[str, Any], int], Any]] = {
    "ndarray": lambda dec, d, depth: _array(dec, d),
    "numpy-scalar": lambda dec, d, depth: _array(dec, d, scalar=True),
    "tensor": _tensor,
    "torch-dtype": _torch_dtype,
    "torch-device": _torch_device,
    "float": _nonfinite,
    "tuple": lambda dec, d, depth: tuple(dec(v, depth + 1) for v in _items(d)),
    "dict": _pairs,
    "bytes": lambda dec, d, depth: dec.raw(d.get("data")),
}
#: The codec's own tag names.
TAGS = frozenset(_DECODERS)
