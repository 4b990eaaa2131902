"""Clean re-verification of the torch questions (ps2-ps4): the test runs where no student code ran.

The verdict of a torch question (``he_normal_``, ``build_mlp``, ``LeakyReLUFunction``,
``train_digits_model``, ...) comes from its instructor test cell, hidden tests included.
nbgrader runs that cell in the student's kernel, after the student's code: a notebook can
patch ``torch.allclose`` or :mod:`relu_course.checks_torch`, push a ``TorchFunctionMode``,
return a tensor subclass that fakes every comparison, or rewrite the test cell before it
runs. Here the verdict is computed again by two processes forked, per question, from a
harness that never runs student code (one sandbox per submission):

* the **judge** runs the release's setup cells and the instructor's test cell (from the
  source notebook, hidden tests included). It never runs a line of student code. Each
  student name the test uses (``build_mlp``, ``PReLU``, ...) is bound to a *proxy*;
* the **student** process runs the setup cells and the student's own cells for the
  question (the solution cell and the cells it needs; never the test or scratch cells)
  and serves the proxies' calls. As in the notebook, the earlier answers a question
  builds on are then the course's (``checks_torch.COURSE_PARTS``), and each call is
  watched for what the notebook forbids (``checks_torch.STATED_RULES``).

Every call crosses a pipe as plain data (JSON; tensors as dtype, shape and raw bytes;
never pickle): the arguments, torch's random-number state and grad mode go to the student
process; the result, the arguments' state after the call (tensor values, a model's
parameters, gradients, training flags and hooks) and the random state come back. So the
judge sees exactly what the student's code computed, and decides with its own, untouched
torch, numpy and checks. Modules returned by the student are rebuilt in the judge from
their parameters when they are made of standard ``torch.nn`` layers (so the judge trains
and measures them itself); any other module, a student's ``nn.Module`` class and a
``torch.autograd.Function`` stay in the student process, and the judge calls their
forward and backward through the pipe (:class:`RemoteModule`, autograd bridge).

Forging a verdict would need the judge's memory: it is a separate process, made
non-dumpable before any student code starts (no ``ptrace``, no ``/proc/<pid>/mem``),
and it decodes the student's replies as untrusted data (dtype whitelist, size caps). The
student process can kill the judge or stall it: then the question fails.

Limits (documented in SECURITY.md): a model whose own class is the student's is judged
through its forward calls only, so a test that inspects its layers fails it (layers of
the student's own classes inside a standard ``nn.Sequential`` are fine: they become
stand-ins); a model that looks the test images up in a copy of the dataset passes.
"""

from __future__ import annotations

import base64
import json
import math
import os
import select
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from relu_course.grading.sandbox import Limits

__all__ = [
    "JOB_SECONDS",
    "TORCH_LIMITS",
    "RemoteError",
    "torch_jobs",
    "verify_torch_questions",
]

#: Seconds one question may take (both processes; the student's code included).
JOB_SECONDS = 240
TORCH_LIMITS = Limits(memory_bytes=4 * 2**30, cpu_seconds=1200, wall_seconds=600, nproc=32)
_MAX_MSG = 64 * 2**20
_MAX_DEPTH = 20


class RemoteError(RuntimeError):
    """The student process failed to answer a call (it died, hung or sent garbage)."""


# ============================================================================ codec
# Shared by both processes. Encoding: JSON with tagged objects {"T": tensor}, {"L": list},
# {"U": tuple}, {"D": [[key, value], ...]}, {"M": module description}, {"H": handle},
# {"A": index of an argument}, {"DL": data loader}, {"V": device}, {"Y": dtype},
# {"O": type name of an object that cannot cross}.

_DTYPES = (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8",
    "uint8", "bool", "complex64", "complex128",
)  # fmt: skip


def _b64(data: bytes) -> str:
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
            "b": _b64(_tensor_bytes(base)),
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
        "b": _b64(np.ascontiguousarray(base).tobytes()),
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
    if depth > _MAX_DEPTH:
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

    if depth > _MAX_DEPTH:
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
        m._parameters[k] = None if v is None else _as_param(dec_tensor(v["T"]))
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


def _as_param(t: Any) -> Any:
    from torch import nn

    if isinstance(t, nn.Parameter):
        return t
    p = nn.Parameter(t.detach(), requires_grad=t.requires_grad)
    p.grad = t.grad
    return p


def _apply_module_state(m: Any, d: Mapping[str, Any], depth: int = 0) -> None:
    """Make ``m`` (a standard module) look like the description of its state after a call."""
    import torch

    if depth > _MAX_DEPTH or d.get("cls") != type(m).__name__:
        raise RemoteError("the call replaced the model's layers")
    children = dict(d.get("children", []))
    if list(children) != [k for k, c in m._modules.items() if c is not None]:
        raise RemoteError("the call changed the model's layers")
    for key, child in children.items():
        if isinstance(child, dict) and "M" in child and child["M"].get("new"):
            m._modules[key] = dec_module(child["M"])  # the call put a new layer there
        elif isinstance(child, dict) and "M" in child:  # else a stand-in: state is remote
            _apply_module_state(m._modules[key], child["M"], depth + 1)
    params = dict(d.get("params", []))
    if set(params) != set(m._parameters):
        raise RemoteError("the call changed the model's parameters")
    for key, value in params.items():
        p = m._parameters[key]
        if (value is None) != (p is None):
            raise RemoteError("the call changed the model's parameters")
        if p is not None and key in d.get("new_params", ()):  # a new Parameter object
            m._parameters[key] = _as_param(dec_tensor(value["T"]))
        elif p is not None:
            _apply_tensor_state(p, value["T"])
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


def _layers_and_params(m: Any, depth: int = 0) -> dict[str, Any] | None:
    """A module's layers and parameters as objects (before a call), to see what it replaced."""
    if depth > _MAX_DEPTH:
        return None
    children = {k: _layers_and_params(c, depth + 1) for k, c in m._modules.items() if c is not None}
    return {"m": m, "p": dict(m._parameters), "c": children}


def _mark_replaced(d: dict[str, Any], m: Any, old: Mapping[str, Any] | None) -> None:
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
                _mark_replaced(child["M"], m._modules[key], before)


def _apply_tensor_state(t: Any, d: Mapping[str, Any]) -> None:
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
    if getattr(child, "_remote_handle", None) is not None:
        return {"H": child._remote_handle}
    if not rebuildable(child, hooks=True):
        raise TypeError(f"a {type(child).__name__} layer cannot be sent to the student")
    return None


class _Enc:
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
        from torch.utils.data import DataLoader

        if depth > _MAX_DEPTH:
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
            if getattr(v, "_remote_handle", None) is not None:
                return {"H": v._remote_handle}
            return enc_module(v, state=True, other=_judge_child)
        if isinstance(v, DataLoader) and not self.reverse:
            return _enc_loader(v, self)
        if self.handles is not None:
            return {"O": f"{type(v).__module__}.{type(v).__qualname__}"}
        raise TypeError(f"a {type(v).__name__} cannot be sent to the student process")


def _enc_loader(loader: Any, enc: _Enc) -> dict[str, Any]:
    from torch.utils.data import SequentialSampler, TensorDataset

    if not isinstance(loader.dataset, TensorDataset) or not isinstance(
        loader.sampler, SequentialSampler
    ):
        raise TypeError("only DataLoader(TensorDataset(...)) without shuffling can cross")
    return {
        "DL": {
            "tensors": [enc_tensor(t) for t in loader.dataset.tensors],
            "bs": loader.batch_size,
            "drop": bool(loader.drop_last),
        }
    }


class Opaque:
    """A value of the student's that cannot cross as data (shown by its type name only)."""

    def __init__(self, type_name: str, value: Any = None) -> None:
        self.type_name = type_name
        self.value = value

    def __repr__(self) -> str:
        return f"<{self.type_name} object from the student's process>"


class _Dec:
    """Decoding context: mirror of :class:`_Enc` on the other side."""

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
        from torch.utils.data import DataLoader, TensorDataset

        if depth > _MAX_DEPTH:
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
        if tag == "DL":
            if self.handles is None:
                raise RemoteError("unexpected data loader")
            d = v["DL"]
            tensors = [dec_tensor(t["T"]) for t in d["tensors"]]
            return DataLoader(TensorDataset(*tensors), batch_size=d["bs"], drop_last=d["drop"])
        if tag == "O":
            return Opaque(str(v["O"])[:200], v.get("v"))
        raise RemoteError(f"unknown tag {tag!r}")


# ============================================================================ pipes


def _send(fd: int, obj: Any) -> None:
    data = json.dumps(obj, allow_nan=True).encode()
    data = struct.pack(">Q", len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def _recv(fd: int) -> Any:
    head = _read_exact(fd, 8)
    (size,) = struct.unpack(">Q", head)
    if size > _MAX_MSG:
        raise RemoteError(f"the student process sent {size} bytes (limit {_MAX_MSG})")
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


# ============================================================================ judge side


class _Link:
    """The judge's end of the pipe: every call to student code goes through here."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self.shared: bytes | None = None  # the random state both processes hold

    def request(self, req: dict[str, Any]) -> dict[str, Any]:
        """Send one request and read the reply; torch's random state travels both ways
        (only when it changed: an activation layer called 10,000 times draws nothing)."""
        import torch

        now = torch.get_rng_state().numpy().tobytes()
        if now != self.shared:
            req["rng"] = _b64(now)
        req["grad"] = torch.is_grad_enabled()
        _send(self.wfd, req)
        rep = _recv(self.rfd)
        if type(rep) is not dict:
            raise RemoteError("the student process sent an invalid reply")
        self.shared = now
        rng = rep.get("rng")
        if rng is not None:
            state = base64.b64decode(rng)
            if len(state) != len(now):
                raise RemoteError("the student process sent a bad random state")
            torch.set_rng_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
            self.shared = state
        return rep

    def _finish(self, rep: Mapping[str, Any], enc: _Enc) -> Any:
        post = rep.get("post") or []
        for obj, state in zip(enc.objs, post, strict=False):
            if state is None:
                continue
            if "T" in state:
                _apply_tensor_state(obj, state["T"])
            elif "N" in state:
                new = dec_array(state["N"])
                if new.shape == obj.shape and new.dtype == obj.dtype:
                    obj[...] = new
            elif "M" in state and getattr(obj, "_remote_handle", None) is None:
                _apply_module_state(obj, state["M"])
        if "err" in rep:
            raise _student_exception(rep["err"])
        dec = _Dec(refs=enc.refs, remote=self.remote_module)
        return dec(rep.get("ok"))

    def call(self, handle: int, args: tuple, kwargs: dict) -> Any:
        enc = _Enc()
        a, k = enc(list(args)), enc(dict(kwargs))
        enc.refs = list(enc.objs)
        rep = self.request({"op": "call", "h": handle, "a": a, "k": k})
        return self._finish(rep, enc)

    def apply(self, handle: int, args: tuple, kwargs: dict, module: Any = None) -> Any:
        """A differentiable call: ``Function.apply`` or a remote module's forward."""
        import torch

        enc = _Enc()
        a, k = enc(list(args)), enc(dict(kwargs))
        enc.refs = list(enc.objs)
        inputs = [o for o in enc.objs if isinstance(o, torch.Tensor)]
        req: dict[str, Any] = {"op": "apply", "h": handle, "a": a, "k": k}
        params: list[Any] = []
        if module is not None:
            names = [n for n, _ in module.named_parameters()]
            params = [p for _, p in module.named_parameters()]
            req["params"] = [
                [n, enc_tensor(p, grad=False)] for n, p in zip(names, params, strict=True)
            ]
            req["training"] = bool(module.training)
        rep = self.request(req)
        result = self._finish(rep, enc)
        gid = rep.get("gid")
        everything = inputs + params
        if (
            gid is not None
            and isinstance(result, torch.Tensor)
            and torch.is_grad_enabled()
            and any(t.requires_grad for t in everything)
        ):
            result = _Bridge.apply(self, int(gid), result.detach(), *everything)
        return result

    def backward(self, gid: int, grad: Any, inputs: Sequence[Any]) -> list[Any]:
        rep = self.request({"op": "backward", "gid": gid, "g": enc_tensor(grad, grad=False)})
        if "err" in rep:
            raise _student_exception(rep["err"])
        grads = [None if g is None else dec_tensor(g["T"]).detach() for g in rep.get("ok", [])]
        if len(grads) != len(inputs):
            raise RemoteError("backward returned the wrong number of gradients")
        out = []
        for g, t in zip(grads, inputs, strict=True):
            if g is not None and (g.shape != t.shape or not t.requires_grad):
                raise RuntimeError(
                    f"backward returned a gradient of shape {tuple(g.shape)} for an input of "
                    f"shape {tuple(t.shape)}"
                )
            out.append(None if g is None else g.to(t.dtype))
        return out

    def remote_module(self, d: Mapping[str, Any]) -> Any:
        return _remote_module(self, d)


def _student_exception(err: Any) -> BaseException:
    name, message = (list(err) + ["", ""])[:2] if isinstance(err, list) else ("Error", str(err))
    name = "".join(c for c in str(name) if c.isalnum() or c == "_")[:60] or "Error"
    builtin = getattr(__import__("builtins"), name, None)
    if (
        isinstance(builtin, type)
        and issubclass(builtin, Exception)
        and not issubclass(builtin, (StopIteration, StopAsyncIteration))
    ):  # the same type the notebook saw (a check may catch RuntimeError, say)
        try:
            return builtin(str(message)[:2000])
        except TypeError:  # e.g. UnicodeDecodeError needs more arguments
            pass
    cls = type(name, (Exception,), {"__module__": "student"})
    return cls(str(message)[:2000])


def _bridge_class() -> type:
    import torch
    from torch.autograd.function import once_differentiable

    class Bridge(torch.autograd.Function):
        """Connects a value computed in the student process to the judge's autograd graph."""

        @staticmethod
        def forward(ctx: Any, link: _Link, gid: int, y: Any, *inputs: Any) -> Any:
            ctx.link, ctx.gid, ctx.shapes = link, gid, [(t.shape, t.dtype) for t in inputs]
            ctx.rg = [t.requires_grad for t in inputs]
            return y.clone()

        @staticmethod
        @once_differentiable
        def backward(ctx: Any, grad: Any) -> Any:
            fakes = [_Shape(s, d, rg) for (s, d), rg in zip(ctx.shapes, ctx.rg, strict=True)]
            return (None, None, None, *ctx.link.backward(ctx.gid, grad.contiguous(), fakes))

    return Bridge


class _Shape:
    def __init__(self, shape: Any, dtype: Any, requires_grad: bool) -> None:
        self.shape, self.dtype, self.requires_grad = shape, dtype, requires_grad


class _LazyBridge:
    def __getattr__(self, name: str) -> Any:
        global _Bridge
        _Bridge = _bridge_class()  # type: ignore[assignment]
        return getattr(_Bridge, name)


_Bridge: Any = _LazyBridge()


def _remote_module(link: _Link, d: Mapping[str, Any]) -> Any:
    """A judge-side stand-in for a module that lives in the student process."""
    from torch import nn

    class RemoteModule(nn.Module):
        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return link.apply(self._remote_handle, args, kwargs, module=self)

    RemoteModule.__name__ = RemoteModule.__qualname__ = str(d.get("cls", "RemoteModule"))[:80]
    m = RemoteModule()
    object.__setattr__(m, "_remote_handle", int(d["h"]))
    for kind in ("params", "buffers"):
        for name, value in d.get(kind, []):
            *path, leaf = str(name).split(".")
            owner = m
            for part in path:
                if part not in owner._modules:
                    owner.add_module(part, nn.Module())
                owner = owner._modules[part]
            t = dec_tensor(value["T"])
            if kind == "params":
                owner.register_parameter(leaf, _as_param(t))
            else:
                owner.register_buffer(leaf, t.detach())
    m.train(bool(d.get("training", True)))
    return m


def _bind(link: _Link, name: str, info: Mapping[str, Any]) -> Any:
    """The judge's stand-in for the student's ``name``."""
    kind = info.get("kind")
    if kind == "value":
        return _Dec(remote=link.remote_module)(info.get("v"))
    handle = int(info["h"])
    if kind == "autograd":

        def apply(*args: Any, **kwargs: Any) -> Any:
            return link.apply(handle, args, kwargs)

        return type(name, (), {"apply": staticmethod(apply), "__module__": "student"})

    def proxy(*args: Any, **kwargs: Any) -> Any:
        return link.call(handle, args, kwargs)

    proxy.__name__ = proxy.__qualname__ = name
    return proxy


class _NoIPython:
    """``get_ipython()`` where there is no IPython: magics and ``!`` lines do nothing."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None


def _namespace() -> dict[str, Any]:
    """A fresh ``__main__`` namespace, with stand-ins for the names IPython provides."""
    shell = _NoIPython()
    return {"__name__": "__main__", "get_ipython": lambda: shell, "display": shell}


def _exec_statements(source: str, ns: dict[str, Any], label: str) -> list[str]:
    """Run a cell one top-level statement at a time; return the errors."""
    import ast

    errors = []
    try:
        body = ast.parse(source).body
    except SyntaxError as exc:
        return [f"{label}: SyntaxError: {exc}"]
    for stmt in body:
        try:
            exec(compile(ast.Module(body=[stmt], type_ignores=[]), label, "exec"), ns)  # noqa: S102
        except BaseException as exc:  # noqa: BLE001 - a failing line does not stop the rest
            errors.append(f"{label}: {type(exc).__name__}: {exc}"[:500])
    return errors


def _judge(job: Mapping[str, Any], link: _Link) -> dict[str, Any]:
    """Run the setup cells and the test cell with the student's names bound to proxies."""
    import traceback

    ns = _namespace()
    setup_errors: list[str] = []
    for i, cell in enumerate(job["setup"]):
        setup_errors += _exec_statements(cell, ns, f"<setup {i}>")
    hello = link.request({"op": "hello"})
    if "err" in hello:
        raise _student_exception(hello["err"])
    for name, info in dict(hello.get("names", {})).items():
        if name in job["names"] and isinstance(info, dict) and info.get("kind") != "missing":
            ns[name] = _bind(link, name, info)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(job["test"], "<test cell>", "exec"), ns)  # noqa: S102
    except BaseException as exc:  # noqa: BLE001 - any exception fails the test cell
        lines = traceback.format_exception_only(type(exc), exc)
        message = "".join(lines).strip()
        missing = [n for n, i in dict(hello.get("names", {})).items() if i.get("kind") == "missing"]
        if missing:
            message += f" (not defined by the submission: {', '.join(missing)})"
        if hello.get("errors"):
            message += " | the submission's cells raised: " + " / ".join(hello["errors"][:3])
        return {"passed": False, "message": message[:3000]}
    return {"passed": True, "message": ""}


# ============================================================================ student side


class _Server:
    """The student process: runs the student's cells and serves the judge's calls."""

    def __init__(self, job: Mapping[str, Any]) -> None:
        self.job = job
        self.objs: dict[int, Any] = {}
        self.ids: dict[int, int] = {}
        self.graphs: dict[int, tuple[Any, list[Any]]] = {}
        self.ns = _namespace()
        self.errors: list[str] = []
        # Taken before any student code runs: the notebook's stated rules, watched during
        # every call, and the course's own earlier parts, as the test cell uses them.
        from relu_course import checks_torch

        self.rules = checks_torch.stated_rules
        self.parts = {n: dict(checks_torch.COURSE_PARTS.get(n, {})) for n in job["names"]}

    def handle_of(self, obj: Any) -> int:
        key = id(obj)
        if key not in self.ids:
            self.ids[key] = len(self.objs) + 1
            self.objs[self.ids[key]] = obj
        return self.ids[key]

    def describe(self, m: Any) -> dict[str, Any]:
        """A module the judge cannot rebuild: a handle plus its parameters and buffers."""
        return {
            "R": {
                "h": self.handle_of(m),
                "cls": type(m).__name__,
                "params": [[n, enc_tensor(p, grad=False)] for n, p in m.named_parameters()],
                "buffers": [[n, enc_tensor(b, grad=False)] for n, b in m.named_buffers()],
                "training": bool(m.training),
            }
        }

    def hello(self) -> dict[str, Any]:
        import torch
        from torch import nn

        for i, cell in enumerate(self.job["setup"]):
            _exec_statements(cell, self.ns, f"<setup {i}>")
        for label, cell in self.job["cells"]:
            self.errors += _exec_statements(cell, self.ns, f"<{label}>")
        for parts in self.parts.values():  # as checks_torch.course_parts does in the notebook
            self.ns.update(parts)
        names: dict[str, Any] = {}
        for name in self.job["names"]:
            if name not in self.ns:
                names[name] = {"kind": "missing"}
                continue
            obj = self.ns[name]
            if isinstance(obj, type) and issubclass(obj, torch.autograd.Function):
                names[name] = {"kind": "autograd", "h": self.handle_of(obj)}
            elif callable(obj) and not isinstance(obj, nn.Module):
                names[name] = {"kind": "callable", "h": self.handle_of(obj)}
            else:
                names[name] = {"kind": "value", "v": self.encoder()(obj)}
        return {"names": names, "errors": self.errors[:5]}

    def placeholder(self, child: Any) -> Any:
        """After a call: a layer the judge holds as a stand-in is not described again."""
        return None if rebuildable(child, hooks=True) else {"H": self.handle_of(child)}

    def encoder(self, refs: Sequence[Any] = ()) -> _Enc:
        enc = _Enc(handles=lambda m: self.describe(m), reverse=True)
        enc.refs = list(refs)
        return enc

    def post(self, objs: Sequence[Any], before: Sequence[Any]) -> list[Any]:
        """The state of each tensor/array/module argument after the call (None: unchanged)."""
        import numpy as np
        import torch
        from torch import nn

        out: list[Any] = []
        for obj, old in zip(objs, before, strict=True):
            if isinstance(obj, torch.Tensor):
                now = enc_tensor(obj)
                out.append(None if now == old else now)
            elif isinstance(obj, np.ndarray):
                now = enc_array(obj)
                out.append(None if now == old else now)
            elif isinstance(obj, nn.Module) and rebuildable(obj, hooks=True):
                now = enc_module(obj, state=True, other=self.placeholder)
                _mark_replaced(now["M"], obj, old)
                out.append(now)
            else:
                out.append(None)
        return out

    def call(self, req: Mapping[str, Any], differentiable: bool) -> dict[str, Any]:
        import numpy as np
        import torch
        from torch import nn

        target = self.objs[int(req["h"])]
        dec = _Dec(handles=self.objs)
        args, kwargs = dec(req["a"]), dec(req["k"])
        objs = list(dec.objs)
        before = [
            enc_tensor(o)
            if isinstance(o, torch.Tensor)
            else enc_array(o)
            if isinstance(o, np.ndarray)
            else _layers_and_params(o)
            if isinstance(o, nn.Module)
            else None
            for o in objs
        ]
        module_inputs: list[Any] = []
        if differentiable and isinstance(target, nn.Module):
            module_inputs = self.load_params(target, req)
        rep: dict[str, Any] = {}
        try:
            with (
                torch.set_grad_enabled(bool(req.get("grad", True))),
                warnings.catch_warnings(),
                self.rules(self.job["names"]) as broken,
            ):
                warnings.simplefilter("ignore")
                if differentiable and isinstance(target, type):
                    result = target.apply(*args, **kwargs)
                else:
                    result = target(*args, **kwargs)
            if broken:  # a rule the notebook states (checks_torch.STATED_RULES)
                raise AssertionError(broken[0])
            rep["ok"] = self.encoder(objs)(result)
            inputs = [o for o in objs if isinstance(o, torch.Tensor)] + module_inputs
            if (
                differentiable
                and isinstance(result, torch.Tensor)
                and result.requires_grad
                and any(t.requires_grad for t in inputs)
            ):
                gid = len(self.graphs) + 1
                self.graphs[gid] = (result, inputs)
                rep["gid"] = gid
        except BaseException as exc:  # noqa: BLE001 - reported to the judge as the call's error
            rep = {"err": [type(exc).__name__, str(exc)[:2000]]}
        rep["post"] = self.post(objs, before)
        return rep

    def load_params(self, module: Any, req: Mapping[str, Any]) -> list[Any]:
        import torch

        module.train(bool(req.get("training", True)))
        named = dict(module.named_parameters())
        out = []
        for name, value in req.get("params", []):
            new = dec_tensor(value["T"])
            p = named.get(name)
            if p is None:
                raise RemoteError(f"the module has no parameter {name}")
            if p.dtype != new.dtype:
                module.to(new.dtype)
                named = dict(module.named_parameters())
                p = named[name]
            with torch.no_grad():
                if p.shape != new.shape:
                    p.data = new.detach()
                else:
                    p.copy_(new)
            p.requires_grad_(new.requires_grad)
            out.append(p)
        return out

    def backward(self, req: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        y, inputs = self.graphs[int(req["gid"])]
        grad = dec_tensor(req["g"]["T"])
        wanted = [t for t in inputs if t.requires_grad]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grads = torch.autograd.grad(y, wanted, grad, retain_graph=True, allow_unused=True)
        except BaseException as exc:  # noqa: BLE001
            return {"err": [type(exc).__name__, str(exc)[:2000]]}
        it = iter(grads)
        out = []
        for t in inputs:
            g = next(it) if t.requires_grad else None
            out.append(None if g is None else enc_tensor(g, grad=False))
        return {"ok": out}

    def serve(self, rfd: int, wfd: int) -> None:
        import torch

        while True:
            try:
                req = _recv(rfd)
            except RemoteError:
                return
            before = b""
            try:
                if req.get("rng"):
                    torch.set_rng_state(
                        torch.frombuffer(bytearray(base64.b64decode(req["rng"])), dtype=torch.uint8)
                    )
                before = torch.get_rng_state().numpy().tobytes()
                torch.set_grad_enabled(bool(req.get("grad", True)))
                op = req.get("op")
                if op == "hello":
                    rep = self.hello()
                elif op == "call":
                    rep = self.call(req, differentiable=False)
                elif op == "apply":
                    rep = self.call(req, differentiable=True)
                elif op == "backward":
                    rep = self.backward(req)
                else:
                    rep = {"err": ["ProtocolError", f"unknown op {op!r}"]}
            except BaseException as exc:  # noqa: BLE001 - the judge decides what it means
                rep = {"err": [type(exc).__name__, str(exc)[:2000]]}
            try:
                now = torch.get_rng_state().numpy().tobytes()
                if now != before:
                    rep["rng"] = _b64(now)
                _send(wfd, rep)
            except BaseException as exc:  # noqa: BLE001 - e.g. a result that cannot be encoded
                _send(wfd, {"err": [type(exc).__name__, str(exc)[:2000]]})


# ============================================================================ the sandbox


def _sandbox_main() -> None:  # pragma: no cover - runs inside the sandbox (tested end to end)
    """Entry point inside the sandbox: one (judge, student) pair of processes per question."""
    import ctypes

    request = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(null, 2)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
    except Exception:  # noqa: BLE001, S110
        pass
    import torch

    torch.set_num_threads(1)
    import relu_course.checks_torch  # noqa: F401 - imported once, before any fork
    import relu_course.data  # noqa: F401
    import relu_course.training  # noqa: F401

    _bridge_class()
    from relu_course.grading.verify import started_line

    started = started_line(request["nonce"]) + b"\n"  # no student code has run yet
    while started:
        started = started[os.write(out_fd, started) :]
    answers = [_run_job(job, out_fd, float(request["job_seconds"])) for job in request["jobs"]]
    data = json.dumps({"nonce": request["nonce"], "jobs": answers}).encode() + b"\n"
    while data:
        data = data[os.write(out_fd, data) :]
    os._exit(0)


def _run_job(job: Mapping[str, Any], out_fd: int, seconds: float) -> dict[str, Any]:
    a_to_j = os.pipe()
    j_to_a = os.pipe()
    verdict_r, verdict_w = os.pipe()
    judge = os.fork()
    if judge == 0:  # the judge: never runs student code
        try:
            os.close(out_fd)
            os.close(verdict_r)
            os.close(a_to_j[1])
            os.close(j_to_a[0])
            try:
                result = _judge(job, _Link(a_to_j[0], j_to_a[1]))
            except BaseException as exc:  # noqa: BLE001
                result = {"passed": False, "message": f"{type(exc).__name__}: {exc}"[:3000]}
            data = json.dumps(result).encode()
            while data:
                data = data[os.write(verdict_w, data) :]
        finally:
            os._exit(0)
    student = os.fork()
    if student == 0:  # the student's code runs only here
        try:
            for fd in (out_fd, verdict_r, verdict_w, a_to_j[0], j_to_a[1]):
                os.close(fd)
            _Server(job).serve(j_to_a[0], a_to_j[1])
        finally:
            os._exit(0)
    for fd in (verdict_w, a_to_j[0], a_to_j[1], j_to_a[0], j_to_a[1]):
        os.close(fd)
    chunks, why = [], None
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            why = f"ran longer than {seconds:g} s"
            break
        ready, _, _ = select.select([verdict_r], [], [], left)
        if not ready:
            continue
        chunk = os.read(verdict_r, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        if sum(map(len, chunks)) > 1 << 20:
            why = "sent too much data"
            break
    os.close(verdict_r)
    for pid in (judge, student):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    if why is None:
        try:
            answer = json.loads(b"".join(chunks))
            if isinstance(answer, dict) and isinstance(answer.get("passed"), bool):
                return answer
            why = "gave an invalid verdict"
        except ValueError:
            why = "died without a verdict"
    return {"fatal": why}


# ============================================================================ grader side


def torch_jobs(
    release: Mapping[str, Any], submitted: Mapping[str, Any], source: Mapping[str, Any],
    skip: set[str],
) -> list[dict[str, Any]]:  # fmt: skip
    """One job per graded test cell not in ``skip``: the names it uses and the cells to run.

    Returns dicts with ``grade_id``, ``points``, ``names`` (the student's names the test
    cell uses), ``setup`` (the release's code cells before the first solution cell),
    ``test`` (the test cell of ``source``, hidden tests included), ``cells`` (label, source
    of the student's cells to run) and ``flags`` / ``stub`` (every name is the released
    stub: not attempted).
    """
    from relu_course.grading import verify as v

    cells = release.get("cells", [])
    first_solution = next(
        (i for i, c in enumerate(cells) if v._meta(c).get("solution")), len(cells)
    )
    setup = [
        v.python_source(v._source(c))
        for c in cells[:first_solution]
        if c.get("cell_type") == "code" and not v._meta(c).get("grade")
    ]
    solution_names: set[str] = set()
    stubs: dict[str, str] = {}
    for c in cells:
        meta = v._meta(c)
        if meta.get("solution") and c.get("cell_type") == "code":
            tree = v._parse(v._source(c))
            if tree is not None:
                solution_names |= v._defined_names(tree)
            stubs[meta.get("grade_id", "")] = v._source(c).strip()
    release_ids = v._by_grade_id(release)
    student = v._student_cells(release, submitted)
    jobs = []
    for c in source.get("cells", []):
        meta = v._meta(c)
        gid = meta.get("grade_id")
        if not meta.get("grade") or meta.get("solution") or c.get("cell_type") != "code":
            continue
        if gid in skip or gid not in release_ids:
            continue
        release_meta = v._meta(release_ids[gid][0][1])
        test = v.python_source(v._source(c))
        tree = v._parse(test)
        if tree is None:
            continue
        loaded = {n.id for n in __import__("ast").walk(tree) if type(n).__name__ == "Name"}
        names = sorted(loaded & solution_names)
        if not names:
            continue
        chosen: list[tuple[str, str]] = []
        flags: list[Any] = []
        attempted = False
        for name in names:
            picked, more = v._cells_for(name, student)
            flags += more
            if picked and picked[-1][1].strip() != stubs.get(picked[-1][0], None):
                attempted = True
            for cell in picked:
                if cell not in chosen:
                    chosen.append(cell)
        order = {label: i for i, (label, _, _) in enumerate(student)}
        chosen.sort(key=lambda cell: order.get(cell[0], 0))
        jobs.append(
            {
                "grade_id": gid,
                "points": float(release_meta.get("points", 0) or 0),
                "names": names,
                "setup": setup,
                "test": test,
                "cells": chosen,
                "flags": flags,
                "stub": not attempted,
            }
        )
    return jobs


def run_torch_jobs(
    jobs: Sequence[Mapping[str, Any]], *, limits: Limits = TORCH_LIMITS,
    isolate: bool | None = None, job_seconds: float = JOB_SECONDS,
) -> list[dict[str, Any]]:  # fmt: skip
    """Run the jobs in ONE sandbox; one ``{"passed", "message"}`` or ``{"fatal"}`` per job."""
    from relu_course.grading import verify as v

    if not jobs:
        return []
    request = {
        "job_seconds": job_seconds,
        "jobs": [
            {k: job[k] for k in ("names", "setup", "test")}
            | {"cells": [[label, v.python_source(src)] for label, src in job["cells"]]}
            for job in jobs
        ],
    }
    argv = [
        sys.executable,
        "-I",
        "-c",
        "from relu_course.grading import verify_torch as v; v._sandbox_main()",
    ]
    wall = int(job_seconds * len(jobs) + 60)
    answers, why = v.exchange_sandboxed(
        argv, request, limits=replace(limits, wall_seconds=wall), isolate=isolate
    )
    if answers is None:
        key = "grader_error" if why.startswith(v.GRADER_ERROR) else "fatal"
        return [{key: why} for _ in jobs]
    return [a if isinstance(a, dict) else {"fatal": "gave no answer"} for a in answers]


def verify_torch_questions(
    release: Mapping[str, Any], submitted: Mapping[str, Any], source: Mapping[str, Any],
    *, skip: set[str], limits: Limits = TORCH_LIMITS, isolate: bool | None = None,
) -> list[tuple[dict[str, Any], bool, str]]:  # fmt: skip
    """``(job, passed, message)`` for every test cell that :func:`torch_jobs` finds."""
    jobs = torch_jobs(release, submitted, source, skip)
    todo = [job for job in jobs if not job["stub"]]
    answers = iter(run_torch_jobs(todo, limits=limits, isolate=isolate))
    out = []
    for job in jobs:
        if job["stub"]:
            out.append(
                (job, False, f"{', '.join(job['names'])}: the released stub (not attempted)")
            )
            continue
        answer = next(answers)
        if "grader_error" in answer:  # the verdict keeps nbgrader's score (verify._verdict)
            out.append((job, False, str(answer["grader_error"])))
        elif "fatal" in answer:
            out.append((job, False, f"the clean run {answer['fatal']}"))
        else:
            out.append((job, bool(answer["passed"]), str(answer.get("message", ""))))
    return out
