"""Shared pieces of the NumPy activations: the constants, the input check, exact selects.

Every number that both the NumPy reference and the torch mirror use is defined here, once;
:mod:`relu_course.torch_activations` imports it from :mod:`relu_course.activations`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = math.sqrt(2.0 / math.pi)  # 0.7978845608028654
GELU_TANH_K = 0.044715
RRELU_LOWER = 1.0 / 8.0
RRELU_UPPER = 1.0 / 3.0

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
SQRT_HALF = math.sqrt(0.5)  # 1 / sqrt(2): Phi(x) = erfc(-x * SQRT_HALF) / 2
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)  # the standard normal density at 0


# ----------------------------------------------------------------------------- helpers


def _check(x: Any, name: str) -> np.ndarray:
    """Return ``x`` as a plain float ndarray, or raise an error that says what to do."""
    if type(x) is np.ndarray and x.dtype in _FLOAT_DTYPES:
        return x
    if not isinstance(x, np.ndarray):
        kind = type(x).__name__
        if isinstance(x, np.generic):
            kind = f"a NumPy scalar ({kind})"
        if type(x).__module__.startswith("torch"):
            fix = "convert it with x.detach().cpu().numpy()"
        else:
            fix = "wrap it with np.asarray(x, dtype=np.float64)"
        raise TypeError(f"{name} expects a NumPy array of floats, got {kind}; {fix}")
    if x.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} expects a float32 or float64 array, got dtype {x.dtype}; "
            "convert it with x.astype(np.float64)"
        )
    return x.view(np.ndarray)  # an ndarray subclass (np.matrix, ...) is read as a plain array


def _out(y: Any, x: np.ndarray) -> np.ndarray:
    """Return ``y`` as an exact ``np.ndarray`` with ``x``'s dtype (no copy when it already is)."""
    return np.asarray(y, dtype=x.dtype)


def _hinge(x: np.ndarray, neg: Any) -> np.ndarray:
    """max(x, 0) + neg, where ``neg = g(min(x, 0))`` with g(0) = 0: x for x > 0, g(x) otherwise.

    Branch-free on purpose: ``np.where(x > 0, ...)`` is several times slower on inputs of
    mixed sign (branch misprediction), and every branch is evaluated anyway.
    """
    return np.maximum(x, 0) + neg


def _leaky(x: np.ndarray, slope: Any) -> np.ndarray:
    """x for x > 0, slope * x otherwise; ``slope`` a number or an array broadcasting to x.

    For slopes <= 1 this is max(x, slope * x), two passes (exact: rounding is monotonic, so
    fl(slope * x) stays on the right side of x). A slope above 1 reverses that inequality,
    so ``max`` would pick the wrong branch: then it is max(x, 0) + slope * min(x, 0).
    """
    if np.all(np.asarray(slope) <= 1):
        return np.maximum(x, slope * x)
    return _hinge(x, slope * np.minimum(x, 0))


def _select(x: np.ndarray, pos: Any, neg: Any) -> np.ndarray:
    """``pos`` where x > 0, else ``neg`` (both finite), as m * pos + (1 - m) * neg.

    Exact: m is 0 or 1, so each term is either the chosen value or exactly 0. At x = 0 it
    takes ``neg``, PyTorch's negative-side convention.
    """
    m = (x > 0).astype(x.dtype)
    return m * pos + (1 - m) * neg


def _number(value: Any, what: str, name: str) -> float:
    """Check that a parameter is a finite real number and return it as a float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: {what} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: {what} must be finite, got {value}")
    return float(value)


def _approximate(approximate: str, name: str) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without input checks; exp overflow (x < -88 in float32) gives 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))
