"""NumPy activations and their derivatives: the course's reference implementations.

Every function follows one pattern::

    x = _check(x, "name")                # float32/float64 np.ndarray or a helpful error
    y = <formula written with NumPy>     # in x's dtype, stable for every finite |x| <= 1e4
    return _out(y, x)                    # exact np.ndarray, same dtype and shape

Conventions (they follow PyTorch, the course's answer key):

* Derivatives at a kink take the **negative-side** branch: ``relu_grad(0) == 0``,
  ``leaky_relu_grad(0) == negative_slope``, ``elu_grad(0) == alpha``,
  ``relu6_grad(6) == 0``, ``hardswish_grad(-3) == 0`` and ``hardswish_grad(3) == 1``.
* NaN propagates through every forward function. The derivative of a piecewise
  function at NaN is one of its branch values (PyTorch does the same); smooth
  derivatives return NaN.
* The input is never modified; a new array of the input's shape and dtype is returned
  (0-d in, 0-d ``np.ndarray`` out, never a NumPy scalar).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "GELU_TANH_C",
    "GELU_TANH_K",
    "RRELU_LOWER",
    "RRELU_UPPER",
    "SELU_ALPHA",
    "SELU_SCALE",
    "Activation",
    "celu",
    "celu_grad",
    "elu",
    "elu_grad",
    "erf",
    "erfc",
    "geglu",
    "geglu_grad",
    "gelu",
    "gelu_grad",
    "get",
    "glu",
    "glu_grad",
    "hardswish",
    "hardswish_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "maxout",
    "maxout_grad",
    "mish",
    "mish_grad",
    "prelu",
    "prelu_grad",
    "prelu_weight_grad",
    "relu",
    "relu6",
    "relu6_grad",
    "relu_grad",
    "relu_squared",
    "relu_squared_grad",
    "rrelu",
    "rrelu_grad",
    "selu",
    "selu_grad",
    "sigmoid",
    "sigmoid_grad",
    "silu",
    "silu_grad",
    "softplus",
    "softplus_grad",
    "swiglu",
    "swiglu_grad",
    "swish",
    "swish_grad",
    "tanh",
    "tanh_grad",
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = math.sqrt(2.0 / math.pi)  # 0.7978845608028654
GELU_TANH_K = 0.044715
RRELU_LOWER = 1.0 / 8.0
RRELU_UPPER = 1.0 / 3.0

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


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


# ----------------------------------------------------------------------------- erf


# W. J. Cody (1969), "Rational Chebyshev approximations for the error function",
# Math. Comp. 23, 631-637: the coefficients of his CALERF routine (relative error < 1e-16).
_ERF_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
          3.20937758913846947e03, 1.85777706184603153e-1)  # fmt: skip
_ERF_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
          2.84423683343917062e03)  # fmt: skip
_ERF_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
          2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
          2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)  # fmt: skip
_ERF_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
          1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
          3.43936767414372164e03, 1.23033935480374942e03)  # fmt: skip
_ERF_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
          1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)  # fmt: skip
_ERF_Q = (2.56852019228982242e00, 1.87295284992346047e00, 5.27905102951428412e-1,
          6.05183413124413191e-2, 2.33520497626869185e-3)  # fmt: skip


def _erf_small(y: np.ndarray) -> np.ndarray:
    """erf(y) for |y| <= 0.46875 (Cody's first interval)."""
    z = y * y
    num, den = _ERF_A[4] * z, z
    for a, b in zip(_ERF_A[:3], _ERF_B[:3], strict=True):
        num, den = (num + a) * z, (den + b) * z
    return y * (num + _ERF_A[3]) / (den + _ERF_B[3])


def _erfc_mid(y: np.ndarray) -> np.ndarray:
    """exp(y**2) * erfc(y) for 0.46875 < y <= 4 (Cody's second interval)."""
    num, den = _ERF_C[8] * y, y
    for c, d in zip(_ERF_C[:7], _ERF_D[:7], strict=True):
        num, den = (num + c) * y, (den + d) * y
    return (num + _ERF_C[7]) / (den + _ERF_D[7])


def _erfc_far(y: np.ndarray) -> np.ndarray:
    """exp(y**2) * erfc(y) for y > 4 (Cody's third interval)."""
    r = 1.0 / (y * y)
    num, den = _ERF_P[5] * r, r
    for p, q in zip(_ERF_P[:4], _ERF_Q[:4], strict=True):
        num, den = (num + p) * r, (den + q) * r
    return (1.0 / math.sqrt(math.pi) - r * (num + _ERF_P[4]) / (den + _ERF_Q[4])) / y


def _erfc_large(y: np.ndarray) -> np.ndarray:
    """erfc(y) for a 1-D float64 array with every y > 0.46875 (NaN allowed)."""
    y = np.minimum(y, 30.0)  # erfc(30) underflows to 0.0; keeps inf out of the arithmetic
    mid = y <= 4.0
    scaled = np.empty_like(y)  # exp(y**2) * erfc(y); only the needed branch is evaluated
    scaled[mid] = _erfc_mid(y[mid])
    scaled[~mid] = _erfc_far(y[~mid])
    head = np.trunc(y * 16.0) / 16.0  # exp(-y**2) in two parts keeps full precision
    with np.errstate(under="ignore"):
        return np.exp(-head * head) * np.exp(-(y - head) * (y + head)) * scaled


def _erfc64(t: np.ndarray) -> np.ndarray:
    """erfc of a float64 array (or NumPy scalar), no input checks."""
    t = np.asarray(t, dtype=np.float64)
    y = np.abs(t).reshape(-1)
    small = y <= 0.46875
    pos = np.empty_like(y)  # erfc(|t|)
    pos[small] = 1.0 - _erf_small(y[small])
    pos[~small] = _erfc_large(y[~small])
    pos = pos.reshape(t.shape)
    return np.where(t < 0, 2.0 - pos, pos)


def erfc(x: np.ndarray) -> np.ndarray:
    r"""erfc(x) = 1 - erf(x) = (2/sqrt(pi)) * \int_x^inf exp(-t^2) dt.

    NumPy has no error function, so this is W. J. Cody's rational Chebyshev
    approximation (relative error below 1e-15 in float64), vectorised. float32 input is
    computed in float64 and rounded once.

    Parameters
    ----------
    x : np.ndarray
        float32 or float64 array of any shape.

    Returns
    -------
    np.ndarray
        erfc(x), same shape and dtype as ``x``.

    Examples
    --------
    >>> erfc(np.array([-1.0, 0.0, 1.0, 10.0]))
    array([1.84270079e+00, 1.00000000e+00, 1.57299207e-01, 2.08848758e-45])
    """
    x = _check(x, "erfc")
    return _out(_erfc64(x.astype(np.float64)), x)


def erf(x: np.ndarray) -> np.ndarray:
    r"""erf(x) = (2/sqrt(pi)) * \int_0^x exp(-t^2) dt.

    Cody's rational approximation, as :func:`erfc`; accurate to about 1e-16 relative.

    Parameters
    ----------
    x : np.ndarray
        float32 or float64 array of any shape.

    Returns
    -------
    np.ndarray
        erf(x), same shape and dtype as ``x``.

    Examples
    --------
    >>> erf(np.array([-1.0, 0.0, 0.5]))
    array([-0.84270079,  0.        ,  0.52049988])
    """
    x = _check(x, "erf")
    t = x.astype(np.float64)
    y = np.abs(t).reshape(-1)
    small = y <= 0.46875
    pos = np.empty_like(y)  # erf(|t|)
    pos[small] = _erf_small(y[small])
    pos[~small] = 1.0 - _erfc_large(y[~small])
    return _out(np.copysign(pos.reshape(t.shape), t), x)


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


# ----------------------------------------------------------------------------- smooth gates


def _approximate(approximate: str, name: str) -> str:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{name}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return approximate


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
    return _out(0.5 * x * _erfc64(x.astype(np.float64) * -_SQRT_HALF), x)


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
    cdf = 0.5 * _erfc64(t * -_SQRT_HALF)
    return _out(cdf + t * (_INV_SQRT_2PI * np.exp(-0.5 * t * t)), x)


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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)) without input checks; exp overflow (x < -88 in float32) gives 0."""
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


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


# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Activation:
    """An activation with its derivative, PyTorch name and default parameters.

    ``fn(x, **params)`` and ``grad(x, **params)`` accept the same parameters;
    ``torch_name`` is the function's name in ``torch.nn.functional``.
    """

    name: str
    fn: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]
    torch_name: str
    params: dict[str, Any] = field(default_factory=dict)


def _registry() -> dict[str, Activation]:
    rows = [
        ("relu", relu, relu_grad, "relu", {}),
        ("relu6", relu6, relu6_grad, "relu6", {}),
        ("leaky_relu", leaky_relu, leaky_relu_grad, "leaky_relu", {"negative_slope": 0.01}),
        ("prelu", prelu, prelu_grad, "prelu", {"weight": 0.25}),
        ("rrelu", rrelu, rrelu_grad, "rrelu", {"lower": RRELU_LOWER, "upper": RRELU_UPPER}),
        ("elu", elu, elu_grad, "elu", {"alpha": 1.0}),
        ("selu", selu, selu_grad, "selu", {}),
        ("celu", celu, celu_grad, "celu", {"alpha": 1.0}),
        ("gelu", gelu, gelu_grad, "gelu", {"approximate": "none"}),
        ("gelu_tanh", gelu, gelu_grad, "gelu", {"approximate": "tanh"}),
        ("silu", silu, silu_grad, "silu", {}),
        ("swish", swish, swish_grad, "silu", {}),
        ("mish", mish, mish_grad, "mish", {}),
        ("softplus", softplus, softplus_grad, "softplus", {"beta": 1.0, "threshold": 20.0}),
        ("sigmoid", sigmoid, sigmoid_grad, "sigmoid", {}),
        ("tanh", tanh, tanh_grad, "tanh", {}),
        ("hardswish", hardswish, hardswish_grad, "hardswish", {}),
    ]
    return {name: Activation(name, f, g, t, p) for name, f, g, t, p in rows}


ACTIVATIONS: dict[str, Activation] = _registry()


def get(name: str) -> Activation:
    """Return the registered :class:`Activation` called ``name``.

    Examples
    --------
    >>> get("leaky_relu").params
    {'negative_slope': 0.01}
    """
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise KeyError(f"unknown activation {name!r}; known: {known}") from None
