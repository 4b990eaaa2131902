"""Standard ``torch.nn`` layers as data, for the object RPC of the ps2-ps4 re-verification.

A model made only of standard layers (:func:`rebuildable`: exactly a ``torch.nn`` class of
:data:`LAYERS`, forward not replaced) crosses between the judge and the student's process
as a description (:func:`enc_module`, the ``"module"`` tag of :mod:`.torch_wire`): class,
constructor arguments, parameters and buffers (as the grading codec's tensors), children,
training flag. The receiver checks it (:func:`parse_module`) and builds the layers with
torch's own code (:func:`dec_module`). After a call, the student's copy comes back as the
same kind of description, and :func:`apply_module_state` makes the judge's own model look
like it: values, gradients, flags, hooks, and a layer or Parameter that the call replaced
by a new object (:func:`mark_replaced`). A layer the judge cannot rebuild stays in the
student's process (:func:`enc_stand_in`, :class:`StandIn`).

Bad data raises :class:`relu_course.grading.codec.CodecError` (as any bad wire data);
:mod:`.torch_wire` turns it into its ``RemoteError``.

Examples
--------
>>> from torch import nn
>>> d = enc_module(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
>>> d["@type"], d["cls"], [key for key, _ in d["children"]]
('module', 'Sequential', ['0', '1'])
>>> rebuildable(nn.ReLU()), rebuildable(nn.Module())
(True, False)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relu_course.grading import codec
from relu_course.grading.codec import TAG, CodecError

__all__ = [
    "LAYERS",
    "MAX_DEPTH",
    "STATE_TAGS",
    "ModuleDescription",
    "StandIn",
    "apply_module_state",
    "apply_tensor_state",
    "as_parameter",
    "dec_module",
    "enc_module",
    "enc_stand_in",
    "layers_and_params",
    "mark_replaced",
    "parse_module",
    "parse_stand_in",
    "rebuildable",
]

#: How deeply a model's layers (and the object RPC's values) may nest.
MAX_DEPTH = 20
_MAX_HOOKS = 1 << 16

_ACT = ["inplace"]
#: Standard layers a module description may hold: class name -> constructor attributes.
LAYERS: dict[str, list[str]] = {
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

    Exactly a ``torch.nn`` class of :data:`LAYERS`, with no forward replaced on the
    instance and (unless ``hooks``) no hooks: then its description rebuilds the same
    computation from torch's own code.
    """
    from torch import nn

    cls = type(m)
    if cls.__name__ not in LAYERS or getattr(nn, cls.__name__, None) is not cls:
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
             for a in LAYERS.get(cls.__name__, []) if hasattr(m, a)}  # fmt: skip
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


def _bad(what: str) -> CodecError:
    return CodecError(f"bad {what} in a module description")


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


def parse_module(d: Mapping[str, Any], inner: Callable[[Any], Any]) -> ModuleDescription:
    """Check a ``"module"`` object; its tensors and children decode through ``inner``."""
    name = d.get("cls")
    if type(name) is not str or name not in LAYERS:
        raise CodecError(f"module class {str(name)[:80]!r} cannot be rebuilt")
    raw_attrs = d.get("attrs", {})
    if type(raw_attrs) is not dict:
        raise _bad("attrs")
    attrs = {}
    for key, value in raw_attrs.items():
        if key in LAYERS[name]:
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


def parse_stand_in(d: Mapping[str, Any], inner: Callable[[Any], Any]) -> StandIn:
    handle, name = d.get("handle"), d.get("cls", "RemoteModule")
    if type(handle) is not int or type(name) is not str:
        raise CodecError("bad stand-in")
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
        raise CodecError(f"{name} with children cannot be rebuilt")
    children = [(key, dec_module(c) if isinstance(c, ModuleDescription) else c)
                for key, c in desc.children.items()]  # fmt: skip
    if not all(isinstance(c, nn.Module) for _, c in children):
        raise CodecError("unexpected layer in a model description")
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
        raise CodecError(f"{name} cannot be rebuilt: {exc}"[:300]) from None
    if set(desc.params) != set(m._parameters):
        raise CodecError(f"{name}: parameters {sorted(desc.params)} != {sorted(m._parameters)}")
    for k, v in desc.params.items():
        m._parameters[k] = None if v is None else as_parameter(v)
    if set(desc.buffers) != set(m._buffers):
        raise CodecError(f"{name}: buffers {sorted(desc.buffers)} != {sorted(m._buffers)}")
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


STATE_TAGS = {"module": parse_module, "handle": lambda d, inner: _REMOTE}
"""``codec.decode`` tags for a model's state after a call: descriptions, not modules."""


def apply_module_state(m: Any, d: ModuleDescription) -> None:
    """Make ``m`` (a standard module) look like the description of its state after a call."""
    import torch

    if d.cls != type(m).__name__:
        raise CodecError("the call replaced the model's layers")
    if list(d.children) != [k for k, c in m._modules.items() if c is not None]:
        raise CodecError("the call changed the model's layers")
    for key, child in d.children.items():
        if isinstance(child, ModuleDescription) and child.new:
            m._modules[key] = dec_module(child)  # the call put a new layer there
        elif isinstance(child, ModuleDescription):  # else a stand-in: state is remote
            apply_module_state(m._modules[key], child)
    if set(d.params) != set(m._parameters):
        raise CodecError("the call changed the model's parameters")
    for key, value in d.params.items():
        p = m._parameters[key]
        if (value is None) != (p is None):
            raise CodecError("the call changed the model's parameters")
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
