"""Units that change the width or gate one half by the other: maxout, relu_squared, and the
transformer gated units glu, geglu, swiglu, each with its derivative."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from relu_course.activations._core import _approximate, _check, _out, _sigmoid
from relu_course.activations.smooth import gelu, gelu_grad, silu, silu_grad

# ----------------------------------------------------------------------------- maxout


def _maxout_groups(x: np.ndarray, k: int, axis: int, name: str) -> tuple[np.ndarray, int]:
    """View x as (..., C//k, k) with the grouped axis moved last; return it and the axis."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{name}: k must be an int, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"{name}: k must be a positive integer, got {k}")
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have at least one axis to group, got a 0-d array")
    ax = int(axis)
    if not -x.ndim <= ax < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for an array of shape {x.shape}")
    ax %= x.ndim
    size = x.shape[ax]
    if size % k:
        raise ValueError(
            f"{name}: x.shape[{axis}] = {size} is not divisible by k = {k}; "
            f"use a size that is a multiple of {k}"
        )
    moved = np.moveaxis(x, ax, -1)
    return moved.reshape(moved.shape[:-1] + (size // k, k)), ax


def maxout(x: np.ndarray, k: int, axis: int = -1) -> np.ndarray:
    """maxout(x)_j = max(x_{jk}, ..., x_{jk+k-1}) over consecutive groups of k along axis.

    Parameters
    ----------
    x : np.ndarray
        float32 or float64 array with ``x.shape[axis]`` divisible by ``k``.
    k : int
        Number of pieces per group.
    axis : int
        The axis to group (default the last).

    Returns
    -------
    np.ndarray
        Shape of ``x`` with ``shape[axis]`` divided by ``k``.

    Examples
    --------
    >>> maxout(np.array([1.0, -2.0, 0.5, 3.0]), k=2)
    array([1., 3.])
    """
    x = _check(x, "maxout")
    groups, ax = _maxout_groups(x, k, axis, "maxout")
    # k strided np.maximum passes: several times faster than groups.max(axis=-1), whose
    # reduction over a short, strided last axis does not vectorise.
    k = groups.shape[-1]
    out = groups[..., 0].copy() if k == 1 else np.maximum(groups[..., 0], groups[..., 1])
    for i in range(2, k):
        np.maximum(out, groups[..., i], out=out)
    return _out(np.moveaxis(out, -1, ax), x)


def maxout_grad(
    x: np.ndarray, k: int, axis: int = -1, grad_out: np.ndarray | None = None
) -> np.ndarray:
    """d/dx of sum(grad_out * maxout(x)): grad_out at the first argmax of each group, else 0.

    Parameters
    ----------
    grad_out : np.ndarray, optional
        Shape of ``maxout(x, k, axis)``; ones when omitted.

    Examples
    --------
    >>> maxout_grad(np.array([1.0, -2.0, 3.0, 3.0]), k=2)
    array([1., 0., 1., 0.])
    """
    x = _check(x, "maxout_grad")
    groups, ax = _maxout_groups(x, k, axis, "maxout_grad")
    hit = np.arange(groups.shape[-1]) == groups.argmax(axis=-1)[..., None]
    if grad_out is None:
        g = np.ones(groups.shape[:-1], dtype=x.dtype)
    else:
        g = np.moveaxis(_check(grad_out, "maxout_grad"), ax, -1)
        if g.shape != groups.shape[:-1]:
            raise ValueError(
                f"maxout_grad: grad_out must have the output's shape, got {grad_out.shape}"
            )
    dx = np.where(hit, g[..., None], x.dtype.type(0.0))
    dx = dx.reshape(groups.shape[:-2] + (groups.shape[-2] * groups.shape[-1],))
    return _out(np.moveaxis(dx, -1, ax), x)


# ----------------------------------------------------------------------------- gated units


def relu_squared(x: np.ndarray) -> np.ndarray:
    """relu_squared(x) = max(x, 0)^2 (So et al. 2021's Primer); smooth at 0.

    Not in ``torch.nn.functional``; it equals ``F.relu(x) ** 2``. Keeps ReLU's exact
    zeros for x <= 0.

    Examples
    --------
    >>> relu_squared(np.array([-2.0, 0.0, 1.5]))
    array([0.  , 0.  , 2.25])
    """
    x = _check(x, "relu_squared")
    r = np.maximum(x, 0.0)
    return _out(r * r, x)


def relu_squared_grad(x: np.ndarray) -> np.ndarray:
    """relu_squared'(x) = 2 max(x, 0); 0 at x = 0 from both sides (no kink to choose).

    Examples
    --------
    >>> relu_squared_grad(np.array([-2.0, 0.0, 1.5]))
    array([0., 0., 3.])
    """
    x = _check(x, "relu_squared_grad")
    return _out(2.0 * np.maximum(x, 0.0), x)


def _halves(x: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Split x along axis into the value half a and the gate half b (torch's F.glu order)."""
    if x.ndim == 0:
        raise ValueError(f"{name}: x must have at least one axis to split, got a 0-d array")
    ax = int(axis)
    if not -x.ndim <= ax < x.ndim:
        raise ValueError(f"{name}: axis {axis} is out of range for an array of shape {x.shape}")
    ax %= x.ndim
    if x.shape[ax] % 2:
        raise ValueError(
            f"{name}: x.shape[{axis}] = {x.shape[ax]} must be even (two halves: value and "
            "gate); make the layer before it produce 2 * hidden features"
        )
    a, b = np.split(x, 2, axis=ax)
    return a, b, ax


def _gated(x: np.ndarray, axis: int, gate: Callable[..., np.ndarray], name: str, **kw: Any):
    """a * gate(b) for the halves (a, b) of x along axis."""
    x = _check(x, name)
    a, b, _ = _halves(x, axis, name)
    return _out(a * gate(b, **kw), x)


def _gated_grad(
    x: np.ndarray,
    axis: int,
    grad_out: np.ndarray | None,
    gate: Callable[..., np.ndarray],
    gate_grad: Callable[..., np.ndarray],
    name: str,
    **kw: Any,
) -> np.ndarray:
    """d/dx of sum(grad_out * a * gate(b)): [grad_out * gate(b), grad_out * a * gate'(b)]."""
    x = _check(x, name)
    a, b, ax = _halves(x, axis, name)
    if grad_out is None:
        g = np.ones_like(a)
    else:
        g = _check(grad_out, name)
        if g.shape != a.shape:
            raise ValueError(
                f"{name}: grad_out must have the output's shape {a.shape}, got {g.shape}"
            )
    return _out(np.concatenate((g * gate(b, **kw), g * a * gate_grad(b, **kw)), axis=ax), x)


def glu(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """glu(x) = a * sigmoid(b), where a, b are the first and second halves of x along axis.

    Dauphin et al. (2017); the same split and order as ``torch.nn.functional.glu``. The
    output has half of x's size along ``axis``. In a transformer feed-forward layer the
    halves are two linear maps of the same input: ``(x W) * sigmoid(x V)``.

    Examples
    --------
    >>> glu(np.array([1.0, 2.0, 0.0, -1.0]))
    array([0.5       , 0.53788284])
    """
    return _gated(x, axis, _sigmoid, "glu")


def glu_grad(x: np.ndarray, axis: int = -1, grad_out: np.ndarray | None = None) -> np.ndarray:
    """d/dx of sum(grad_out * glu(x)): grad_out sigmoid(b) for a, grad_out a sigmoid'(b) for b.

    Parameters
    ----------
    grad_out : np.ndarray, optional
        Shape of ``glu(x, axis)``; ones when omitted.

    Examples
    --------
    >>> glu_grad(np.array([1.0, 2.0, 0.0, -1.0]))
    array([0.5       , 0.26894142, 0.25      , 0.39322387])
    """
    return _gated_grad(
        x, axis, grad_out, _sigmoid, lambda b: _sigmoid(b) * _sigmoid(-b), "glu_grad"
    )


def geglu(x: np.ndarray, axis: int = -1, approximate: str = "none") -> np.ndarray:
    """geglu(x) = a * gelu(b) for the halves (a, b) of x along axis (Shazeer 2020).

    ``approximate`` is passed to :func:`gelu` ("none" or "tanh").

    Examples
    --------
    >>> geglu(np.array([2.0, 3.0, 1.0, -1.0]))
    array([ 1.68268949, -0.47596576])
    """
    _approximate(approximate, "geglu")
    return _gated(x, axis, gelu, "geglu", approximate=approximate)


def geglu_grad(
    x: np.ndarray, axis: int = -1, grad_out: np.ndarray | None = None, approximate: str = "none"
) -> np.ndarray:
    """d/dx of sum(grad_out * geglu(x)): grad_out * gelu(b) for a, grad_out * a * gelu'(b) for b.

    Examples
    --------
    >>> geglu_grad(np.array([2.0, 3.0, 1.0, -1.0]))
    array([ 0.84134475, -0.15865525,  2.16663094, -0.24994641])
    """
    _approximate(approximate, "geglu_grad")
    return _gated_grad(x, axis, grad_out, gelu, gelu_grad, "geglu_grad", approximate=approximate)


def swiglu(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """swiglu(x) = a * silu(b) = a * b * sigmoid(b) for the halves (a, b) of x (Shazeer 2020).

    The feed-forward activation of LLaMA and PaLM, there written ``silu(x W) * (x V)``.

    Examples
    --------
    >>> swiglu(np.array([2.0, 3.0, 1.0, -1.0]))
    array([ 1.46211716, -0.80682426])
    """
    return _gated(x, axis, silu, "swiglu")


def swiglu_grad(x: np.ndarray, axis: int = -1, grad_out: np.ndarray | None = None) -> np.ndarray:
    """d/dx of sum(grad_out * swiglu(x)): grad_out * silu(b) for a, grad_out * a * silu'(b) for b.

    Examples
    --------
    >>> swiglu_grad(np.array([2.0, 3.0, 1.0, -1.0]))
    array([ 0.73105858, -0.26894142,  1.85534102,  0.21698846])
    """
    return _gated_grad(x, axis, grad_out, silu, silu_grad, "swiglu_grad")
