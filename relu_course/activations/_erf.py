"""The error function for NumPy, which has none: erf and erfc (W. J. Cody's approximation)."""

from __future__ import annotations

import math

import numpy as np

from relu_course.activations._core import _check, _out

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
