"""The ReLU family and its exponential relatives: relu, relu6, leaky/parametric/randomized
ReLU, elu, selu, celu, each with its derivative."""

from __future__ import annotations

from typing import Any

import numpy as np

from relu_course.activations._core import (
    RRELU_LOWER,
    RRELU_UPPER,
    SELU_ALPHA,
    SELU_SCALE,
    _check,
    _hinge,
    _leaky,
    _number,
    _out,
    _select,
)

# ----------------------------------------------------------------------------- ReLU family


def relu(x: np.ndarray) -> np.ndarray:
    """relu(x) = max(x, 0).

    Parameters
    ----------
    x : np.ndarray
        float32 or float64 array of any shape (0-d and empty included).

    Returns
    -------
    np.ndarray
        A new array, same shape and dtype. ``relu(-0.0)`` is ``+0.0`` (PyTorch gives
        ``-0.0``; the values are equal). NaN stays NaN.

    Examples
    --------
    >>> relu(np.array([-2.0, 0.0, 1.5]))
    array([0. , 0. , 1.5])
    """
    x = _check(x, "relu")
    return _out(np.maximum(x, 0.0), x)


def relu_grad(x: np.ndarray) -> np.ndarray:
    """relu'(x) = 1 if x > 0 else 0; at the kink relu'(0) = 0 (negative side, as PyTorch).

    Examples
    --------
    >>> relu_grad(np.array([-2.0, 0.0, 1.5]))
    array([0., 0., 1.])
    """
    x = _check(x, "relu_grad")
    return _out(x > 0, x)


def relu6(x: np.ndarray) -> np.ndarray:
    """relu6(x) = min(max(x, 0), 6).

    Examples
    --------
    >>> relu6(np.array([-1.0, 3.0, 8.0]))
    array([0., 3., 6.])
    """
    x = _check(x, "relu6")
    return _out(np.clip(x, 0.0, 6.0), x)


def relu6_grad(x: np.ndarray) -> np.ndarray:
    """relu6'(x) = 1 if 0 < x < 6 else 0; relu6'(0) = relu6'(6) = 0 (as PyTorch).

    Examples
    --------
    >>> relu6_grad(np.array([0.0, 3.0, 6.0]))
    array([0., 1., 0.])
    """
    x = _check(x, "relu6_grad")
    return _out((x > 0) & (x < 6), x)


def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """leaky_relu(x) = x if x > 0 else negative_slope * x.

    Correct for any slope, including ``negative_slope > 1`` (where ``max(a*x, x)`` is
    not Leaky ReLU).

    Parameters
    ----------
    x : np.ndarray
        float32 or float64 array of any shape.
    negative_slope : float
        Slope for x <= 0 (PyTorch default 0.01).

    Examples
    --------
    >>> leaky_relu(np.array([-2.0, 0.0, 3.0]), negative_slope=0.1)
    array([-0.2,  0. ,  3. ])
    """
    x = _check(x, "leaky_relu")
    a = _number(negative_slope, "negative_slope", "leaky_relu")
    return _out(_leaky(x, x.dtype.type(a)), x)


def leaky_relu_grad(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    """leaky_relu'(x) = 1 if x > 0 else negative_slope; at 0 it is negative_slope.

    Examples
    --------
    >>> leaky_relu_grad(np.array([-2.0, 0.0, 3.0]), negative_slope=0.1)
    array([0.1, 0.1, 1. ])
    """
    x = _check(x, "leaky_relu_grad")
    a = _number(negative_slope, "negative_slope", "leaky_relu_grad")
    return _out(_select(x, 1, x.dtype.type(a)), x)


def _prelu_weight(x: np.ndarray, weight: Any, name: str) -> np.ndarray:
    """Weight broadcastable against x: a scalar, or one value per channel on axis 1."""
    if isinstance(weight, (int, float, np.integer, np.floating)) and not isinstance(weight, bool):
        return np.asarray(weight, dtype=x.dtype)
    if not isinstance(weight, np.ndarray) or weight.dtype.kind not in "fiu" or weight.ndim > 1:
        raise TypeError(
            f"{name}: weight must be a number or a 1-D array of floats (one per channel), "
            f"got {type(weight).__name__}"
        )
    channels = x.shape[1] if x.ndim >= 2 else 1
    if weight.size not in (1, channels):
        raise ValueError(
            f"{name}: weight has {weight.size} values but x has {channels} channels "
            f"(axis 1 of shape {x.shape}); pass 1 value or {channels}"
        )
    w = weight.astype(x.dtype).reshape(-1)
    if w.size == 1:
        return w.reshape(())
    return w.reshape((channels,) + (1,) * (x.ndim - 2))


def prelu(x: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """prelu(x) = x if x > 0 else w * x, w shared or one per channel (axis 1, as torch).

    Parameters
    ----------
    x : np.ndarray
        float32 or float64 array; channels on axis 1 when ``x.ndim >= 2``.
    weight : float or np.ndarray
        A number, or a 1-D array with 1 value or ``x.shape[1]`` values.

    Examples
    --------
    >>> prelu(np.array([[-1.0, -1.0], [2.0, -4.0]]), np.array([0.25, 0.5]))
    array([[-0.25, -0.5 ],
           [ 2.  , -2.  ]])
    """
    x = _check(x, "prelu")
    w = _prelu_weight(x, weight, "prelu")
    return _out(_leaky(x, w), x)


def prelu_grad(x: np.ndarray, weight: float | np.ndarray) -> np.ndarray:
    """d prelu / dx = 1 if x > 0 else w; at 0 it is w (negative side, as PyTorch).

    Examples
    --------
    >>> prelu_grad(np.array([-1.0, 0.0, 2.0]), 0.25)
    array([0.25, 0.25, 1.  ])
    """
    x = _check(x, "prelu_grad")
    w = _prelu_weight(x, weight, "prelu_grad")
    return _out(_select(x, 1, w), x)


def prelu_weight_grad(
    x: np.ndarray, weight: float | np.ndarray, grad_out: np.ndarray | None = None
) -> np.ndarray:
    """dL/dw = sum of grad_out * x over the entries with x <= 0 (per channel if w is).

    Parameters
    ----------
    x : np.ndarray
        The layer input.
    weight : float or np.ndarray
        As in :func:`prelu`.
    grad_out : np.ndarray, optional
        dL/d prelu(x), same shape as ``x``; ones (L = sum of outputs) when omitted.

    Returns
    -------
    np.ndarray
        Same shape as ``np.asarray(weight)`` (0-d for a number).

    Examples
    --------
    >>> prelu_weight_grad(np.array([-1.0, 0.0, 2.0, -3.0]), 0.25)
    array(-4.)
    """
    x = _check(x, "prelu_weight_grad")
    w = _prelu_weight(x, weight, "prelu_weight_grad")
    g = np.ones_like(x) if grad_out is None else _check(grad_out, "prelu_weight_grad")
    if g.shape != x.shape:
        raise ValueError(f"prelu_weight_grad: grad_out has shape {g.shape}, x has {x.shape}")
    contrib = np.where(x > 0, 0.0, g * x).astype(x.dtype)
    if w.ndim == 0:
        total = contrib.sum()
    else:
        total = contrib.sum(axis=tuple(i for i in range(x.ndim) if i != 1))
    return _out(total.reshape(np.shape(weight)), x)


def rrelu(
    x: np.ndarray,
    lower: float = RRELU_LOWER,
    upper: float = RRELU_UPPER,
    training: bool = False,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """rrelu(x) = x if x > 0 else a * x; eval a = (lower + upper) / 2, training a ~ U(lower, upper).

    In training mode a slope is drawn for every element from ``rng`` (required, so that
    results are reproducible); in eval mode it is Leaky ReLU with the mean slope.

    Examples
    --------
    >>> rrelu(np.array([-4.8, 1.0]))
    array([-1.1,  1. ])
    >>> y = rrelu(np.full(3, -1.0), training=True, rng=np.random.default_rng(0))
    >>> bool(np.all((-y >= 1 / 8) & (-y <= 1 / 3)))
    True
    """
    x = _check(x, "rrelu")
    lo, hi = _rrelu_bounds(lower, upper, "rrelu")
    if not training:
        return _out(_leaky(x, x.dtype.type((lo + hi) / 2)), x)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            "rrelu(training=True) needs rng=np.random.default_rng(seed) to draw its slopes, "
            f"got {type(rng).__name__}"
        )
    slopes = rng.uniform(lo, hi, size=x.shape).astype(x.dtype)
    return _out(_hinge(x, slopes * np.minimum(x, 0)), x)


def _rrelu_bounds(lower: float, upper: float, name: str) -> tuple[float, float]:
    lo, hi = _number(lower, "lower", name), _number(upper, "upper", name)
    if lo > hi:
        raise ValueError(f"{name}: lower ({lo}) must not exceed upper ({hi})")
    return lo, hi


def rrelu_grad(x: np.ndarray, lower: float = RRELU_LOWER, upper: float = RRELU_UPPER) -> np.ndarray:
    """Eval-mode rrelu'(x) = 1 if x > 0 else (lower + upper) / 2 (also at 0).

    Examples
    --------
    >>> rrelu_grad(np.array([-1.0, 0.0, 1.0]), 0.1, 0.3)
    array([0.2, 0.2, 1. ])
    """
    x = _check(x, "rrelu_grad")
    lo, hi = _rrelu_bounds(lower, upper, "rrelu_grad")
    return _out(_select(x, 1, x.dtype.type((lo + hi) / 2)), x)


# ----------------------------------------------------------------------------- exponential


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """elu(x) = x if x > 0 else alpha * (exp(x) - 1).

    ``np.expm1`` keeps precision near 0; overflow of the unused branch is silenced.

    Examples
    --------
    >>> elu(np.array([-1.0, 0.0, 2.0]), alpha=2.0)
    array([-1.26424112,  0.        ,  2.        ])
    """
    x = _check(x, "elu")
    a = _number(alpha, "alpha", "elu")
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(_hinge(x, x.dtype.type(a) * np.expm1(np.minimum(x, 0))), x)


def elu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """elu'(x) = 1 if x > 0 else alpha * exp(x); elu'(0) = alpha (negative side, as PyTorch).

    Examples
    --------
    >>> elu_grad(np.array([-1.0, 0.0, 2.0]), alpha=2.0)
    array([0.73575888, 2.        , 1.        ])
    """
    x = _check(x, "elu_grad")
    a = _number(alpha, "alpha", "elu_grad")
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(_select(x, 1, x.dtype.type(a) * np.exp(np.minimum(x, 0))), x)


def selu(x: np.ndarray) -> np.ndarray:
    """selu(x) = SELU_SCALE * (x if x > 0 else SELU_ALPHA * (exp(x) - 1)).

    Examples
    --------
    >>> selu(np.array([-1.0, 0.0, 1.0]))
    array([-1.11133074,  0.        ,  1.05070099])
    """
    x = _check(x, "selu")
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(SELU_SCALE * _hinge(x, SELU_ALPHA * np.expm1(np.minimum(x, 0))), x)


def selu_grad(x: np.ndarray) -> np.ndarray:
    """selu'(x) = SELU_SCALE if x > 0 else SELU_SCALE * SELU_ALPHA * exp(x); at 0: 1.7581.

    Examples
    --------
    >>> selu_grad(np.array([0.0, 1.0]))
    array([1.75809934, 1.05070099])
    """
    x = _check(x, "selu_grad")
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(SELU_SCALE * _select(x, 1, SELU_ALPHA * np.exp(np.minimum(x, 0))), x)


def _celu_alpha(alpha: float, name: str) -> float:
    a = _number(alpha, "alpha", name)
    if a == 0:
        raise ValueError(f"{name}: alpha must be non-zero (the formula divides by it)")
    return a


def celu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """celu(x) = x if x > 0 else alpha * (exp(x / alpha) - 1).

    Examples
    --------
    >>> celu(np.array([-1.0, 0.0, 2.0]), alpha=2.0)
    array([-0.78693868,  0.        ,  2.        ])
    """
    x = _check(x, "celu")
    a = _celu_alpha(alpha, "celu")
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(_hinge(x, a * np.expm1(np.minimum(x, 0) / a)), x)


def celu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """celu'(x) = 1 if x > 0 else exp(x / alpha); celu'(0) = 1 (both sides agree).

    Examples
    --------
    >>> celu_grad(np.array([-2.0, 0.0, 2.0]), alpha=2.0)
    array([0.36787944, 1.        , 1.        ])
    """
    x = _check(x, "celu_grad")
    a = _celu_alpha(alpha, "celu_grad")
    with np.errstate(over="ignore", invalid="ignore"):
        return _out(_select(x, 1, np.exp(np.minimum(x, 0) / a)), x)
