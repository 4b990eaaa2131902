"""Tests for relu_course.torch_activations: the mirrors against torch's own activations
(values and gradients, kinks, large inputs, shapes, dtypes, devices), gradcheck, the NumPy
reference, the modules and the registry."""

from __future__ import annotations

import ast
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from relu_course import torch_activations as ta

DTYPES = (torch.float32, torch.float64)
DEVICES = ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)


def _torch_maxout(x: Tensor, k: int, dim: int = -1) -> Tensor:
    """Reference maxout from torch ops: max (not amax) sends the gradient to one index."""
    dim = dim % x.dim()
    return x.unflatten(dim, (x.shape[dim] // k, k)).max(dim=dim + 1).values


@dataclass(frozen=True)
class Case:
    """One activation with fixed parameters: the mirror, torch's own, and the NumPy name."""

    id: str
    mirror: Callable[[Tensor], Tensor]
    builtin: Callable[[Tensor], Tensor]
    kinks: tuple[float, ...] = ()
    np_name: str = ""
    np_params: dict[str, Any] = field(default_factory=dict)


def _w(value: float) -> Callable[[Tensor], Tensor]:
    return lambda x: torch.tensor([value], dtype=x.dtype, device=x.device)


CASES = [
    Case("relu", ta.relu, F.relu, (0.0,), "relu"),
    Case("relu6", ta.relu6, F.relu6, (0.0, 6.0), "relu6"),
    Case("leaky_relu", ta.leaky_relu, F.leaky_relu, (0.0,), "leaky_relu"),
    Case(
        "leaky_relu_0.2",
        lambda x: ta.leaky_relu(x, 0.2),
        lambda x: F.leaky_relu(x, 0.2),
        (0.0,),
        "leaky_relu",
        {"negative_slope": 0.2},
    ),
    Case(
        "leaky_relu_-0.5",
        lambda x: ta.leaky_relu(x, -0.5),
        lambda x: F.leaky_relu(x, -0.5),
        (0.0,),
        "leaky_relu",
        {"negative_slope": -0.5},
    ),
    Case(
        "leaky_relu_1.5",
        lambda x: ta.leaky_relu(x, negative_slope=1.5),
        lambda x: F.leaky_relu(x, negative_slope=1.5),
        (0.0,),
        "leaky_relu",
        {"negative_slope": 1.5},
    ),
    Case(
        "prelu_0.25",
        lambda x: ta.prelu(x, _w(0.25)(x)),
        lambda x: F.prelu(x, _w(0.25)(x)),
        (0.0,),
        "prelu",
        {"weight": 0.25},
    ),
    Case(
        "prelu_-0.3",
        lambda x: ta.prelu(x, _w(-0.3)(x)),
        lambda x: F.prelu(x, _w(-0.3)(x)),
        (0.0,),
        "prelu",
        {"weight": -0.3},
    ),
    Case("rrelu_eval", ta.rrelu, F.rrelu, (0.0,), "rrelu"),
    Case(
        "rrelu_eval_0.1_0.9",
        lambda x: ta.rrelu(x, 0.1, 0.9),
        lambda x: F.rrelu(x, 0.1, 0.9),
        (0.0,),
        "rrelu",
        {"lower": 0.1, "upper": 0.9},
    ),
    Case(
        "rrelu_eval_1.5_2.5",
        lambda x: ta.rrelu(x, 1.5, 2.5),
        lambda x: F.rrelu(x, 1.5, 2.5),
        (0.0,),
        "rrelu",
        {"lower": 1.5, "upper": 2.5},
    ),
    Case("elu", ta.elu, F.elu, (0.0,), "elu"),
    Case(
        "elu_0.5",
        lambda x: ta.elu(x, 0.5),
        lambda x: F.elu(x, 0.5),
        (0.0,),
        "elu",
        {"alpha": 0.5},
    ),
    Case(
        "elu_2",
        lambda x: ta.elu(x, alpha=2.0),
        lambda x: F.elu(x, alpha=2.0),
        (0.0,),
        "elu",
        {"alpha": 2.0},
    ),
    Case("selu", ta.selu, F.selu, (0.0,), "selu"),
    Case("celu", ta.celu, F.celu, (0.0,), "celu"),
    Case(
        "celu_0.5",
        lambda x: ta.celu(x, 0.5),
        lambda x: F.celu(x, 0.5),
        (0.0,),
        "celu",
        {"alpha": 0.5},
    ),
    Case(
        "celu_3",
        lambda x: ta.celu(x, alpha=3.0),
        lambda x: F.celu(x, alpha=3.0),
        (0.0,),
        "celu",
        {"alpha": 3.0},
    ),
    Case("gelu", ta.gelu, F.gelu, (), "gelu"),
    Case(
        "gelu_tanh",
        lambda x: ta.gelu(x, approximate="tanh"),
        lambda x: F.gelu(x, approximate="tanh"),
        (),
        "gelu",
        {"approximate": "tanh"},
    ),
    Case("silu", ta.silu, F.silu, (), "silu"),
    Case("mish", ta.mish, F.mish, (), "mish"),
    Case("softplus", ta.softplus, F.softplus, (20.0,), "softplus"),
    Case(
        "softplus_2_10",
        lambda x: ta.softplus(x, beta=2.0, threshold=10.0),
        lambda x: F.softplus(x, beta=2.0, threshold=10.0),
        (5.0,),
        "softplus",
        {"beta": 2.0, "threshold": 10.0},
    ),
    Case(
        "softplus_0.5_1",
        lambda x: ta.softplus(x, 0.5, 1.0),
        lambda x: F.softplus(x, 0.5, 1.0),
        (2.0,),
        "softplus",
        {"beta": 0.5, "threshold": 1.0},
    ),
    Case("sigmoid", ta.sigmoid, torch.sigmoid, (), "sigmoid"),
    Case("tanh", ta.tanh, torch.tanh, (), "tanh"),
    Case("hardswish", ta.hardswish, F.hardswish, (-3.0, 3.0), "hardswish"),
    Case(
        "maxout_2",
        lambda x: ta.maxout(x, 2),
        lambda x: _torch_maxout(x, 2),
        (),
        "maxout",
        {"k": 2},
    ),
    Case(
        "maxout_3",
        lambda x: ta.maxout(x, k=3),
        lambda x: _torch_maxout(x, 3),
        (),
        "maxout",
        {"k": 3},
    ),
]
ELEMENTWISE = [c for c in CASES if not c.id.startswith("maxout")]


def _grid(dtype: torch.dtype, kinks: tuple[float, ...], device: str = "cpu") -> Tensor:
    """Kinks and their neighbours, large magnitudes, and random normals; 1-D, even length."""
    special = [0.0, -0.0, 1e-30, -1e-30, 1e4, -1e4, 1e3, -1e3, 100.0, -100.0, 88.0, -88.0]
    special += [20.0, 19.99, 20.01, -20.0, 17.0, -17.0, 3.0, -3.0, 6.0, 5.9999, 6.0001, 1.0]
    near = [k + d for k in kinks for d in (0.0, -1e-4, 1e-4, -1e-2, 1e-2, -0.5, 0.5)]
    gen = torch.Generator().manual_seed(0)
    normal = torch.randn(240, generator=gen, dtype=torch.float64) * 4.0
    x = torch.cat([torch.tensor(special + near, dtype=torch.float64), normal])
    if x.numel() % 6:  # maxout with k = 2 and 3
        x = torch.cat([x, torch.zeros(6 - x.numel() % 6, dtype=torch.float64)])
    return x.to(dtype=dtype, device=device)


def _tolerances(dtype: torch.dtype) -> dict[str, float]:
    return (
        {"rtol": 2e-6, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    )


def _value_and_grad(fn: Callable[[Tensor], Tensor], x: Tensor, seed: int = 1):
    """fn(x) and d/dx sum(g * fn(x)) for a fixed random g (not ones: catches a missing g)."""
    x = x.detach().clone().requires_grad_(True)
    y = fn(x)
    gen = torch.Generator().manual_seed(seed)
    g = torch.rand(y.shape, generator=gen, dtype=torch.float64).add_(0.5).to(y.dtype).to(y.device)
    (grad,) = torch.autograd.grad(y, x, g) if y.numel() else (torch.zeros_like(x),)
    return y.detach(), grad


# --------------------------------------------------------------------------------------
# (a) mirrors against torch's own activations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_values_and_grads_match_torch(case: Case, dtype: torch.dtype, device: str) -> None:
    x = _grid(dtype, case.kinks, device)
    y, dx = _value_and_grad(case.mirror, x)
    y_ref, dx_ref = _value_and_grad(case.builtin, x)
    assert y.dtype == dtype and y.device == x.device and y.shape == y_ref.shape
    tol = _tolerances(dtype)
    torch.testing.assert_close(y, y_ref, **tol, msg=lambda m: f"{case.id} values: {m}")
    torch.testing.assert_close(dx, dx_ref, **tol, msg=lambda m: f"{case.id} grads: {m}")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", [c for c in ELEMENTWISE if c.kinks], ids=lambda c: c.id)
def test_derivative_at_each_kink_is_torchs(case: Case, dtype: torch.dtype) -> None:
    x = torch.tensor(case.kinks, dtype=dtype)
    _, dx = _value_and_grad(case.mirror, x)
    _, dx_ref = _value_and_grad(case.builtin, x)
    for point, got, want in zip(case.kinks, dx.tolist(), dx_ref.tolist(), strict=True):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-12), (
            f"{case.id}: derivative at the kink x={point} is {got}, torch gives {want}"
        )


def test_documented_kink_values() -> None:
    """The conventions the course states, read off torch and the mirrors alike."""
    expected = {
        "relu": [(0.0, 0.0)],
        "relu6": [(0.0, 0.0), (6.0, 0.0)],
        "leaky_relu": [(0.0, 0.01)],
        "elu_2": [(0.0, 2.0)],
        "selu": [(0.0, ta.SELU_SCALE * ta.SELU_ALPHA)],
        "celu_0.5": [(0.0, 1.0)],
        "hardswish": [(-3.0, 0.0), (3.0, 1.0)],
        "gelu": [(0.0, 0.5)],
        "silu": [(0.0, 0.5)],
        "mish": [(0.0, 0.6)],
        "sigmoid": [(0.0, 0.25)],
    }
    by_id = {c.id: c for c in CASES}
    for name, points in expected.items():
        for fn in (by_id[name].mirror, by_id[name].builtin):
            x = torch.tensor([p for p, _ in points], dtype=torch.float64, requires_grad=True)
            fn(x).sum().backward()
            for (point, want), got in zip(points, x.grad.tolist(), strict=True):
                assert got == pytest.approx(want, abs=1e-6), f"{name}'({point}) = {got}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_softplus_threshold_boundary(dtype: torch.dtype) -> None:
    """At beta x == threshold the log branch is used (sigma(threshold) slope), above it x."""
    for beta, threshold in [(1.0, 20.0), (2.0, 10.0), (0.5, 1.0), (1.0, 0.0)]:
        x = torch.tensor([threshold / beta, threshold / beta + 0.25], dtype=dtype)
        y, dx = _value_and_grad(lambda t, b=beta, th=threshold: ta.softplus(t, b, th), x)
        y_ref, dx_ref = _value_and_grad(lambda t, b=beta, th=threshold: F.softplus(t, b, th), x)
        torch.testing.assert_close(y, y_ref, **_tolerances(dtype))
        torch.testing.assert_close(dx, dx_ref, **_tolerances(dtype))
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    ta.softplus(x, beta=1.0, threshold=1.0).backward()
    assert x.grad.item() == pytest.approx(1.0 / (1.0 + np.exp(-1.0)))  # sigma(1), not 1


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_finite_for_large_magnitudes(case: Case, dtype: torch.dtype) -> None:
    x = torch.tensor(
        [1e4, -1e4, 1e3, -1e3, 89.0, -89.0, 710.0, -710.0, 0.0, 1.0, -1.0, 50.0], dtype=dtype
    )
    y, dx = _value_and_grad(case.mirror, x)
    assert torch.isfinite(y).all(), f"{case.id}({x.tolist()}) = {y.tolist()}"
    assert torch.isfinite(dx).all(), f"{case.id}' at {x.tolist()} = {dx.tolist()}"


@pytest.mark.parametrize("shape", [(), (0,), (0, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.id)
def test_shapes_including_0d_and_empty(case: Case, shape: tuple[int, ...]) -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    y, dx = _value_and_grad(case.mirror, x)
    y_ref, dx_ref = _value_and_grad(case.builtin, x)
    assert y.shape == x.shape and dx.shape == x.shape
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(dx, dx_ref)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=lambda c: c.id)
def test_input_left_unchanged_and_nan_propagates(case: Case) -> None:
    x = torch.tensor([-2.0, float("nan"), 0.0, 3.0])
    before = x.clone()
    y = case.mirror(x)
    torch.testing.assert_close(x, before, equal_nan=True)
    assert torch.isnan(y[1]), f"{case.id}(nan) = {y[1].item()}, expected nan (as torch)"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e4, 1e4, allow_nan=False, width=32), min_size=1, max_size=12).map(
        lambda v: v + [0.0] * (-len(v) % 6)
    )
)
def test_property_every_case_matches_torch_in_float32(values: list[float]) -> None:
    x = torch.tensor(values, dtype=torch.float32)
    for case in CASES:
        y, dx = _value_and_grad(case.mirror, x)
        y_ref, dx_ref = _value_and_grad(case.builtin, x)
        torch.testing.assert_close(y, y_ref, msg=lambda m, c=case: f"{c.id} at {values}: {m}")
        torch.testing.assert_close(dx, dx_ref, msg=lambda m, c=case: f"{c.id}' at {values}: {m}")


# --------------------------------------------------------------------------------------
# (b) gradcheck in float64, away from kinks
# --------------------------------------------------------------------------------------


def _away_from_kinks(kinks: tuple[float, ...], n: int = 60, seed: int = 3) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, generator=gen, dtype=torch.float64) * 4.0
    for k in kinks:
        close = (x - k).abs() < 1e-3
        x[close] = k + 0.1
    return x


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_gradcheck_float64(case: Case) -> None:
    x = _away_from_kinks(case.kinks).requires_grad_(True)
    assert torch.autograd.gradcheck(case.mirror, (x,), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_gradcheck_prelu_input_and_per_channel_weight() -> None:
    gen = torch.Generator().manual_seed(4)
    x = _away_from_kinks((0.0,), n=2 * 3 * 5).reshape(2, 3, 5).requires_grad_(True)
    w = (torch.rand(3, generator=gen, dtype=torch.float64) - 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(ta.prelu, (x, w))
    w1 = torch.tensor([0.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ta.prelu, (x, w1))


def test_gradcheck_maxout_other_dim() -> None:
    x = _away_from_kinks((), n=4 * 6 * 2).reshape(4, 6, 2).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: ta.maxout(t, 3, dim=1), (x,))


# --------------------------------------------------------------------------------------
# (c) mirrors against the NumPy reference relu_course.activations
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_numpy_reference(case: Case, dtype: torch.dtype) -> None:
    act = pytest.importorskip("relu_course.activations")
    x = _grid(dtype, case.kinks)
    fn, grad = getattr(act, case.np_name), getattr(act, case.np_name + "_grad")
    y, dx = _value_and_grad(case.mirror, x)
    gen = torch.Generator().manual_seed(1)
    g = torch.rand(y.shape, generator=gen, dtype=torch.float64).add_(0.5).to(dtype).numpy()
    if case.np_name == "maxout":
        dx_np = grad(x.numpy(), grad_out=g, **case.np_params)
    else:
        dx_np = grad(x.numpy(), **case.np_params) * g
    tol = _tolerances(dtype) if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(y.numpy(), fn(x.numpy(), **case.np_params), **tol)
    np.testing.assert_allclose(dx.numpy(), dx_np, **tol, err_msg=f"{case.id} grads")


def test_prelu_weight_grad_matches_numpy() -> None:
    act = pytest.importorskip("relu_course.activations")
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, 3, 2, generator=gen, dtype=torch.float64)
    w = torch.tensor([0.1, 0.25, -0.5], dtype=torch.float64, requires_grad=True)
    g = torch.rand(4, 3, 2, generator=gen, dtype=torch.float64)
    ta.prelu(x, w).backward(g)
    want = act.prelu_weight_grad(x.numpy(), w.detach().numpy(), g.numpy())
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-12)


def test_mirror_names_cover_numpy_registry() -> None:
    act = pytest.importorskip("relu_course.activations")
    assert set(ta.ACTIVATION_NAMES) == set(act.ACTIVATIONS)


# --------------------------------------------------------------------------------------
# (d) modules and the registry
# --------------------------------------------------------------------------------------


def test_prelu_module_learns_shared_slope() -> None:
    act = ta.PReLU()
    assert act.weight.shape == (1,) and act.weight.item() == 0.25
    x = torch.tensor([[-2.0, 1.0], [-1.0, 3.0]])
    opt = torch.optim.SGD(act.parameters(), lr=0.1)
    act(x).sum().backward()
    assert act.weight.grad.item() == pytest.approx(-3.0)  # sum of the negative inputs
    opt.step()
    assert act.weight.item() == pytest.approx(0.25 + 0.1 * 3.0)


def test_prelu_module_per_channel() -> None:
    act = ta.PReLU(num_parameters=3, init=0.1)
    ref = nn.PReLU(num_parameters=3, init=0.1)
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(5, 3, 4, 4, generator=gen)
    g = torch.randn(5, 3, 4, 4, generator=gen)
    act(x).backward(g)
    ref(x).backward(g)
    assert act.weight.shape == ref.weight.shape == (3,)
    torch.testing.assert_close(act(x), ref(x))
    torch.testing.assert_close(act.weight.grad, ref.weight.grad)
    with pytest.raises(ValueError, match="3 channels on dim 1"):
        act(torch.zeros(2, 4))


def test_rrelu_module_train_and_eval() -> None:
    lower, upper = 0.1, 0.4
    act = ta.RReLU(lower, upper)
    assert act.training
    x = (-torch.linspace(0.5, 2.0, 4000)).requires_grad_(True)
    y = act(x)
    slopes = (y / x).detach()
    assert ((slopes >= lower) & (slopes <= upper)).all()
    assert slopes.std() > 0.05, "training mode must draw a slope per element"
    assert slopes.mean().item() == pytest.approx((lower + upper) / 2, abs=0.01)
    y.sum().backward()
    torch.testing.assert_close(x.grad, slopes)  # the derivative is the slope that was used
    positive = torch.tensor([0.5, 2.0])
    torch.testing.assert_close(act(positive), positive)
    act.eval()
    torch.testing.assert_close(act(x).detach(), x.detach() * (lower + upper) / 2)
    torch.testing.assert_close(act(x), nn.RReLU(lower, upper).eval()(x))


def test_rrelu_training_flag_in_functional_form() -> None:
    x = -torch.ones(1000)
    y_eval = ta.rrelu(x)
    assert torch.all(y_eval == -(ta.RRELU_LOWER + ta.RRELU_UPPER) / 2)
    y_train = ta.rrelu(x, training=True)
    assert y_train.unique().numel() > 100


def test_maxout_module_shape() -> None:
    layer = ta.Maxout(in_features=6, out_features=4, k=3)
    assert layer.linear.out_features == 12
    assert layer(torch.randn(7, 6)).shape == (7, 4)
    assert layer(torch.randn(2, 5, 6)).shape == (2, 5, 4)


def test_maxout_with_a_zero_piece_is_relu() -> None:
    torch.manual_seed(7)
    layer = ta.Maxout(in_features=5, out_features=3, k=2)
    with torch.no_grad():
        layer.linear.weight[1::2] = 0.0
        layer.linear.bias[1::2] = 0.0
    x = torch.randn(50, 5)
    want = F.relu(F.linear(x, layer.linear.weight[0::2], layer.linear.bias[0::2]))
    torch.testing.assert_close(layer(x), want)


def test_maxout_gradient_goes_to_first_maximum() -> None:
    x = torch.tensor([3.0, 3.0, 1.0, 2.0, 5.0, 5.0], requires_grad=True)
    ta.maxout(x, 3).sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("name", ta.ACTIVATION_NAMES)
def test_get_activation_every_name(name: str) -> None:
    mirror = ta.get_activation(name)
    builtin = ta.get_activation(name, builtin=True)
    assert isinstance(builtin, nn.Module) and type(builtin).__module__.startswith("torch.nn")
    assert type(mirror).__module__.startswith(ta.__name__ + ".")  # a family module of the mirror
    assert type(mirror).__name__ == type(builtin).__name__
    mirror.eval()
    builtin.eval()
    x = torch.linspace(-5, 25, 61)
    torch.testing.assert_close(mirror(x), builtin(x))


def test_get_activation_parameters_and_aliases() -> None:
    assert ta.get_activation("gelu_tanh").approximate == "tanh"
    assert ta.get_activation("gelu_tanh", builtin=True).approximate == "tanh"
    assert isinstance(ta.get_activation("swish"), ta.SiLU)
    assert ta.get_activation("LEAKY_RELU", negative_slope=0.3).negative_slope == 0.3
    assert ta.get_activation("leaky_relu", builtin=True, negative_slope=0.3).negative_slope == 0.3
    assert ta.get_activation("prelu", num_parameters=4).weight.shape == (4,)
    with pytest.raises(TypeError, match="negative_slope"):
        ta.get_activation("leaky_relu", slope=0.1)
    with pytest.raises(TypeError, match="approximate"):
        ta.get_activation("gelu_tanh", approximate="none")


@pytest.mark.parametrize("bad", ["reLu2", "", "maxout", "softmax"])
def test_get_activation_bad_name_lists_valid_names(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        ta.get_activation(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in ta.ACTIVATION_NAMES)


def test_activation_names() -> None:
    assert ta.ACTIVATION_NAMES[:3] == ("relu", "relu6", "leaky_relu")
    assert len(set(ta.ACTIVATION_NAMES)) == len(ta.ACTIVATION_NAMES) == 17
    assert "maxout" not in ta.ACTIVATION_NAMES


# --------------------------------------------------------------------------------------
# API shape: names, defaults, errors, exports
# --------------------------------------------------------------------------------------


# torch.nn.functional's C-implemented functions have no Python signature; these are their
# documented parameters (https://pytorch.org/docs/stable/nn.functional.html).
_C_SIGNATURES = {
    "prelu": {"input": inspect.Parameter.empty, "weight": inspect.Parameter.empty},
    "gelu": {"input": inspect.Parameter.empty, "approximate": "none"},
    "softplus": {"input": inspect.Parameter.empty, "beta": 1.0, "threshold": 20.0},
}


def _torch_parameters(name: str) -> dict[str, Any]:
    try:
        params = inspect.signature(getattr(F, name)).parameters
    except ValueError:
        return _C_SIGNATURES[name]
    return {p: spec.default for p, spec in params.items()}


@pytest.mark.parametrize(
    "name",
    ["relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu", "silu"]
    + ["mish", "softplus", "sigmoid", "tanh", "hardswish"],
)
def test_functional_defaults_match_torch(name: str) -> None:
    ours = inspect.signature(getattr(ta, name)).parameters
    theirs = _torch_parameters(name)
    for param, spec in ours.items():
        assert param in theirs, f"{name} has {param!r}, torch.nn.functional.{name} does not"
        assert spec.default == theirs[param], f"{name}({param}=...) default differs"
    missing = set(theirs) - set(ours) - {"inplace"}
    assert not missing, f"{name} lacks torch's parameters {missing}"


@pytest.mark.parametrize(
    "module, ref",
    [
        (ta.LeakyReLU(), nn.LeakyReLU()),
        (ta.ELU(), nn.ELU()),
        (ta.CELU(), nn.CELU()),
        (ta.GELU(), nn.GELU()),
        (ta.Softplus(), nn.Softplus()),
        (ta.RReLU(), nn.RReLU()),
        (ta.PReLU(), nn.PReLU()),
    ],
    ids=lambda m: type(m).__name__,
)
def test_module_defaults_match_torch(module: nn.Module, ref: nn.Module) -> None:
    for attr in ("negative_slope", "alpha", "approximate", "beta", "threshold", "lower", "upper"):
        if hasattr(ref, attr):
            assert getattr(module, attr) == getattr(ref, attr), attr
    if isinstance(ref, nn.PReLU):
        torch.testing.assert_close(module.weight, ref.weight)


def test_errors_say_what_to_do() -> None:
    with pytest.raises(TypeError, match=r"torch\.as_tensor"):
        ta.relu([1.0, -1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"x\.float\(\)"):
        ta.elu(torch.tensor([1, -1]))
    with pytest.raises(ValueError, match="divisible"):
        ta.maxout(torch.zeros(5), 2)
    with pytest.raises(ValueError, match="positive int"):
        ta.maxout(torch.zeros(4), 0)
    with pytest.raises(ValueError, match="lower <= upper"):
        ta.rrelu(torch.zeros(3), 0.5, 0.1)
    with pytest.raises(ValueError, match="'none' or 'tanh'"):
        ta.gelu(torch.zeros(3), approximate="erf")
    with pytest.raises(ValueError, match="non-zero"):
        ta.celu(torch.zeros(3), alpha=0.0)
    with pytest.raises(ValueError, match="non-zero"):
        ta.softplus(torch.zeros(3), beta=0.0)


def test_all_exports_exist() -> None:
    for name in ta.__all__:
        assert hasattr(ta, name), name
    functions = [n for n in ta.__all__ if n.endswith("Function")]
    assert len(functions) == 20  # the 16 of chapter 5, ReLUSquared and the three gated units
    for name in functions:
        assert issubclass(getattr(ta, name), torch.autograd.Function)


@pytest.mark.parametrize("device", DEVICES)
def test_modules_follow_their_device_and_dtype(device: str) -> None:
    x = torch.randn(4, 3, dtype=torch.float64, device=device)
    for name in ta.ACTIVATION_NAMES:
        act = ta.get_activation(name).to(device=device, dtype=torch.float64)
        y = act(x)
        assert y.device == x.device and y.dtype == torch.float64, name
    layer = ta.Maxout(3, 2, 2, device=device, dtype=torch.float64)
    assert layer(x).device == x.device


# ------------------------------------------------------- gated units and squared ReLU


def _split_reference(gate: Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    return lambda t: t.chunk(2, -1)[0] * gate(t.chunk(2, -1)[1])


GATED_CASES = [
    ("glu", ta.glu, lambda t: F.glu(t, -1)),
    ("geglu", ta.geglu, _split_reference(F.gelu)),
    ("swiglu", ta.swiglu, _split_reference(F.silu)),
    ("relu_squared", ta.relu_squared, lambda t: F.relu(t) ** 2),
]


@pytest.mark.parametrize(
    ("name", "mirror", "reference"), GATED_CASES, ids=[c[0] for c in GATED_CASES]
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gated_units_match_torch_values_and_grads(name, mirror, reference, dtype) -> None:
    x = torch.randn(5, 2, 12, dtype=dtype, generator=torch.Generator().manual_seed(1)) * 3
    x[0, 0, :4] = 0.0  # zeros in both halves
    a = x.clone().requires_grad_(True)
    b = x.clone().requires_grad_(True)
    ya, yb = mirror(a), reference(b)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    torch.testing.assert_close(ya, yb, **tol)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(a.grad, b.grad, **tol)


@pytest.mark.parametrize(
    ("name", "mirror", "reference"), GATED_CASES, ids=[c[0] for c in GATED_CASES]
)
def test_gated_units_gradcheck_float64(name, mirror, reference) -> None:
    x = torch.randn(3, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x = x + 0.1 * torch.sign(x)  # keep relu_squared's samples away from 0
    assert torch.autograd.gradcheck(mirror, (x.requires_grad_(True),))


def test_gated_modules_shapes_dims_and_matching_numpy() -> None:
    act = pytest.importorskip("relu_course.activations")
    x = torch.randn(4, 6, 3, dtype=torch.float64)
    assert ta.GLU(dim=1)(x).shape == (4, 3, 3)
    torch.testing.assert_close(ta.GLU(dim=1)(x), nn.GLU(dim=1)(x))
    assert repr(ta.GEGLU(approximate="tanh")) == "GEGLU(dim=-1, approximate='tanh')"
    for name, cls in ta.GATED_UNITS.items():
        y = cls()(x.transpose(1, 2))
        np.testing.assert_allclose(y.numpy(), getattr(act, name)(x.transpose(1, 2).numpy()))
    np.testing.assert_allclose(ta.ReLUSquared()(x).numpy(), act.relu_squared(x.numpy()))
    with pytest.raises(ValueError, match="even"):
        ta.swiglu(torch.ones(2, 5))
    with pytest.raises(ValueError, match="out of range"):
        ta.glu(torch.ones(2, 4), dim=2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        ta.relu_squared([1.0])


@pytest.mark.parametrize("name", ["glu", "geglu", "swiglu", "relu_squared"])
def test_get_activation_points_to_the_new_modules(name) -> None:
    with pytest.raises(ValueError, match="GLU\\(\\)|ReLUSquared\\(\\)"):
        ta.get_activation(name)


# ------------------------------------------------------------------- facts stated once


@pytest.mark.parametrize("bad", ["rleu", "reLu2", "softmax", ""])
def test_both_registries_raise_one_error_for_an_unknown_name(bad: str) -> None:
    A = pytest.importorskip("relu_course.activations")
    with pytest.raises(A.UnknownActivationError) as numpy_error:
        A.get(bad)
    with pytest.raises(A.UnknownActivationError) as torch_error:
        ta.get_activation(bad)
    assert ta.UnknownActivationError is A.UnknownActivationError
    assert str(numpy_error.value) == str(torch_error.value)  # one message, names in one order
    message = str(numpy_error.value)
    assert message.startswith(f"unknown activation {bad!r}; known names: relu, relu6, ")
    # a KeyError for a look-up and a ValueError for an argument: old except clauses still work
    assert isinstance(numpy_error.value, KeyError) and isinstance(numpy_error.value, ValueError)


def test_unknown_name_suggests_the_closest() -> None:
    A = pytest.importorskip("relu_course.activations")
    with pytest.raises(A.UnknownActivationError, match="Did you mean 'relu'\\?"):
        ta.get_activation("rleu")
    with pytest.raises(A.UnknownActivationError, match="Did you mean 'leaky_relu'\\?"):
        A.get("leaky_rellu")
    with pytest.raises(A.UnknownActivationError) as info:
        A.get("softmax")
    assert "Did you mean" not in str(info.value)
    assert A.get(" ReLU ") is A.ACTIVATIONS["relu"]  # the same key rule as get_activation


def test_constants_are_defined_once_in_the_numpy_reference() -> None:
    A = pytest.importorskip("relu_course.activations")
    for name in ("SELU_ALPHA", "SELU_SCALE", "GELU_TANH_C", "GELU_TANH_K", "RRELU_LOWER"):
        assert getattr(ta, name) is getattr(A, name), name
    package = Path(A.__file__).resolve().parents[1]
    numbers = {A.SELU_ALPHA: "SELU_ALPHA", A.SELU_SCALE: "SELU_SCALE", A.GELU_TANH_K: "GELU_TANH_K"}
    holders: dict[str, list[str]] = {name: [] for name in numbers.values()}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf8"))):
            if isinstance(node, ast.Constant) and type(node.value) is float:
                for value, name in numbers.items():
                    if math.isclose(node.value, value, rel_tol=1e-9):
                        holders[name].append(path.relative_to(package).as_posix())
    # the numbers as code (not in prose) appear once, in the NumPy reference
    assert holders == {name: ["activations/_core.py"] for name in numbers.values()}


def test_numpy_and_torch_defaults_agree() -> None:
    """A default (negative_slope=0.01, alpha=1.0 ...) is written in several signatures and
    in the NumPy registry's params; here they are held to one value."""
    A = pytest.importorskip("relu_course.activations")
    empty = inspect.Parameter.empty
    checked = 0
    for act in A.ACTIVATIONS.values():
        mirror = inspect.signature(getattr(ta, act.torch_name)).parameters
        for fn in (act.fn, act.grad):
            ours = inspect.signature(fn).parameters
            for key, value in act.params.items():
                assert key in ours, (act.name, fn.__name__, key)
                if ours[key].default is not empty and act.name != "gelu_tanh":
                    assert value == ours[key].default, (act.name, fn.__name__, key)
                if key in mirror and mirror[key].default is not empty:
                    assert ours[key].default in (empty, mirror[key].default), (act.name, key)
                    checked += 1
    assert checked >= 10  # leaky_relu, rrelu, elu, celu, gelu, softplus, each twice
