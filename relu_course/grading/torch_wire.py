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
``"module"``    a standard ``torch.nn`` layer (:func:`rebuildable`) to rebuild on the other
                side: ``cls``, ``attrs`` (constructor arguments), ``params`` and ``buffers``
                (``[name, tensor or null]``), ``children`` (``[key, module, handle or
                stand-in]``), ``training``; after a call also ``hooks`` (how many),
                ``new`` and ``new_params`` (objects the call replaced, :func:`mark_replaced`)
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
from dataclasses import dataclass, field
from typing import Any

from relu_course.grading import codec
from relu_course.grading.codec import TAG

__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE",
    "TAGS",
    "Decoder",
    "Encoder",
    "ModuleDescription",
    "Opaque",
    "RemoteError",
    "StandIn",
    "apply_module_state",
    "apply_state",
    "apply_tensor_state",
    "as_parameter",
    "dec_module",
    "dec_plain",
    "decode_field",
    "enc_module",
    "enc_plain",
    "enc_stand_in",
    "handle_ref",
    "layers_and_params",
    "mark_replaced",
    "rebuildable",
    "recv_message",
    "send_message",
]

MAX_MESSAGE = 64 * 2**20
MAX_DEPTH = 20
#: The RPC's own tags, on top of :data:`relu_course.grading.codec.TAGS`.
TAGS = frozenset({"module", "handle", "stand-in", "argument", "opaque"})
_MAX_HOOKS = 1 << 16


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


# Standard layers a module description may hold: class name -> constructor attributes.
_ACT = ["inplace"]
_LAYERS: dict[str, list[str]] = {
    "Sequential": [],
    "Linear": ["in_features", "out_features"],
    "Conv1d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups", "padding_mode"],
    "Conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
               "groups", "padding_mode"],
    "ReLU": _ACT, "ReLU6": _ACT, "SiLU": _ACT, "SELU": _ACT, "Hardswish": _ACT, "Mish": _ACT,
    "Tanh": [], "Sigmoid": [], "Identity": [], "Softsign": [],
    "LeakyReLU": ["negative_slope", "inplace"],
    "ELU": ["alpha", "inplace"],
    "CELU": ["alpha", "inplace"],
    "GELU": ["approximate"],
    "Softplus": ["beta", "threshold"],
    "PReLU": ["num_parameters"],
    "Dropout": ["p", "inplace"],
    "Flatten": ["start_dim", "end_dim"],
    "BatchNorm1d": ["num_features", "eps", "momentum", "affine", "track_running_stats"],
    "BatchNorm2d": ["num_features", "eps", "momentum", "affine", "track_running_stats"],
    "LayerNorm": ["normalized_shape", "eps", "elementwise_affine"],
    "MaxPool2d": ["kernel_size", "stride", "padding"],
    "AvgPool2d": ["kernel_size", "stride", "padding"],
}  # fmt: skip
_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


_EXACT = ((bool, bool), (int, int.__index__), (float, float.__float__), (str, str.__str__))


def _plain_attr(v: Any) -> Any:
    """A layer's constructor argument as exact bools, ints, floats, strings or None."""
    if isinstance(v, (tuple, list)) and all(isinstance(e, (bool, int, float)) for e in v):
        return tuple(_plain_attr(e) for e in v)
    for kind, exact in _EXACT:  # a subclass (np.float64, an IntEnum) as its plain value
        if isinstance(v, kind):
            return exact(v)
    if v is None:
        return v
    raise TypeError(f"a layer attribute of type {type(v).__name__} cannot cross")


def _is_attr(v: Any) -> bool:
    if type(v) is tuple:
        return all(type(e) in (bool, int, float) for e in v)
    return v is None or type(v) in (bool, int, float, str)


def rebuildable(m: Any, *, hooks: bool = False) -> bool:
    """True when the module ``m`` itself (not its children) is exactly a standard layer.

    Exactly a ``torch.nn`` class of :data:`_LAYERS`, with no forward replaced on the
    instance and (unless ``hooks``) no hooks: then its description rebuilds the same
    computation from torch's own code.
    """
    from torch import nn

    cls = type(m)
    if cls.__name__ not in _LAYERS or getattr(nn, cls.__name__, None) is not cls:
        return False
    if "forward" in m.__dict__ or "__call__" in m.__dict__:
        return False
    return hooks or not any(getattr(m, h, None) for h in _HOOK_DICTS)


def enc_module(
    m: Any, *, state: bool = False, other: Callable[[Any], Any] | None = None, depth: int = 0
) -> dict[str, Any]:
    """A standard module as a ``"module"`` tagged object (structure, attributes,
    parameters, buffers).

    ``state=True`` also records what a check looks at after a call: gradients, training
    flags and the number of hooks on each module. ``other(child)`` may encode a child
    itself (a remote stand-in, a handle) instead: it returns that encoding or ``None``.
    """
    if depth > MAX_DEPTH:
        raise TypeError("model nested too deeply")
    cls = type(m)
    attrs = {a: codec.encode(_plain_attr(getattr(m, a)))
             for a in _LAYERS.get(cls.__name__, []) if hasattr(m, a)}  # fmt: skip
    children = []
    for key, child in m._modules.items():
        if child is None:
            continue
        special = None if other is None else other(child)
        children.append(
            [key, special or enc_module(child, state=state, other=other, depth=depth + 1)]
        )
    d: dict[str, Any] = {
        TAG: "module",
        "cls": cls.__name__,
        "attrs": attrs,
        "params": [[k, None if v is None else codec.encode_tensor(v, grad=state)]
                   for k, v in m._parameters.items()],
        "buffers": [[k, None if v is None else codec.encode_tensor(v, grad=False)]
                    for k, v in m._buffers.items()],
        "children": children,
        "training": bool(m.training),
    }  # fmt: skip
    if state:
        d["hooks"] = sum(len(getattr(m, h, {}) or {}) for h in _HOOK_DICTS)
    return d


def enc_stand_in(handle: int, m: Any) -> dict[str, Any]:
    """A module that stays in the student's process, as the judge's ``"stand-in"``."""
    return {
        TAG: "stand-in",
        "handle": handle,
        "cls": type(m).__name__,
        "params": [[n, codec.encode_tensor(p, grad=False)] for n, p in m.named_parameters()],
        "buffers": [[n, codec.encode_tensor(b, grad=False)] for n, b in m.named_buffers()],
        "training": bool(m.training),
    }


def handle_ref(handle: int) -> dict[str, Any]:
    """A module in the student's process, by its number, as a ``"handle"``."""
    return {TAG: "handle", "handle": handle}


@dataclass
class ModuleDescription:
    """A decoded ``"module"`` object: tensors decoded, every field checked."""

    cls: str
    attrs: dict[str, Any]
    params: dict[str, Any]
    buffers: dict[str, Any]
    children: dict[str, Any]  # key -> built module, description, or _REMOTE
    training: bool = True
    hooks: int = 0
    new: bool = False
    new_params: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StandIn:
    """A decoded ``"stand-in"``: what the judge needs to call a module that stays remote."""

    handle: int
    cls: str
    params: list[tuple[str, Any]]
    buffers: list[tuple[str, Any]]
    training: bool


_REMOTE = object()  # a layer that stays in the student's process (state after a call)


def _bad(what: str) -> RemoteError:
    return RemoteError(f"bad {what} in a module description")


def _flag(d: Mapping[str, Any], key: str, default: bool) -> bool:
    value = d.get(key, default)
    if type(value) is not bool:
        raise _bad(key)
    return value


def _pairs(raw: Any, what: str) -> list[tuple[str, Any]]:
    if type(raw) is not list or not all(
        type(p) is list and len(p) == 2 and type(p[0]) is str for p in raw
    ):
        raise _bad(what)
    return [(p[0], p[1]) for p in raw]


def _tensors(
    raw: Any, inner: Callable[[Any], Any], what: str, none: bool = True
) -> list[tuple[str, Any]]:
    out = []
    for name, data in _pairs(raw, what):
        if not (data is None and none) and (type(data) is not dict or data.get(TAG) != "tensor"):
            raise _bad(what)
        out.append((name, None if data is None else inner(data)))  # a tensor (codec's tag)
    return out


def _parse_module(d: Mapping[str, Any], inner: Callable[[Any], Any]) -> ModuleDescription:
    """Check a ``"module"`` object; its tensors and children decode through ``inner``."""
    name = d.get("cls")
    if type(name) is not str or name not in _LAYERS:
        raise RemoteError(f"module class {str(name)[:80]!r} cannot be rebuilt")
    raw_attrs = d.get("attrs", {})
    if type(raw_attrs) is not dict:
        raise _bad("attrs")
    attrs = {}
    for key, value in raw_attrs.items():
        if key in _LAYERS[name]:
            attrs[key] = inner(value)
            if not _is_attr(attrs[key]):
                raise _bad(f"{name}.{key}")
    children = {}
    for key, child in _pairs(d.get("children", []), "children"):
        if type(child) is not dict or child.get(TAG) not in ("module", "handle", "stand-in"):
            raise _bad("children")
        children[key] = inner(child)
    hooks = d.get("hooks", 0)
    if type(hooks) is not int or not 0 <= hooks <= _MAX_HOOKS:
        raise _bad("hooks")
    new_params = d.get("new_params", [])
    if type(new_params) is not list or not all(type(k) is str for k in new_params):
        raise _bad("new_params")
    return ModuleDescription(
        cls=name,
        attrs=attrs,
        params=dict(_tensors(d.get("params", []), inner, "params")),
        buffers=dict(_tensors(d.get("buffers", []), inner, "buffers")),
        children=children,
        training=_flag(d, "training", True),
        hooks=hooks,
        new=_flag(d, "new", False),
        new_params=new_params,
    )


def _parse_stand_in(d: Mapping[str, Any], inner: Callable[[Any], Any]) -> StandIn:
    handle, name = d.get("handle"), d.get("cls", "RemoteModule")
    if type(handle) is not int or type(name) is not str:
        raise RemoteError("bad stand-in")
    return StandIn(
        handle=handle,
        cls=name[:80],
        params=_tensors(d.get("params", []), inner, "params", none=False),
        buffers=_tensors(d.get("buffers", []), inner, "buffers", none=False),
        training=_flag(d, "training", True),
    )


def dec_module(desc: ModuleDescription) -> Any:
    """Build a standard torch.nn module from a decoded description (:func:`enc_module`).

    Its children are built already (a stand-in or a handle resolved by the decoder) or
    descriptions themselves; a child that stays remote cannot be rebuilt here.
    """
    from torch import nn

    name, cls = desc.cls, getattr(nn, desc.cls)
    if name != "Sequential" and desc.children:
        raise RemoteError(f"{name} with children cannot be rebuilt")
    children = [(key, dec_module(c) if isinstance(c, ModuleDescription) else c)
                for key, c in desc.children.items()]  # fmt: skip
    if not all(isinstance(c, nn.Module) for _, c in children):
        raise RemoteError("unexpected layer in a model description")
    attrs = dict(desc.attrs)  # none for a Sequential
    if name in ("Linear", "Conv1d", "Conv2d"):
        attrs["bias"] = desc.params.get("bias") is not None
    if name == "LayerNorm" and "bias" in desc.params and desc.params["bias"] is None:
        attrs["bias"] = False
    try:
        m = cls(**attrs)
        for key, child in children:
            m.add_module(key, child)
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise RemoteError(f"{name} cannot be rebuilt: {exc}"[:300]) from None
    if set(desc.params) != set(m._parameters):
        raise RemoteError(f"{name}: parameters {sorted(desc.params)} != {sorted(m._parameters)}")
    for k, v in desc.params.items():
        m._parameters[k] = None if v is None else as_parameter(v)
    if set(desc.buffers) != set(m._buffers):
        raise RemoteError(f"{name}: buffers {sorted(desc.buffers)} != {sorted(m._buffers)}")
    for k, v in desc.buffers.items():
        m._buffers[k] = None if v is None else v.detach()
    m.training = desc.training
    for _ in range(desc.hooks):
        m.register_forward_hook(_noop_hook)
    return m


def _noop_hook(*_: Any) -> None:
    return None


def as_parameter(t: Any) -> Any:
    from torch import nn

    if isinstance(t, nn.Parameter):
        return t
    p = nn.Parameter(t.detach(), requires_grad=t.requires_grad)
    p.grad = t.grad
    return p


_STATE_TAGS = {"module": _parse_module, "handle": lambda d, inner: _REMOTE}


def apply_state(obj: Any, data: Any) -> None:
    """Make the judge's ``obj`` (a call's argument) look like the student's copy after the
    call: ``data`` is its ``"tensor"``, ``"ndarray"`` or ``"module"`` object, untrusted."""
    import numpy as np
    import torch
    from torch import nn

    new = _decoding(lambda: codec.decode(data, tags=_STATE_TAGS, max_depth=MAX_DEPTH))
    if isinstance(obj, torch.Tensor) and isinstance(new, torch.Tensor):
        apply_tensor_state(obj, new)
    elif isinstance(obj, np.ndarray) and type(new) is np.ndarray:
        if new.shape == obj.shape and new.dtype == obj.dtype:
            obj[...] = new
    elif isinstance(obj, nn.Module) and isinstance(new, ModuleDescription):
        if getattr(obj, "remote_handle", None) is None:  # else a stand-in: state is remote
            apply_module_state(obj, new)
    else:
        raise RemoteError(f"the state of a {type(obj).__name__} came back as something else")


def apply_module_state(m: Any, d: ModuleDescription) -> None:
    """Make ``m`` (a standard module) look like the description of its state after a call."""
    import torch

    if d.cls != type(m).__name__:
        raise RemoteError("the call replaced the model's layers")
    if list(d.children) != [k for k, c in m._modules.items() if c is not None]:
        raise RemoteError("the call changed the model's layers")
    for key, child in d.children.items():
        if isinstance(child, ModuleDescription) and child.new:
            m._modules[key] = dec_module(child)  # the call put a new layer there
        elif isinstance(child, ModuleDescription):  # else a stand-in: state is remote
            apply_module_state(m._modules[key], child)
    if set(d.params) != set(m._parameters):
        raise RemoteError("the call changed the model's parameters")
    for key, value in d.params.items():
        p = m._parameters[key]
        if (value is None) != (p is None):
            raise RemoteError("the call changed the model's parameters")
        if p is not None and key in d.new_params:  # a new Parameter object
            m._parameters[key] = as_parameter(value)
        elif p is not None:
            apply_tensor_state(p, value)
    for key, value in d.buffers.items():
        if key in m._buffers and value is not None and m._buffers[key] is not None:
            with torch.no_grad():
                if value.shape == m._buffers[key].shape and value.dtype == m._buffers[key].dtype:
                    m._buffers[key].copy_(value.detach())
    m.training = d.training
    have = sum(len(getattr(m, h)) for h in _HOOK_DICTS)
    for _ in range(max(0, d.hooks - have)):
        m.register_forward_hook(_noop_hook)


def layers_and_params(m: Any, depth: int = 0) -> dict[str, Any] | None:
    """A module's layers and parameters as objects (before a call), to see what it replaced."""
    if depth > MAX_DEPTH:
        return None
    children = {k: layers_and_params(c, depth + 1) for k, c in m._modules.items() if c is not None}
    return {"m": m, "p": dict(m._parameters), "c": children}


def mark_replaced(d: dict[str, Any], m: Any, old: Mapping[str, Any] | None) -> None:
    """Mark in ``d`` (``m``'s ``"module"`` object after a call) each layer (``"new"``) and
    parameter (``"new_params"``) that is a different object than before the call, so that
    the judge's copy is replaced too (a reset "in place" that swaps objects is visible)."""
    if not old or old["m"] is not m:
        return
    d["new_params"] = [k for k, p in m._parameters.items() if p is not old["p"].get(k, p)]
    for key, child in d.get("children", []):
        if child.get(TAG) == "module" and m._modules.get(key) is not None:
            before = old["c"].get(key)
            if before is None or before["m"] is not m._modules[key]:
                child["new"] = True
            else:
                mark_replaced(child, m._modules[key], before)


def apply_tensor_state(t: Any, new: Any) -> None:
    """Make the tensor ``t`` look like ``new`` (its decoded state after a call): values,
    ``requires_grad`` and ``.grad``; ``t`` stays the same object."""
    import torch

    value = torch.Tensor.detach(new)
    with torch.no_grad():
        if value.shape == t.shape and value.dtype == t.dtype:
            if not torch.equal(value, t.detach()):
                t.copy_(value)
        else:
            t.data = value
    if (
        t.is_leaf
        and new.requires_grad != t.requires_grad
        and (t.is_floating_point() or t.is_complex())
    ):
        t.requires_grad_(new.requires_grad)
    if t.is_leaf:
        t.grad = new.grad


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
            m = dec_module(_parse_module(d, inner))
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
            s = _parse_stand_in(d, inner)
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
