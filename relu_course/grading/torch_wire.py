"""The wire between the judge and the student's process in the ps2-ps4 re-verification.

Everything crosses as JSON, never pickle, and is decoded as untrusted data (dtype
whitelist, shape and size caps, nesting depth). Tags: ``{"T": tensor}`` (dtype, shape,
raw bytes, requires_grad, Parameter, .grad), ``{"N": array}``, ``{"S": NumPy scalar}``,
``{"L": list}``, ``{"U": tuple}``, ``{"D": [[key, value], ...]}``, ``{"M": module
description}`` (standard ``torch.nn`` layers only), ``{"H": handle}`` and ``{"R": stand-in
description}`` (a module that stays in the student's process), ``{"A": index of an
argument}`` (a result that is an argument), ``{"V": device}``, ``{"Y": dtype}``,
``{"O": type name of an object that cannot cross}``. (Data loaders no longer cross: the
dead-unit check that fed one to the student's detector now observes in the student's
process.) A check's
observations (:func:`enc_plain`) travel in the grading codec
(:mod:`relu_course.grading.codec`, named tags such as ``"tensor"``), the format of the ps1
runner too; the object calls still use the tags above. Messages on a pipe are
length-prefixed (:func:`send_message`, :func:`recv_message`).
"""

from __future__ import annotations

import base64
import json
import math
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from relu_course.grading import codec

__all__ = [
    "MAX_DEPTH",
    "MAX_MESSAGE",
    "Decoder",
    "Encoder",
    "Opaque",
    "RemoteError",
    "apply_module_state",
    "apply_tensor_state",
    "as_parameter",
    "layers_and_params",
    "mark_replaced",
    "b64",
    "dec_array",
    "dec_module",
    "dec_plain",
    "dec_tensor",
    "enc_array",
    "enc_module",
    "enc_plain",
    "enc_tensor",
    "rebuildable",
    "recv_message",
    "send_message",
]

MAX_MESSAGE = 64 * 2**20
MAX_DEPTH = 20


class RemoteError(RuntimeError):
    """The student process failed to answer a call (it died, hung or sent garbage)."""


_DTYPES = (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
    "uint8", "bool", "complex64", "complex128",
)  # fmt: skip


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _tensor_bytes(t: Any) -> bytes:
    import torch

    flat = t.reshape(-1)
    if flat.numel() == 0:
        return b""
    return flat.view(torch.uint8).numpy().tobytes()


def enc_tensor(t: Any, *, grad: bool = True) -> dict[str, Any]:
    """A tensor as plain data: dtype, shape, raw bytes, requires_grad, Parameter, .grad."""
    import torch
    from torch import nn

    with torch._C.DisableTorchFunction():
        base = torch.Tensor.detach(t)
        if base.device.type != "cpu":
            base = base.cpu()
        if base.layout != torch.strided:
            base = base.to_dense()
        base = base.contiguous()
        d: dict[str, Any] = {
            "dt": str(base.dtype).removeprefix("torch."),
            "sh": list(base.shape),
            "b": b64(_tensor_bytes(base)),
            "rg": bool(t.requires_grad),
            "p": isinstance(t, nn.Parameter),
        }
        g = t.grad if grad and t.is_leaf else None
        if g is not None:
            d["g"] = enc_tensor(g, grad=False)
    return {"T": d}


def dec_tensor(d: Mapping[str, Any]) -> Any:
    """Rebuild a tensor from :func:`enc_tensor`'s data, checking it as untrusted."""
    import torch
    from torch import nn

    dtype_name = d.get("dt")
    if dtype_name not in _DTYPES:
        raise RemoteError(f"a tensor of dtype {dtype_name!r} cannot cross")
    dtype = getattr(torch, dtype_name)
    shape = [int(s) for s in d.get("sh", [])]
    if any(s < 0 for s in shape) or len(shape) > 8:
        raise RemoteError(f"bad tensor shape {shape}")
    raw = base64.b64decode(d.get("b", ""))
    numel = 1
    for s in shape:
        numel *= s
    size = torch.empty((), dtype=dtype).element_size()
    if len(raw) != numel * size:
        raise RemoteError(f"tensor of shape {shape} and dtype {dtype_name}: {len(raw)} bytes")
    if numel == 0:
        t = torch.empty(shape, dtype=dtype)
    else:
        t = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype).reshape(shape).clone()
    if d.get("p"):
        t = nn.Parameter(t, requires_grad=bool(d.get("rg")))
    elif d.get("rg") and (t.is_floating_point() or t.is_complex()):
        t.requires_grad_(True)
    if "g" in d:
        t.grad = dec_tensor(d["g"]["T"])
    return t


def enc_array(a: Any) -> dict[str, Any]:
    """A NumPy array (or scalar) of a numeric dtype as plain data: dtype, shape, raw bytes."""
    import numpy as np

    scalar = isinstance(a, np.generic)
    base = np.asarray(a) if scalar else np.ndarray.view(a, np.ndarray)
    if base.dtype.kind not in "biufc":
        raise TypeError(f"a NumPy {base.dtype} value cannot cross")
    data = {
        "dt": base.dtype.str,
        "sh": list(base.shape),
        "b": b64(np.ascontiguousarray(base).tobytes()),
    }
    return {"S": data} if scalar else {"N": data}


def dec_array(d: Mapping[str, Any]) -> Any:
    """Rebuild :func:`enc_array`'s array, checking it as untrusted."""
    import numpy as np

    try:
        dtype = np.dtype(str(d.get("dt")))
    except TypeError as exc:
        raise RemoteError(f"bad dtype {d.get('dt')!r}") from exc
    if dtype.kind not in "biufc" or dtype.hasobject:
        raise RemoteError(f"a NumPy {dtype} value cannot cross")
    shape = [int(s) for s in d.get("sh", [])]
    raw = base64.b64decode(d.get("b", ""))
    if (
        any(s < 0 for s in shape)
        or len(shape) > 32
        or len(raw) != dtype.itemsize * math.prod(shape)
    ):
        raise RemoteError(f"array of shape {shape} and dtype {dtype}: {len(raw)} bytes")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


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
    try:
        return _observation(codec.decode(v, max_depth=MAX_DEPTH))
    except codec.CodecError as exc:
        raise RemoteError(f"bad observation: {exc}") from None


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


def _plain_attr(v: Any) -> Any:
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, (tuple, list)) and all(isinstance(e, (bool, int, float)) for e in v):
        return list(v)
    raise TypeError(type(v).__name__)


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
    """A standard module as plain data (structure, attributes, parameters, buffers).

    ``state=True`` also records what a check looks at after a call: gradients, training
    flags and the number of hooks on each module. ``other(child)`` may encode a child
    itself (a remote stand-in, a handle) instead: it returns that encoding or ``None``.
    """
    if depth > MAX_DEPTH:
        raise TypeError("model nested too deeply")
    cls = type(m)
    attrs = {a: _plain_attr(getattr(m, a)) for a in _LAYERS.get(cls.__name__, []) if hasattr(m, a)}
    children = []
    for key, child in m._modules.items():
        if child is None:
            continue
        special = None if other is None else other(child)
        children.append(
            [key, special or enc_module(child, state=state, other=other, depth=depth + 1)]
        )
    d: dict[str, Any] = {
        "cls": cls.__name__,
        "attrs": attrs,
        "params": [[k, None if v is None else enc_tensor(v, grad=state)]
                   for k, v in m._parameters.items()],
        "buffers": [[k, None if v is None else enc_tensor(v, grad=False)]
                    for k, v in m._buffers.items()],
        "children": children,
        "training": bool(m.training),
    }  # fmt: skip
    if state:
        d["hooks"] = sum(len(getattr(m, h, {}) or {}) for h in _HOOK_DICTS)
    return {"M": d}


def dec_module(
    d: Mapping[str, Any], resolve: Callable[[Mapping[str, Any]], Any] | None = None,
    depth: int = 0,
) -> Any:  # fmt: skip
    """Build a standard torch.nn module from :func:`enc_module`'s description.

    Children that are not descriptions (a remote stand-in, a handle) go to ``resolve``.
    """
    from torch import nn

    if depth > MAX_DEPTH:
        raise RemoteError("module description nested too deeply")
    name = d.get("cls")
    if name not in _LAYERS:
        raise RemoteError(f"module class {name!r} cannot be rebuilt")
    cls = getattr(nn, name)
    attrs = {k: v for k, v in dict(d.get("attrs", {})).items() if k in _LAYERS[name]}
    attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in attrs.items()}
    params = {k: v for k, v in d.get("params", [])}
    if name == "Sequential":
        m = cls()
        for key, child in d.get("children", []):
            if isinstance(child, dict) and "M" in child:
                sub = dec_module(child["M"], resolve, depth + 1)
            elif resolve is not None:
                sub = resolve(child)
            else:
                raise RemoteError("unexpected layer in a model description")
            m.add_module(str(key), sub)
    else:
        if name in ("Linear", "Conv1d", "Conv2d"):
            attrs["bias"] = params.get("bias") is not None
        if name == "LayerNorm" and "bias" in params and params["bias"] is None:
            attrs["bias"] = False
        m = cls(**attrs)
        if d.get("children"):
            raise RemoteError(f"{name} with children cannot be rebuilt")
    if set(params) != set(m._parameters):
        raise RemoteError(f"{name}: parameters {sorted(params)} != {sorted(m._parameters)}")
    for k, v in params.items():
        m._parameters[k] = None if v is None else as_parameter(dec_tensor(v["T"]))
    buffers = {k: v for k, v in d.get("buffers", [])}
    if set(buffers) != set(m._buffers):
        raise RemoteError(f"{name}: buffers {sorted(buffers)} != {sorted(m._buffers)}")
    for k, v in buffers.items():
        m._buffers[k] = None if v is None else dec_tensor(v["T"]).detach()
    m.training = bool(d.get("training", True))
    for _ in range(int(d.get("hooks", 0) or 0)):
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


def apply_module_state(m: Any, d: Mapping[str, Any], depth: int = 0) -> None:
    """Make ``m`` (a standard module) look like the description of its state after a call."""
    import torch

    if depth > MAX_DEPTH or d.get("cls") != type(m).__name__:
        raise RemoteError("the call replaced the model's layers")
    children = dict(d.get("children", []))
    if list(children) != [k for k, c in m._modules.items() if c is not None]:
        raise RemoteError("the call changed the model's layers")
    for key, child in children.items():
        if isinstance(child, dict) and "M" in child and child["M"].get("new"):
            m._modules[key] = dec_module(child["M"])  # the call put a new layer there
        elif isinstance(child, dict) and "M" in child:  # else a stand-in: state is remote
            apply_module_state(m._modules[key], child["M"], depth + 1)
    params = dict(d.get("params", []))
    if set(params) != set(m._parameters):
        raise RemoteError("the call changed the model's parameters")
    for key, value in params.items():
        p = m._parameters[key]
        if (value is None) != (p is None):
            raise RemoteError("the call changed the model's parameters")
        if p is not None and key in d.get("new_params", ()):  # a new Parameter object
            m._parameters[key] = as_parameter(dec_tensor(value["T"]))
        elif p is not None:
            apply_tensor_state(p, value["T"])
    for key, value in dict(d.get("buffers", [])).items():
        if key in m._buffers and value is not None and m._buffers[key] is not None:
            with torch.no_grad():
                new = dec_tensor(value["T"])
                if new.shape == m._buffers[key].shape and new.dtype == m._buffers[key].dtype:
                    m._buffers[key].copy_(new)
    m.training = bool(d.get("training", m.training))
    have = sum(len(getattr(m, h)) for h in _HOOK_DICTS)
    for _ in range(max(0, int(d.get("hooks", 0) or 0) - have)):
        m.register_forward_hook(_noop_hook)


def layers_and_params(m: Any, depth: int = 0) -> dict[str, Any] | None:
    """A module's layers and parameters as objects (before a call), to see what it replaced."""
    if depth > MAX_DEPTH:
        return None
    children = {k: layers_and_params(c, depth + 1) for k, c in m._modules.items() if c is not None}
    return {"m": m, "p": dict(m._parameters), "c": children}


def mark_replaced(d: dict[str, Any], m: Any, old: Mapping[str, Any] | None) -> None:
    """Mark in ``d`` (``m``'s description after a call) each layer (``"new"``) and
    parameter (``"new_params"``) that is a different object than before the call, so that
    the judge's copy is replaced too (a reset "in place" that swaps objects is visible)."""
    if not old or old["m"] is not m:
        return
    d["new_params"] = [k for k, p in m._parameters.items() if p is not old["p"].get(k, p)]
    for key, child in d.get("children", []):
        if isinstance(child, dict) and "M" in child and m._modules.get(key) is not None:
            before = old["c"].get(key)
            if before is None or before["m"] is not m._modules[key]:
                child["M"]["new"] = True
            else:
                mark_replaced(child["M"], m._modules[key], before)


def apply_tensor_state(t: Any, d: Mapping[str, Any]) -> None:
    import torch

    new = dec_tensor(dict(d, p=False, rg=False))
    with torch.no_grad():
        if new.shape == t.shape and new.dtype == t.dtype:
            if not torch.equal(new, t.detach()):
                t.copy_(new)
        else:
            t.data = new
    if (
        t.is_leaf
        and bool(d.get("rg")) != t.requires_grad
        and (t.is_floating_point() or t.is_complex())
    ):
        t.requires_grad_(bool(d.get("rg")))
    if t.is_leaf:
        t.grad = dec_tensor(d["g"]["T"]) if "g" in d else None


def _judge_child(child: Any) -> Any:
    """How the judge sends a layer of a model: inline, or the handle of a stand-in."""
    if getattr(child, "remote_handle", None) is not None:
        return {"H": child.remote_handle}
    if not rebuildable(child, hooks=True):
        raise TypeError(f"a {type(child).__name__} layer cannot be sent to the student")
    return None


class Encoder:
    """Encoding context: the tensors/modules met, in order (for identity and state)."""

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

    def __call__(self, v: Any, depth: int = 0) -> Any:
        import numpy as np
        import torch
        from torch import nn

        if depth > MAX_DEPTH:
            raise TypeError("value nested too deeply")
        for i, ref in enumerate(self.refs):
            if v is ref:
                return {"A": i}
        if v is None or type(v) in (bool, int, str, float):
            return v
        if isinstance(v, np.ndarray) and (self.reverse or type(v) is np.ndarray):
            self.objs.append(v)
            return enc_array(v)
        if isinstance(v, np.generic) and v.dtype.kind in "biufc":
            return enc_array(v)
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, float):
            return float.__float__(v) if type(v) is not float else v
        if isinstance(v, int) and type(v) is not int:
            return {"O": f"{type(v).__module__}.{type(v).__qualname__}", "v": int.__index__(v)}
        if isinstance(v, torch.Tensor):
            self.objs.append(v)
            return enc_tensor(v)
        if isinstance(v, (list, tuple)) and type(v) in (list, tuple):
            tag = "L" if type(v) is list else "U"
            return {tag: [self(e, depth + 1) for e in v]}
        if type(v) is dict and all(type(k) is str for k in v):
            return {"D": [[k, self(e, depth + 1)] for k, e in v.items()]}
        if isinstance(v, torch.device):
            return {"V": str(v)}
        if isinstance(v, torch.dtype):
            return {"Y": str(v).removeprefix("torch.")}
        if isinstance(v, nn.Module):
            self.objs.append(v)
            if self.reverse:  # the student's result: rebuilt where standard, else remote
                if rebuildable(v):
                    return enc_module(v, state=True, other=self.remote_child)
                return self.handles(v)
            if getattr(v, "remote_handle", None) is not None:
                return {"H": v.remote_handle}
            return enc_module(v, state=True, other=_judge_child)
        if self.handles is not None:
            return {"O": f"{type(v).__module__}.{type(v).__qualname__}"}
        raise TypeError(f"a {type(v).__name__} cannot be sent to the student process")


class Opaque:
    """A value of the student's that cannot cross as data (shown by its type name only)."""

    def __init__(self, type_name: str, value: Any = None) -> None:
        self.type_name = type_name
        self.value = value

    def __repr__(self) -> str:
        return f"<{self.type_name} object from the student's process>"


class Decoder:
    """Decoding context: mirror of :class:`Encoder` on the other side."""

    def resolve(self, v: Mapping[str, Any]) -> Any:
        """A module that is not a description: a stand-in (judge) or a handle (student)."""
        if "R" in v and self.remote is not None:
            return self.remote(v["R"])
        if "H" in v and self.handles is not None:
            return self.handles[int(v["H"])]
        raise RemoteError("unexpected module reference")

    def __init__(self, refs: Sequence[Any] = (), remote: Callable[[Mapping], Any] | None = None,
                 handles: Mapping[int, Any] | None = None) -> None:  # fmt: skip
        self.objs: list[Any] = []
        self.refs = list(refs)
        self.remote = remote  # judge side: builds proxies for {"R": ...} descriptions
        self.handles = handles  # student side: handle -> object

    def __call__(self, v: Any, depth: int = 0) -> Any:
        import torch

        if depth > MAX_DEPTH:
            raise RemoteError("value nested too deeply")
        if v is None or type(v) in (bool, int, float, str):
            return v
        if type(v) is not dict or len(v) == 0:
            raise RemoteError(f"unexpected value {type(v).__name__}")
        tag = next(iter(v))
        if tag == "A":
            return self.refs[int(v["A"])]
        if tag == "T":
            t = dec_tensor(v["T"])
            self.objs.append(t)
            return t
        if tag == "N":
            a = dec_array(v["N"])
            self.objs.append(a)
            return a
        if tag == "S":
            a = dec_array(v["S"])
            if a.ndim != 0:
                raise RemoteError("a NumPy scalar with a shape")
            return a[()]
        if tag == "L":
            return [self(e, depth + 1) for e in v["L"]]
        if tag == "U":
            return tuple(self(e, depth + 1) for e in v["U"])
        if tag == "D":
            return {str(k): self(e, depth + 1) for k, e in v["D"]}
        if tag == "V":
            return torch.device(str(v["V"]))
        if tag == "Y":
            name = str(v["Y"])
            if name not in _DTYPES:
                raise RemoteError(f"dtype {name!r}")
            return getattr(torch, name)
        if tag == "M":
            m = dec_module(v["M"], self.resolve)
            self.objs.append(m)
            return m
        if tag == "H":
            m = self.resolve(v)
            self.objs.append(m)
            return m
        if tag == "R":
            m = self.resolve(v)
            self.objs.append(m)
            return m
        if tag == "O":
            return Opaque(str(v["O"])[:200], v.get("v"))
        raise RemoteError(f"unknown tag {tag!r}")


# ============================================================================ pipes


def send_message(fd: int, obj: Any) -> None:
    data = json.dumps(obj, allow_nan=True).encode()
    data = struct.pack(">Q", len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def recv_message(fd: int) -> Any:
    head = _read_exact(fd, 8)
    (size,) = struct.unpack(">Q", head)
    if size > MAX_MESSAGE:
        raise RemoteError(f"the student process sent {size} bytes (limit {MAX_MESSAGE})")
    return json.loads(_read_exact(fd, size))


def _read_exact(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise RemoteError("the student process closed the connection (it died or exited)")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
