"""relu_course.activations against PyTorch (the answer key), plus laws and error messages.

Tolerances: float64 results agree with torch to rtol 1e-12 (both are a few roundings
from the exact value); float32 results to rtol 2e-6 (a few float32 ulps, 1 ulp = 1.2e-7)
with atol 1e-6 near zero. Values are compared, not bits: -0.0 == 0.0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from relu_course import activations as A

TOL = {np.float32: {"rtol": 2e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-12, "atol": 1e-12}}
DTYPES = [np.float32, np.float64]

# (id, numpy name, params); the torch reference is built from the registry's torch_name.
SPECS: list[tuple[str, str, dict[str, Any]]] = [
    ("relu", "relu", {}),
    ("relu6", "relu6", {}),
    ("leaky_relu", "leaky_relu", {}),
    ("leaky_relu-2.5", "leaky_relu", {"negative_slope": 2.5}),
    ("leaky_relu-0.2", "leaky_relu", {"negative_slope": 0.2}),
    ("prelu", "prelu", {"weight": 0.25}),
    ("prelu-1.7", "prelu", {"weight": 1.7}),
    ("rrelu", "rrelu", {}),
    ("rrelu-0.1-0.3", "rrelu", {"lower": 0.1, "upper": 0.3}),
    ("elu", "elu", {}),
    ("elu-0.3", "elu", {"alpha": 0.3}),
    ("elu-2.0", "elu", {"alpha": 2.0}),
    ("selu", "selu", {}),
    ("celu", "celu", {}),
    ("celu-0.3", "celu", {"alpha": 0.3}),
    ("celu-2.0", "celu", {"alpha": 2.0}),
    ("gelu", "gelu", {}),
    ("gelu_tanh", "gelu_tanh", {"approximate": "tanh"}),
    ("silu", "silu", {}),
    ("swish", "swish", {}),
    ("mish", "mish", {}),
    ("softplus", "softplus", {}),
    ("softplus-2-5", "softplus", {"beta": 2.0, "threshold": 5.0}),
    ("sigmoid", "sigmoid", {}),
    ("tanh", "tanh", {}),
    ("hardswish", "hardswish", {}),
]
SPEC_IDS = [s[0] for s in SPECS]

KINKS = [0.0, -0.0, 6.0, -3.0, 3.0, 2.5, 1.0, -1.0, 1e-7, -1e-7]
LARGE = [1e4, -1e4, 1000.0, -1000.0, 88.0, -88.0, 89.0, -89.0, 20.0, 17.0, -17.0, 30.0]


def torch_fn(name: str, params: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
    """The PyTorch function for a registry entry with the given parameters."""
    act = A.get(name)
    kw = {**act.params, **params}
    if act.torch_name == "prelu":
        return lambda t: F.prelu(t, torch.tensor([kw["weight"]], dtype=t.dtype))
    if act.torch_name == "rrelu":
        return lambda t: F.rrelu(t, kw["lower"], kw["upper"], training=False)
    if act.torch_name in ("sigmoid", "tanh"):
        return getattr(torch, act.torch_name)
    return lambda t: getattr(F, act.torch_name)(t, **kw)


def torch_value_and_grad(name: str, params: dict[str, Any], x: np.ndarray):
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    y = torch_fn(name, params)(t)
    y.sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def inputs(dtype: type) -> np.ndarray:
    rng = np.random.default_rng(1234)
    grid = np.concatenate([KINKS, LARGE, np.linspace(-10, 10, 401), rng.standard_normal(200) * 4])
    return grid.astype(dtype)


def run_quietly(fn: Callable[..., np.ndarray], *args: Any, **kw: Any) -> np.ndarray:
    """Call fn with every warning turned into an error."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn(*args, **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("sid", "name", "params"), SPECS, ids=SPEC_IDS)
def test_values_and_grads_match_torch(sid: str, name: str, params: dict, dtype: type) -> None:
    act = A.get(name)
    x = inputs(dtype)
    want_y, want_g = torch_value_and_grad(name, params, x)
    got_y = run_quietly(act.fn, x, **params)
    got_g = run_quietly(act.grad, x, **params)
    np.testing.assert_allclose(got_y, want_y, **TOL[dtype], err_msg=f"{sid} value")
    grad_tol = TOL[dtype]
    if sid == "celu-0.3" and dtype == np.float64:
        # torch's celu backward rounds 1/alpha to float32 (celu'(0) = 0.99999996 for
        # alpha = 0.3); check ours against the exact formula, and torch to float32 accuracy.
        exact = np.where(x > 0, 1.0, np.exp(np.minimum(x, 0) / 0.3))
        np.testing.assert_allclose(got_g, exact, **TOL[dtype])
        grad_tol = TOL[np.float32]
    np.testing.assert_allclose(got_g, want_g, **grad_tol, err_msg=f"{sid} grad")
    assert np.all(np.isfinite(got_y)) and np.all(np.isfinite(got_g))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("sid", "name", "params"), SPECS, ids=SPEC_IDS)
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (7,), (2, 3, 4)])
def test_shapes_dtype_type_and_input_untouched(
    sid: str, name: str, params: dict, dtype: type, shape: tuple[int, ...]
) -> None:
    act = A.get(name)
    rng = np.random.default_rng(len(shape))
    x = np.asarray(rng.standard_normal(shape) * 5, dtype=dtype)
    before = x.copy()
    for fn in (act.fn, act.grad):
        y = run_quietly(fn, x, **params)
        assert type(y) is np.ndarray, f"{sid}: returned {type(y)}"
        assert y.dtype == dtype and y.shape == shape
        assert y is not x
        np.testing.assert_array_equal(x, before)
    want_y, want_g = torch_value_and_grad(name, params, x)
    np.testing.assert_allclose(act.fn(x, **params), want_y, **TOL[dtype])
    grad_tol = TOL[np.float32] if sid == "celu-0.3" else TOL[dtype]  # see the test above
    np.testing.assert_allclose(act.grad(x, **params), want_g, **grad_tol)


# Exact derivative values at the kinks, read from torch autograd (FACTS.md).
KINK_CASES = [
    ("relu", {}, 0.0, 0.0),
    ("relu6", {}, 0.0, 0.0),
    ("relu6", {}, 6.0, 0.0),
    ("leaky_relu", {}, 0.0, 0.01),
    ("leaky_relu", {"negative_slope": 2.5}, 0.0, 2.5),
    ("prelu", {"weight": 0.7}, 0.0, 0.7),
    ("rrelu", {}, 0.0, 11 / 48),
    ("elu", {"alpha": 0.3}, 0.0, 0.3),
    ("celu", {"alpha": 2.0}, 0.0, 1.0),
    ("selu", {}, 0.0, A.SELU_SCALE * A.SELU_ALPHA),
    ("hardswish", {}, -3.0, 0.0),
    ("hardswish", {}, 3.0, 1.0),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "params", "at", "slope"), KINK_CASES)
def test_kink_convention(name: str, params: dict, at: float, slope: float, dtype: type) -> None:
    x = np.array([at], dtype=dtype)
    _, torch_grad = torch_value_and_grad(name, params, x)
    got = A.get(name).grad(x, **params)
    assert got[0] == torch_grad[0], f"{name}'({at}): torch {torch_grad[0]}, ours {got[0]}"
    assert got[0] == pytest.approx(slope, rel=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("sid", "name", "params"), SPECS, ids=SPEC_IDS)
def test_nan_propagates(sid: str, name: str, params: dict, dtype: type) -> None:
    x = np.array([np.nan, 1.0, -1.0], dtype=dtype)
    y = run_quietly(A.get(name).fn, x, **params)
    assert np.isnan(y[0]) and np.all(np.isfinite(y[1:]))


# ---------------------------------------------------------------------------- erf


def test_erf_erfc_match_torch_float64() -> None:
    x = np.concatenate([np.linspace(-8, 8, 20001), np.geomspace(1e-300, 1e4, 500)])
    x = np.concatenate([x, -x])
    t = torch.from_numpy(x)
    np.testing.assert_allclose(run_quietly(A.erf, x), torch.special.erf(t), rtol=1e-15, atol=0)
    np.testing.assert_allclose(
        run_quietly(A.erfc, x), torch.special.erfc(t), rtol=2e-15, atol=1e-300
    )


def test_erf_special_values() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0.0])
    np.testing.assert_array_equal(run_quietly(A.erf, x), [1.0, -1.0, np.nan, 0.0])
    np.testing.assert_array_equal(run_quietly(A.erfc, x), [0.0, 2.0, np.nan, 1.0])


def test_erf_matches_math_erf_float32() -> None:
    x = np.linspace(-5, 5, 1001, dtype=np.float32)
    want = np.array([math.erf(float(v)) for v in x], dtype=np.float32)
    np.testing.assert_array_equal(A.erf(x), want)  # both are float64 values rounded once


# ---------------------------------------------------------------------------- laws

finite64 = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False)
arrays64 = hnp.arrays(
    np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=5), elements=finite64
)


def arr(v: Any) -> np.ndarray:
    """Arithmetic on a 0-d array gives a NumPy scalar; the activations want an array."""
    return np.asarray(v, dtype=np.float64)


@settings(max_examples=60, deadline=None)
@given(x=arrays64)
def test_relu_laws(x: np.ndarray) -> None:
    np.testing.assert_array_equal(A.relu(x) - A.relu(arr(-x)), x)
    np.testing.assert_array_equal(A.relu(A.relu(x)), A.relu(x))


@settings(max_examples=60, deadline=None)
@given(x=arrays64, c=st.floats(0, 100))
def test_relu_positive_homogeneity(x: np.ndarray, c: float) -> None:
    np.testing.assert_allclose(A.relu(arr(c * x)), c * A.relu(x), rtol=1e-15, atol=0)


@settings(max_examples=60, deadline=None)
@given(x=arrays64, a=st.floats(-3, 3))
def test_leaky_relu_is_relu_plus_scaled_negative_part(x: np.ndarray, a: float) -> None:
    # leaky(x) = relu(x) - a * relu(-x), for any slope a (also a > 1 and a < 0)
    want = A.relu(x) - a * A.relu(arr(-x))
    np.testing.assert_allclose(A.leaky_relu(x, negative_slope=a), want, rtol=1e-15, atol=0)


@settings(max_examples=60, deadline=None)
@given(x=arrays64)
def test_sigmoid_symmetry_and_silu(x: np.ndarray) -> None:
    s = run_quietly(A.sigmoid, x)
    np.testing.assert_allclose(s + run_quietly(A.sigmoid, arr(-x)), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(run_quietly(A.silu, x), x * s, rtol=1e-15, atol=1e-300)
    assert np.all((s >= 0) & (s <= 1))


@settings(max_examples=60, deadline=None)
@given(x=arrays64)
def test_tanh_is_shifted_sigmoid(x: np.ndarray) -> None:
    want = 2 * run_quietly(A.sigmoid, arr(2 * x)) - 1
    np.testing.assert_allclose(A.tanh(x), want, rtol=0, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, 5, elements=st.floats(-19, 19)))  # below threshold 20
def test_softplus_derivative_is_sigmoid_and_gelu_below_relu_gap(x: np.ndarray) -> None:
    np.testing.assert_allclose(A.softplus_grad(x), A.sigmoid(x), rtol=1e-15, atol=0)
    assert np.all(A.softplus(x) >= A.relu(x))
    assert np.all(np.abs(A.gelu(x) - A.relu(x)) <= 0.17 + 1e-12)  # min gelu = -0.169971


# ---------------------------------------------------------------------------- errors

BAD = [
    ([1.0, -1.0], TypeError, "got list; wrap it with np.asarray"),
    (1.5, TypeError, "got float; wrap it with np.asarray"),
    (np.float64(1.5), TypeError, "got a NumPy scalar (float64); wrap it with np.asarray"),
    (torch.ones(3), TypeError, "got Tensor; convert it with x.detach().cpu().numpy()"),
    (np.arange(3), TypeError, "got dtype int64; convert it with x.astype(np.float64)"),
    (np.array([True]), TypeError, "got dtype bool"),
    (np.array([1 + 2j]), TypeError, "got dtype complex128"),
]


@pytest.mark.parametrize(("bad", "exc", "message"), BAD, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize(("sid", "name", "params"), SPECS, ids=SPEC_IDS)
def test_bad_input_errors(sid: str, name: str, params: dict, bad, exc, message: str) -> None:
    act = A.get(name)
    for fn in (act.fn, act.grad):
        with pytest.raises(exc, match=fn.__name__) as info:
            fn(bad, **params)
        assert message in str(info.value)


def test_subclass_input_gives_plain_ndarray() -> None:
    class Tagged(np.ndarray):
        pass

    x = np.array([-1.0, 2.0]).view(Tagged)
    assert type(A.relu(x)) is np.ndarray
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix is deprecated
        matrix = np.matrix([[0.0, 1.0]])
    assert type(A.sigmoid_grad(matrix)) is np.ndarray


def test_parameter_errors() -> None:
    x = np.zeros(4)
    with pytest.raises(ValueError, match="not divisible by k = 3"):
        A.maxout(x, 3)
    with pytest.raises(ValueError, match="weight has 2 values but x has 3 channels"):
        A.prelu(np.zeros((2, 3)), np.array([0.1, 0.2]))
    with pytest.raises(TypeError, match="rng=np.random.default_rng"):
        A.rrelu(x, training=True)
    with pytest.raises(ValueError, match="lower .* must not exceed upper"):
        A.rrelu(x, lower=0.5, upper=0.1)
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        A.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match="negative_slope must be a real number"):
        A.leaky_relu(x, negative_slope="0.1")
    with pytest.raises(ValueError, match="alpha must be non-zero"):
        A.celu(x, alpha=0.0)
    with pytest.raises(KeyError, match="unknown activation 'relu7'"):
        A.get("relu7")


# ---------------------------------------------------------------------------- prelu, rrelu


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu_per_channel_against_torch(dtype: type) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 3, 5)) * 3).astype(dtype)
    x[0, :, 0] = 0.0
    w = np.array([0.1, 2.5, -0.3], dtype=dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    tw = torch.from_numpy(w.copy()).requires_grad_(True)
    y = F.prelu(t, tw)
    (y * torch.from_numpy(g)).sum().backward()
    np.testing.assert_allclose(A.prelu(x, w), y.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(A.prelu_grad(x, w) * g, t.grad.numpy(), **TOL[dtype])
    got_w = A.prelu_weight_grad(x, w, g)
    assert got_w.shape == w.shape and got_w.dtype == dtype
    np.testing.assert_allclose(got_w, tw.grad.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_prelu_shared_weight_grad_against_torch() -> None:
    x = np.array([-1.0, 0.0, 2.0, -3.5])
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    tw = torch.tensor([0.25], dtype=torch.float64, requires_grad=True)
    F.prelu(t, tw).sum().backward()
    assert A.prelu_weight_grad(x, 0.25).shape == ()
    assert A.prelu_weight_grad(x, np.array([0.25])).shape == (1,)
    np.testing.assert_allclose(A.prelu_weight_grad(x, 0.25), tw.grad.numpy()[0])


def test_rrelu_training_is_seeded_and_in_range() -> None:
    x = np.linspace(-5, 5, 1001)
    y1 = A.rrelu(x, 0.1, 0.4, training=True, rng=np.random.default_rng(7))
    y2 = A.rrelu(x, 0.1, 0.4, training=True, rng=np.random.default_rng(7))
    y3 = A.rrelu(x, 0.1, 0.4, training=True, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(y1, y3)
    neg = x < 0
    slopes = y1[neg] / x[neg]
    assert np.all((slopes >= 0.1) & (slopes <= 0.4))
    assert slopes.std() > 0.05  # really drawn per element, not one shared slope
    np.testing.assert_array_equal(y1[x > 0], x[x > 0])
    y32 = A.rrelu(x.astype(np.float32), training=True, rng=np.random.default_rng(0))
    assert y32.dtype == np.float32


# ---------------------------------------------------------------------------- maxout


def maxout_reference(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    moved = np.moveaxis(x, axis, -1)
    out = moved.reshape(moved.shape[:-1] + (moved.shape[-1] // k, k)).max(-1)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "k", "axis"), [((6,), 2, -1), ((2, 6, 3), 3, 1), ((4, 2, 8), 4, -1), ((4, 3), 2, 0)]
)
def test_maxout_against_reshape_max_and_torch_grad(shape, k, axis, dtype) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    before = x.copy()
    y = run_quietly(A.maxout, x, k, axis)
    np.testing.assert_array_equal(y, maxout_reference(x, k, axis))
    assert type(y) is np.ndarray and y.dtype == dtype
    g = rng.standard_normal(y.shape).astype(dtype)
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    tm = torch.movedim(t, axis, -1)
    ty = torch.movedim(tm.reshape(*tm.shape[:-1], tm.shape[-1] // k, k).amax(-1), -1, axis)
    (ty * torch.from_numpy(g)).sum().backward()
    np.testing.assert_array_equal(A.maxout_grad(x, k, axis, g), t.grad.numpy())
    np.testing.assert_array_equal(x, before)


def test_maxout_grad_ties_go_to_first_argmax_like_torch_max() -> None:
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    t = torch.from_numpy(x.copy()).requires_grad_(True)
    t.reshape(2, 1, 4).max(-1).values.sum().backward()
    np.testing.assert_array_equal(A.maxout_grad(x, 4), t.grad.numpy())
    np.testing.assert_array_equal(A.maxout_grad(x, 4), [[0, 1, 0, 0], [1, 0, 0, 0]])


def test_maxout_empty_and_shapes() -> None:
    assert A.maxout(np.zeros((0, 6)), 3).shape == (0, 2)
    assert A.maxout_grad(np.zeros((0, 6)), 3).shape == (0, 6)
    with pytest.raises(ValueError, match="0-d"):
        A.maxout(np.array(1.0), 1)


# ---------------------------------------------------------------------------- registry


def test_registry_names_and_constants() -> None:
    names = "relu relu6 leaky_relu prelu rrelu elu selu celu gelu gelu_tanh silu swish mish"
    names += " softplus sigmoid tanh hardswish"
    assert set(A.ACTIVATIONS) == set(names.split())
    assert A.GELU_TANH_C == pytest.approx(0.7978845608028654, abs=1e-16)
    assert A.get("rrelu").params == {"lower": 1 / 8, "upper": 1 / 3}
    for act in A.ACTIVATIONS.values():
        assert act.name in A.ACTIVATIONS and callable(getattr(F, act.torch_name))


# ------------------------------------------------------- gated units and squared ReLU


GATED = [
    ("glu", lambda t: F.glu(t, dim=-1)),
    ("geglu", lambda t: t.chunk(2, -1)[0] * F.gelu(t.chunk(2, -1)[1])),
    ("swiglu", lambda t: t.chunk(2, -1)[0] * F.silu(t.chunk(2, -1)[1])),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("name", "reference"), GATED, ids=[g[0] for g in GATED])
def test_gated_units_and_their_grads_match_torch(name: str, reference: Callable, dtype) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 3, 10)) * 3).astype(dtype)
    g = rng.standard_normal((4, 3, 5)).astype(dtype)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y_t = reference(t)
    y_t.backward(torch.tensor(g, dtype=torch.float64))
    y = getattr(A, name)(x)
    assert type(y) is np.ndarray and y.dtype == dtype and y.shape == (4, 3, 5)
    np.testing.assert_allclose(y, y_t.detach().numpy(), **TOL[dtype])
    dx = getattr(A, f"{name}_grad")(x, grad_out=g)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, t.grad.numpy(), rtol=TOL[dtype]["rtol"] * 5, atol=1e-5)


def test_gated_units_split_any_axis_and_reject_odd_sizes() -> None:
    x = np.arange(24, dtype=np.float64).reshape(2, 4, 3) / 10
    t = torch.tensor(x)
    np.testing.assert_allclose(A.glu(x, axis=1), F.glu(t, dim=1).numpy(), rtol=1e-12)
    assert A.swiglu_grad(x, axis=1).shape == x.shape
    with pytest.raises(ValueError, match="must be even"):
        A.swiglu(np.ones((2, 3)))
    with pytest.raises(ValueError, match="0-d"):
        A.glu(np.ones(()))
    with pytest.raises(ValueError, match="grad_out must have the output's shape"):
        A.glu_grad(np.ones((2, 4)), grad_out=np.ones((2, 4)))


def test_geglu_tanh_form_matches_torch() -> None:
    x = np.linspace(-5, 5, 20)
    a, b = torch.tensor(x).chunk(2)
    np.testing.assert_allclose(
        A.geglu(x, approximate="tanh"), (a * F.gelu(b, approximate="tanh")).numpy(), rtol=1e-12
    )
    with pytest.raises(ValueError, match="approximate"):
        A.geglu(x, approximate="erf")


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_squared_and_grad_match_torch_and_keep_relus_zeros(dtype) -> None:
    x = np.array([-1e4, -2.0, -0.0, 0.0, 1e-7, 0.5, 3.0, 100.0], dtype=dtype)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (F.relu(t) ** 2).sum().backward()
    y = A.relu_squared(x)
    np.testing.assert_allclose(y, (F.relu(t) ** 2).detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(A.relu_squared_grad(x), t.grad.numpy(), **TOL[dtype])
    assert np.all(y[:4] == 0) and np.all(A.relu_squared_grad(x)[:4] == 0)
    assert A.relu_squared(np.ones((2, 0))).shape == (2, 0)
    with pytest.raises(TypeError, match="np.asarray"):
        A.relu_squared([1.0, 2.0])
