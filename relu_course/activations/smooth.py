"""Smooth activations: gelu, sigmoid, tanh, silu (swish), mish, softplus, hardswish."""

from __future__ import annotations

import numpy as np

from relu_course.activations._core import (
    GELU_TANH_C,
    GELU_TANH_K,
    INV_SQRT_2PI,
    SQRT_HALF,
    _approximate,
    _check,
    _number,
    _out,
    _sigmoid,
)
from relu_course.activations._erf import _erfc64

# ----------------------------------------------------------------------------- smooth gates


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """gelu(x) = x * Phi(x) = x/2 * erfc(-x/sqrt(2)); "tanh": x/2 * (1 + tanh(c*(x + k*x^3))).

    ``c = GELU_TANH_C = sqrt(2/pi)``, ``k = GELU_TANH_K = 0.044715``. The exact form
    uses :func:`erfc` (computed in float64), which keeps tiny negative values accurate.

    Examples
    --------
    >>> gelu(np.array([-1.0, 0.0, 1.0]))
    array([-0.15865525,  0.        ,  0.84134475])
    >>> gelu(np.array([-1.0, 0.0, 1.0]), approximate="tanh")
    array([-0.15880801,  0.        ,  0.84119199])
    """
    x = _check(x, "gelu")
    if _approximate(approximate, "gelu") == "tanh":
        inner = GELU_TANH_C * (x + GELU_TANH_K * (x * x * x))
        return _out(0.5 * x * (1.0 + np.tanh(inner)), x)
    return _out(0.5 * x * _erfc64(x.astype(np.float64) * -SQRT_HALF), x)


def gelu_grad(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """gelu'(x) = Phi(x) + x * phi(x); for "tanh" the derivative of the tanh form.

    tanh form: 0.5*(1 + t) + 0.5*x*(1 - t^2)*c*(1 + 3k x^2), t = tanh(c*(x + k x^3)).
    Computed in float64 (also for float32 input) and rounded once.

    Examples
    --------
    >>> gelu_grad(np.array([-1.0, 0.0, 1.0]))
    array([-0.08331547,  0.5       ,  1.08331547])
    """
    x = _check(x, "gelu_grad")
    t = x.astype(np.float64, copy=False)  # float32 would lose ~1e-6 to cancellation in 1 - th^2
    if _approximate(approximate, "gelu_grad") == "tanh":
        t2 = t * t
        th = np.tanh(GELU_TANH_C * (t + GELU_TANH_K * (t2 * t)))
        slope = 0.5 * t * (1.0 - th * th) * (GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * t2))
        return _out(0.5 * (1.0 + th) + slope, x)
    cdf = 0.5 * _erfc64(t * -SQRT_HALF)
    return _out(cdf + t * (INV_SQRT_2PI * np.exp(-0.5 * t * t)), x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """sigmoid(x) = 1 / (1 + exp(-x)).

    For x very negative ``exp(-x)`` overflows to inf and the result is the correct 0;
    the overflow is expected and silenced.

    Examples
    --------
    >>> sigmoid(np.array([-1000.0, 0.0, 2.0]))
    array([0.       , 0.5      , 0.88079708])
    """
    x = _check(x, "sigmoid")
    return _out(_sigmoid(x), x)


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """sigmoid'(x) = s * (1 - s) with s = sigmoid(x); at most 1/4 (at x = 0).

    Examples
    --------
    >>> sigmoid_grad(np.array([0.0, 2.0]))
    array([0.25      , 0.10499359])
    """
    x = _check(x, "sigmoid_grad")
    s = _sigmoid(x)
    return _out(s * (1.0 - s), x)


def tanh(x: np.ndarray) -> np.ndarray:
    """tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)) = 2 * sigmoid(2x) - 1.

    Examples
    --------
    >>> tanh(np.array([-1.0, 0.0]))
    array([-0.76159416,  0.        ])
    """
    x = _check(x, "tanh")
    return _out(np.tanh(x), x)


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """tanh'(x) = 1 - tanh(x)^2.

    Examples
    --------
    >>> tanh_grad(np.array([0.0, 1.0]))
    array([1.        , 0.41997434])
    """
    x = _check(x, "tanh_grad")
    t = np.tanh(x)
    return _out(1.0 - t * t, x)


def silu(x: np.ndarray) -> np.ndarray:
    """silu(x) = x * sigmoid(x) = x / (1 + exp(-x)) (also called swish).

    Examples
    --------
    >>> silu(np.array([-1.0, 0.0, 1.0]))
    array([-0.26894142,  0.        ,  0.73105858])
    """
    x = _check(x, "silu")
    with np.errstate(over="ignore"):
        return _out(x / (1.0 + np.exp(-x)), x)


def silu_grad(x: np.ndarray) -> np.ndarray:
    """silu'(x) = s * (1 + x * (1 - s)) with s = sigmoid(x).

    Examples
    --------
    >>> silu_grad(np.array([0.0, 1.0]))
    array([0.5       , 0.92767051])
    """
    x = _check(x, "silu_grad")
    s = _sigmoid(x)
    return _out(s * (1.0 + x * (1.0 - s)), x)


swish = silu
swish_grad = silu_grad


def mish(x: np.ndarray) -> np.ndarray:
    """mish(x) = x * tanh(softplus(x)) = x * tanh(log(1 + exp(x))).

    Examples
    --------
    >>> mish(np.array([-1.0, 0.0, 1.0]))
    array([-0.30340147,  0.        ,  0.86509839])
    """
    x = _check(x, "mish")
    with np.errstate(over="ignore"):
        return _out(x * np.tanh(np.log1p(np.exp(x))), x)


def mish_grad(x: np.ndarray) -> np.ndarray:
    """mish'(x) = t + x * sigmoid(x) * (1 - t^2), t = tanh(softplus(x)).

    Examples
    --------
    >>> mish_grad(np.array([0.0, 1.0]))
    array([0.6       , 1.04903622])
    """
    x = _check(x, "mish_grad")
    with np.errstate(over="ignore"):
        t = np.tanh(np.log1p(np.exp(x)))
    return _out(t + x * _sigmoid(x) * (1.0 - t * t), x)


def _softplus_params(beta: float, threshold: float, name: str) -> tuple[float, float]:
    b = _number(beta, "beta", name)
    if b <= 0:
        raise ValueError(f"{name}: beta must be positive, got {b}")
    return b, _number(threshold, "threshold", name)


def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """softplus(x) = log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold.

    The linear switch is PyTorch's; below it ``exp`` may overflow only in the unused
    branch (silenced).

    Examples
    --------
    >>> softplus(np.array([-1.0, 0.0, 30.0]))
    array([ 0.31326169,  0.69314718, 30.        ])
    """
    x = _check(x, "softplus")
    b, th = _softplus_params(beta, threshold, "softplus")
    bx = x * b
    with np.errstate(over="ignore"):
        return _out(np.where(bx > th, x, np.log1p(np.exp(bx)) / b), x)


def softplus_grad(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """softplus'(x) = sigmoid(beta * x), and 1 where beta * x > threshold.

    Examples
    --------
    >>> softplus_grad(np.array([0.0, 30.0]))
    array([0.5, 1. ])
    """
    x = _check(x, "softplus_grad")
    b, th = _softplus_params(beta, threshold, "softplus_grad")
    bx = x * b
    return _out(np.where(bx > th, x.dtype.type(1.0), _sigmoid(bx)), x)


def hardswish(x: np.ndarray) -> np.ndarray:
    """hardswish(x) = x * relu6(x + 3) / 6 (0 for x <= -3, x for x >= 3).

    Examples
    --------
    >>> hardswish(np.array([-4.0, 0.0, 1.5, 4.0]))
    array([-0.   ,  0.   ,  1.125,  4.   ])
    """
    x = _check(x, "hardswish")
    return _out(x * np.minimum(np.maximum(x + 3.0, 0.0), 6.0) / 6.0, x)


def hardswish_grad(x: np.ndarray) -> np.ndarray:
    """hardswish'(x) = 0 if x <= -3, x/3 + 1/2 if -3 < x < 3, 1 if x >= 3 (as PyTorch).

    Examples
    --------
    >>> hardswish_grad(np.array([-3.0, 0.0, 3.0]))
    array([0. , 0.5, 1. ])
    """
    x = _check(x, "hardswish_grad")
    mid = np.where(x < 3.0, x / 3.0 + 0.5, x.dtype.type(1.0))
    return _out(np.where(x <= -3.0, x.dtype.type(0.0), mid), x)
