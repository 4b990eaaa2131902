"""The wire between the judge and the student's process in the ps2-ps4 re-verification.

Everything crosses as strict JSON in the one grading codec (:mod:`relu_course.grading.codec`),
never pickle, and is decoded as untrusted data (dtype whitelist, shape and size caps,
nesting depth; a bad message raises :class:`RemoteError`). Values use the codec's own
tags (``"tensor"`` with its dtype, shape, bytes, ``requires_grad``, Parameter and ``.grad``;
``"ndarray"``, ``"numpy-scalar"``, ``"tuple"``, ``"dict"``, ``"float"`` for NaN and
infinities, ``"torch-dtype"``, ``"torch-device"``, ``"bytes"``); what only this object
RPC needs are its own tags, added through the codec's ``hook`` and ``tags``:

==============  =============================================================================
``"@type"``     fields
==============  =============================================================================
``"module"``    a standard ``torch.nn`` layer (:func:`.torch_layers.rebuildable`) to rebuild
                on the other side: ``cls``, ``attrs`` (constructor arguments), ``params``
                and ``buffers`` (``[name, tensor or null]``), ``children`` (``[key,
                module, handle or stand-in]``), ``training``; after a call also ``hooks``,
                ``new`` and ``new_params`` (objects the call replaced); built and applied
                by :mod:`.torch_layers`
``"handle"``    ``handle``: a module that lives in the student's process, by number
``"stand-in"``  a module the judge cannot rebuild: ``handle``, ``cls``, ``params``,
                ``buffers``, ``training``; the judge calls it through the pipe
``"argument"``  ``index``: the result is that argument of the call (the same object)
``"opaque"``    ``type`` (and ``value`` for an int subclass): a value of the student's that
                cannot cross
==============  =============================================================================

Both sides record, in order, each tensor, array and module of a call's arguments
(:attr:`Encoder.objs`, :attr:`Decoder.objs`), so that the student's changes to them come
back as states (:func:`apply_state`) onto the judge's own objects. A check's observations
(:func:`enc_plain`) are plain codec data, the format of the ps1 runner too. Messages on a
pipe are length-prefixed (:func:`send_message`, :func:`recv_message`).

Examples
--------
>>> import torch
>>> from torch import nn
>>> enc = Encoder()
>>> wire = enc([torch.ones(2), nn.ReLU()])
>>> [w["@type"] for w in wire], len(enc.objs)
(['tensor', 'module'], 2)
>>> dec = Decoder()
>>> x, layer = dec(wire)
>>> type(layer).__name__, [type(o).__name__ for o in dec.objs]
('ReLU', ['Tensor', 'ReLU'])
>>> Decoder()({"@type": "H", "handle": 1})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
relu_course.grading.torch_wire.RemoteError: bad data ...: unknown wire tag 'H' (known: argument, ...
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from relu_course.grading import codec
from relu_course.grading.codec import TAG
from relu_course.grading.torch_layers import (
    MAX_DEPTH,
    STATE_TAGS,
    ModuleDescription,
    StandIn,
    apply_module_state,
    apply_tensor_state,
    dec_module,
    enc_module,
    parse_module,
    parse_stand_in,
    rebuildable,
)

__all__ = [
    "MAX_MESSAGE",
    "TAGS",
    "Decoder",
    "Encoder",
    "Opaque",
    "RemoteError",
    "apply_state",
    "dec_plain",
    "decode_field",
    "enc_plain",
    "handle_ref",
    "recv_message",
    "send_message",
]

MAX_MESSAGE = 64 * 2**20
#: The RPC's own tags, on top of :data:`relu_course.grading.codec.TAGS`.
TAGS = frozenset({"module", "handle", "stand-in", "argument", "opaque"})


class RemoteError(RuntimeError):
    """The student process failed to answer a call (it died, hung or sent garbage)."""


def decode_field(data: Any, kind: type | tuple[type, ...]) -> Any:
    """One field of a message that is plain codec data (a random state, a gradient), not a
    call's value: decoded as untrusted data and checked to be a ``kind``."""
    value = _decoding(lambda: codec.decode(data, max_depth=MAX_DEPTH))
    if not isinstance(value, kind):
        raise RemoteError(f"the other process sent a {type(value).__name__} where it may not")
    return value


def _decoding(decode: Callable[[], Any]) -> Any:
    try:
        return decode()
    except codec.CodecError as exc:
        raise RemoteError(f"bad data from the other process: {exc}") from None


def enc_plain(v: Any) -> Any:
    """An observation (:func:`relu_course.checks_torch_core.is_plain`) on the grading
    wire: :func:`relu_course.grading.codec.encode`, the format every grading process uses."""
    from relu_course.checks_torch_core import is_plain

    if not is_plain(v):
        raise TypeError(f"a {type(v).__name__} holding more than plain data is not an observation")
    return codec.encode(v)


def dec_plain(v: Any) -> Any:
    """Rebuild :func:`enc_plain`'s observation, checking it as untrusted data: the codec's
    checks, then nothing but None, bools, numbers, strings, tensors, lists and str-keyed
    dicts (a tuple, an array or bytes is not an observation)."""
    return _observation(_decoding(lambda: codec.decode(v, max_depth=MAX_DEPTH)))


def _observation(v: Any, depth: int = 0) -> Any:
    import torch

    if depth > MAX_DEPTH:
        raise RemoteError("observation nested too deeply")
    if v is None or type(v) in (bool, int, float, str):
        return v
    if isinstance(v, torch.Tensor):
        return torch.Tensor.detach(v)
    if type(v) is list:
        return [_observation(e, depth + 1) for e in v]
    if type(v) is dict and all(type(k) is str for k in v):
        return {k: _observation(e, depth + 1) for k, e in v.items()}
    raise RemoteError(f"a {type(v).__name__} is not an observation")


def handle_ref(handle: int) -> dict[str, Any]:
    """A module in the student's process, by its number, as a ``"handle"``."""
    return {TAG: "handle", "handle": handle}


def apply_state(obj: Any, data: Any) -> None:
    """Make the judge's ``obj`` (a call's argument) look like the student's copy after the
    call: ``data`` is its ``"tensor"``, ``"ndarray"`` or ``"module"`` object, untrusted."""
    import numpy as np
    import torch
    from torch import nn

    new = _decoding(lambda: codec.decode(data, tags=STATE_TAGS, max_depth=MAX_DEPTH))
    if isinstance(obj, torch.Tensor) and isinstance(new, torch.Tensor):
        apply_tensor_state(obj, new)
    elif isinstance(obj, np.ndarray) and type(new) is np.ndarray:
        if new.shape == obj.shape and new.dtype == obj.dtype:
            obj[...] = new
    elif isinstance(obj, nn.Module) and isinstance(new, ModuleDescription):
        if getattr(obj, "remote_handle", None) is None:  # else a stand-in: state is remote
            _decoding(lambda: apply_module_state(obj, new))
    else:
        raise RemoteError(f"the state of a {type(obj).__name__} came back as something else")


def _judge_child(child: Any) -> Any:
    """How the judge sends a layer of a model: inline, or the handle of a stand-in."""
    if getattr(child, "remote_handle", None) is not None:
        return handle_ref(child.remote_handle)
    if not rebuildable(child, hooks=True):
        raise TypeError(f"a {type(child).__name__} layer cannot be sent to the student")
    return None


def _type_name(v: Any) -> str:
    return f"{type(v).__module__}.{type(v).__qualname__}"


class Encoder:
    """Encoding context: the tensors, arrays and modules met, in order (:attr:`objs`, for
    identity and state), and the objects a result may be identical to (:attr:`refs`)."""

    def __init__(
        self, handles: Callable[[Any], Any] | None = None, *, reverse: bool = False
    ) -> None:
        self.objs: list[Any] = []
        self.refs: list[Any] = []  # objects a result may be identical to (by index)
        self.handles = handles  # student side: describes a module that stays remote
        self.reverse = reverse

    def remote_child(self, child: Any) -> Any:
        """Student side: a layer the judge cannot rebuild stays remote (a stand-in)."""
        return None if rebuildable(child) else self.handles(child)  # type: ignore[misc]

    def __call__(self, v: Any) -> Any:
        """``v`` as codec data; a value that cannot cross raises ``TypeError`` (judge)
        or becomes ``"opaque"`` (student)."""
        try:
            return codec.encode(v, hook=self.hook, max_depth=MAX_DEPTH)
        except codec.CodecError as exc:
            raise TypeError(str(exc)) from None

    def hook(self, v: Any) -> dict[str, Any] | None:
        """The codec's ``hook``: this RPC's tags, and what the codec must not see."""
        import numpy as np
        import torch
        from torch import nn

        for i, ref in enumerate(self.refs):
            if v is ref:
                return {TAG: "argument", "index": i}
        t = type(v)
        if t in (list, tuple, dict, bytes, bytearray, torch.device):
            return None  # the codec's own (a subclass is not)
        if torch.Tensor in t.__mro__:
            self.objs.append(v)
            return codec.encode_tensor(v)
        if isinstance(v, (np.ndarray, np.generic)) and v.dtype.name in codec.ARRAY_DTYPES:
            if isinstance(v, np.generic):
                return codec.encode_array(v)
            if self.reverse or t is np.ndarray:
                self.objs.append(v)
                return codec.encode_array(v)
        elif t is torch.dtype and str(v).removeprefix("torch.") in codec.TENSOR_DTYPES:
            return None
        elif isinstance(v, float):
            return codec.encode(float.__float__(v))
        elif isinstance(v, int):
            return {TAG: "opaque", "type": _type_name(v), "value": int.__index__(v)}
        elif isinstance(v, nn.Module):
            self.objs.append(v)
            if self.reverse:  # the student's result: rebuilt where standard, else remote
                if rebuildable(v):
                    return enc_module(v, state=True, other=self.remote_child)
                return self.handles(v)  # type: ignore[misc]
            if getattr(v, "remote_handle", None) is not None:
                return handle_ref(v.remote_handle)
            return enc_module(v, state=True, other=_judge_child)
        if self.handles is not None:
            return {TAG: "opaque", "type": _type_name(v)}
        raise TypeError(f"a {t.__name__} cannot be sent to the student process")


class Opaque:
    """A value of the student's that cannot cross as data (shown by its type name only)."""

    def __init__(self, type_name: str, value: Any = None) -> None:
        self.type_name = type_name
        self.value = value

    def __repr__(self) -> str:
        return f"<{self.type_name} object from the student's process>"


def _opaque(d: Mapping[str, Any], inner: Callable[[Any], Any]) -> Opaque:
    name, value = d.get("type"), d.get("value")
    if type(name) is not str or (value is not None and type(value) is not int):
        raise RemoteError("bad opaque value")
    return Opaque(name[:200], value)


class Decoder:
    """Decoding context, mirror of :class:`Encoder`: :attr:`objs` records each tensor,
    array and module decoded (not those inside a module description), in order."""

    def __init__(self, refs: Sequence[Any] = (), remote: Callable[[StandIn], Any] | None = None,
                 handles: Mapping[int, Any] | None = None) -> None:  # fmt: skip
        self.objs: list[Any] = []
        self.refs = list(refs)
        self.remote = remote  # judge side: builds proxies for "stand-in" objects
        self.handles = handles  # student side: handle -> object
        self.quiet = 0  # > 0 inside a module or stand-in: its parts are not arguments
        self.tags = {"module": self.module, "handle": self.handle, "stand-in": self.stand_in,
                     "argument": self.argument, "opaque": _opaque}  # fmt: skip

    def __call__(self, v: Any) -> Any:
        return _decoding(
            lambda: codec.decode(v, tags=self.tags, max_depth=MAX_DEPTH, seen=self.seen)
        )

    def seen(self, obj: Any) -> None:
        if not self.quiet:
            self.objs.append(obj)

    def module(self, d: Mapping[str, Any], inner: Callable[[Any], Any]) -> Any:
        self.quiet += 1
        try:
            m = dec_module(parse_module(d, inner))
        finally:
            self.quiet -= 1
        self.seen(m)
        return m

    def handle(self, d: Mapping[str, Any], inner: Callable[[Any], Any]) -> Any:
        h = d.get("handle")
        if self.handles is None or type(h) is not int or h not in self.handles:
            raise RemoteError("unexpected module reference")
        self.seen(self.handles[h])
        return self.handles[h]

    def stand_in(self, d: Mapping[str, Any], inner: Callable[[Any], Any]) -> Any:
        if self.remote is None:
            raise RemoteError("unexpected module reference")
        self.quiet += 1
        try:
            s = parse_stand_in(d, inner)
        finally:
            self.quiet -= 1
        try:
            m = self.remote(s)
        except (TypeError, ValueError, KeyError) as exc:  # e.g. a parameter name with a dot
            raise RemoteError(f"bad stand-in: {exc}"[:300]) from None
        self.seen(m)
        return m

    def argument(self, d: Mapping[str, Any], inner: Callable[[Any], Any]) -> Any:
        i = d.get("index")
        if type(i) is not int or not 0 <= i < len(self.refs):
            raise RemoteError(f"no argument {str(i)[:20]}")
        return self.refs[i]


# ============================================================================ pipes


def send_message(fd: int, obj: Any) -> None:
    """Write ``obj`` (JSON-ready data) to ``fd`` as strict JSON after its length."""
    data = json.dumps(obj, allow_nan=False).encode()
    data = struct.pack(">Q", len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def recv_message(fd: int) -> Any:
    """Read one message of :func:`send_message` (at most :data:`MAX_MESSAGE` bytes)."""
    head = _read_exact(fd, 8)
    (size,) = struct.unpack(">Q", head)
    if size > MAX_MESSAGE:
        raise RemoteError(f"the student process sent {size} bytes (limit {MAX_MESSAGE})")
    return _decoding(lambda: codec.parse(_read_exact(fd, size)))


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise RemoteError("the student process closed the connection (it died or exited)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
