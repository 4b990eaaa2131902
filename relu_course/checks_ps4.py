"""The ps4 checks (custom autograd, PReLU, digits): a Leaky ReLU ``autograd.Function``,
a learnable PReLU module, and the held-out accuracy of the digits model.

The two checks are :class:`~relu_course.checks_torch_core.TorchCheck` s (cases, observe,
judge); :mod:`relu_course.checks_torch` registers them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relu_course.checks_torch_core import (
    Cases,
    CheckFailed,
    Observations,
    TorchCheck,
    attempt,
    check_level,
    detached,
    failure,
    fmt,
    judge_in_order,
)
from relu_course.training import model_device

__all__ = ["AUTOGRAD_FUNCTION", "PRELU_MODULE", "digits_test_accuracy"]

# ------------------------------------------------------------------ autograd Function

_BASE = (-3.0, -1.5, -0.25, 0.0, 0.5, 2.0, 7.0)


def _leaky(x: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.where(x > 0, x, x * slope)


def _function_cases(name: str, level: str = "basic") -> Cases:
    check_level(level)
    base = torch.tensor(_BASE)
    cases: Cases = [{"name": name, "step": "default", "base": base}]
    for slope in [0.1, 2.0] if level == "basic" else [0.1, 2.0, 0.0, 0.3]:
        for dtype in (torch.float64, torch.float32):
            cases.append({"name": name, "step": "slope", "base": base, "slope": slope,
                          "dtype": dtype})  # fmt: skip
    # gradcheck in float64 at points away from the kink
    gen = torch.Generator().manual_seed(0)
    pts = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    pts = torch.where(pts.abs() < 0.1, pts.sign() * 0.1 + pts, pts).requires_grad_()
    for slope in [0.2] if level == "basic" else [0.2, 0.0, 0.7]:
        cases.append({"name": name, "step": "gradcheck", "pts": pts, "slope": slope})
    for shape in [(), (0,)] if level == "basic" else [(), (0,), (2, 3, 4)]:
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        cases.append({"name": name, "step": "shape", "shape": shape, "x": x})
    return cases


def _shown(value: Any, how: Callable[[Any], str]) -> str:
    try:
        return how(value)
    except Exception:  # noqa: BLE001 - a value that cannot be formatted is shown by type
        return f"<{type(value).__name__}>"


def _observe_function_case(fn_cls: Any, case: Mapping[str, Any]) -> dict[str, Any]:
    name, step = case["name"], case["step"]

    def apply(*args: Any) -> Any:
        return fn_cls.apply(*args)

    if step == "default":
        y, error = attempt(apply, f"{name}.apply(x) (default negative_slope)", case["base"].clone())
        return {"error": error, "y": detached(y), "shown": _shown(y, fmt)}
    if step == "slope":
        slope, dtype = case["slope"], case["dtype"]
        x = case["base"].to(dtype).clone().requires_grad_()
        y, error = attempt(apply, f"{name}.apply(x, {slope})", x, slope)
        obs = {"error": error, "y": detached(y), "shown": _shown(y, repr)}
        obs["x_after"] = x.detach().clone()
        upstream = torch.linspace(0.5, 3.5, len(case["base"]), dtype=dtype)
        grad, obs["grad_error"] = attempt(
            lambda: torch.autograd.grad(y, x, upstream)[0], f"backward of {name}.apply(x, {slope})"
        )
        obs["grad"] = detached(grad)
        return obs
    if step == "gradcheck":
        slope = case["slope"]
        ok, error = attempt(
            torch.autograd.gradcheck, f"gradcheck of {name} (slope {slope})",
            lambda t: fn_cls.apply(t, slope), (case["pts"],), eps=1e-6, atol=1e-5,
            raise_exception=False,
        )  # fmt: skip
        return {"error": error, "ok": bool(ok) if error is None else None}
    shape = case["shape"]
    x = case["x"].clone().requires_grad_()
    y, error = attempt(apply, f"{name}.apply(x of shape {shape}, 0.3)", x, 0.3)
    obs = {"error": error, "y": detached(y)}
    if x.numel() and isinstance(y, torch.Tensor):
        grad, obs["grad_error"] = attempt(
            lambda: torch.autograd.grad(y.sum(), x)[0], f"backward, shape {shape}"
        )
        obs["grad"] = detached(grad)
    return obs


def _observe_function(fn_cls: Any, cases: Cases) -> Observations:
    return [_observe_function_case(fn_cls, case) for case in cases]


def _same(got: Any, want: torch.Tensor, **tol: float) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.shape == want.shape
        and got.dtype == want.dtype
        and torch.allclose(got, want, **tol)
    )


def _judge_slope(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    name, base, slope, dtype = case["name"], case["base"], case["slope"], case["dtype"]
    y, want = obs["y"], _leaky(base.to(dtype), slope)
    if not isinstance(y, torch.Tensor) or y.dtype != dtype or not _same(y, want, atol=1e-6):
        return failure(
            f"{name}.apply(x, {slope}), x = {fmt(base)} ({dtype})",
            fmt(want), fmt(y) if isinstance(y, torch.Tensor) else obs["shown"],
            "x where x > 0, negative_slope * x elsewhere (max(x, a*x) is wrong when "
            "a > 1); keep the input's dtype",
        )  # fmt: skip
    if not torch.equal(obs["x_after"], base.to(dtype)):
        return failure(
            f"{name}.apply(x, {slope}): the input afterwards", fmt(base),
            fmt(obs["x_after"]), "do not modify x in place; compute a new tensor",
        )  # fmt: skip
    if obs["grad_error"] is not None:
        return str(obs["grad_error"])
    grad = obs["grad"]
    upstream = torch.linspace(0.5, 3.5, len(base), dtype=dtype)
    local = torch.where(base > 0, 1.0, slope).to(dtype)
    want_g = upstream * local
    if _same(grad, want_g, atol=1e-6):
        return None
    kink = int((base == 0).nonzero()[0, 0])
    if _same(grad, local):
        hint = "multiply by grad_output (the chain rule): do not return the local slope alone"
    elif (
        isinstance(grad, torch.Tensor)
        and grad.shape == base.shape
        and not math.isclose(float(grad[kink]), float(want_g[kink]))
    ):
        hint = (
            "at x = 0 the derivative is the negative side's, negative_slope "
            "(PyTorch's convention): use x > 0, not x >= 0"
        )
    else:
        hint = "grad_input = grad_output * (1 where x > 0 else negative_slope)"
    return failure(
        f"{name}: dL/dx for x = {fmt(base)}, slope {slope}, "
        f"grad_output = {fmt(upstream)} ({dtype})",
        fmt(want_g), _shown(grad, fmt), hint,
    )  # fmt: skip


def _judge_function_case(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    name, step = case["name"], case["step"]
    if step == "default":
        base = case["base"]
        if not _same(obs["y"], F.leaky_relu(base), atol=1e-7):
            return failure(
                f"{name}.apply(x), x = {fmt(base)}", fmt(F.leaky_relu(base)), obs["shown"],
                "forward returns x where x > 0 and negative_slope * x elsewhere; the default "
                "negative_slope is 0.01",
            )  # fmt: skip
        return None
    if step == "slope":
        return _judge_slope(case, obs)
    if step == "gradcheck":
        if not obs["ok"]:
            return failure(
                f"torch.autograd.gradcheck({name}.apply, float64 x of shape (4, 5), "
                f"slope {case['slope']})", "True (backward agrees with finite differences)",
                obs["ok"], "your backward disagrees with the forward's finite differences",
            )  # fmt: skip
        return None
    shape, x, y = case["shape"], case["x"], obs["y"]
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != shape or not _same(y, _leaky(x, 0.3)):
        return failure(
            f"{name}.apply(x of shape {shape}, 0.3)", f"shape {shape}, leaky values",
            f"shape {tuple(y.shape) if isinstance(y, torch.Tensor) else None}",
            "work elementwise on any shape",
        )  # fmt: skip
    if x.numel():
        if obs.get("grad_error") is not None:
            return str(obs["grad_error"])
        if not _same(obs.get("grad"), torch.where(x > 0, 1.0, 0.3).double()):
            return failure(
                f"dL/dx of {name}.apply(x of shape {shape}, 0.3)",
                "1 where x > 0, 0.3 elsewhere", _shown(obs.get("grad"), lambda g: fmt(g.flatten())),
                "work elementwise; keep the shape of grad_output",
            )  # fmt: skip
    return None


def _judge_function(cases: Cases, observations: Observations) -> str | None:
    return judge_in_order(cases, observations, _judge_function_case)


AUTOGRAD_FUNCTION = TorchCheck(
    "LeakyReLUFunction", _function_cases, _observe_function, _judge_function,
    in_judge=frozenset({"gradcheck"}),
)  # fmt: skip

# ------------------------------------------------------------------ PReLU module


def _prelu_cases(name: str, level: str = "basic") -> Cases:
    check_level(level)
    gen = torch.Generator().manual_seed(0)
    shapes: list[tuple[int, float | None, tuple[int, ...], torch.dtype]] = [
        (1, None, (4, 3), torch.float32),
        (3, 0.05, (2, 3, 4, 5), torch.float64),
    ]
    if level == "full":
        shapes += [
            (1, 0.1, (2, 3, 4, 5), torch.float64),
            (6, None, (5, 6), torch.float32),
        ]
    cases: Cases = []
    for n, init, shape, dtype in shapes:
        x = torch.randn(shape, generator=gen, dtype=dtype) * 2
        upstream = torch.rand(shape, generator=gen, dtype=dtype) + 0.5
        cases.append({
            "name": name, "step": "case", "n": n, "init": init, "shape": shape, "dtype": dtype,
            "x": x, "upstream": upstream,
            "call": f"{name}({n})" if init is None else f"{name}({n}, init={init})",
            "args": (n,) if init is None else (n, init),
        })  # fmt: skip
    cases.append({"name": name, "step": "sgd"})
    return cases


def _observe_prelu_case(prelu_cls: Any, case: Mapping[str, Any]) -> dict[str, Any]:
    call, n, dtype = case["call"], case["n"], case["dtype"]
    module, error = attempt(prelu_cls, call, *case["args"], rules=("PReLU",))
    if error is not None:
        return {"error": error}
    try:
        params = dict(module.named_parameters())
        obs: dict[str, Any] = {"params": {k: list(v.shape) for k, v in params.items()}}
        weight = params.get("weight")
        if not isinstance(weight, nn.Parameter) or tuple(weight.shape) != (n,):
            return obs | {"weight": None}
        obs["weight"] = weight.detach().cpu().clone()
        module = module.to(dtype)
        with torch.no_grad():  # distinct slopes so channel mix-ups show
            module.weight.copy_(torch.linspace(0.1, 0.1 * n, n, dtype=dtype))
    except Exception as exc:  # noqa: BLE001 - any error of student code fails the check
        return {"error": f"{call}: its parameters: {type(exc).__name__}: {exc}"}
    x = case["x"].clone().requires_grad_()
    y, obs["forward_error"] = attempt(
        module, f"{call}(x of shape {tuple(case['shape'])})", x, rules=("PReLU",)
    )
    obs |= {"y": detached(y), "shown": _shown(y, repr), "backward_error": None}
    if isinstance(y, torch.Tensor):
        try:
            (y * case["upstream"]).sum().backward()
        except Exception as exc:  # noqa: BLE001 - the judge reports it
            obs["backward_error"] = f"{type(exc).__name__}: {exc}"
    obs["weight_grad"] = detached(getattr(getattr(module, "weight", None), "grad", None))
    obs["x_grad"] = detached(x.grad)
    return obs


def _observe_sgd(prelu_cls: Any, name: str) -> dict[str, Any]:
    module, error = attempt(prelu_cls, f"{name}(1)", 1, rules=("PReLU",))
    if error is not None:
        return {"error": error}
    try:
        opt = torch.optim.SGD(module.parameters(), lr=0.1)
    except Exception as exc:  # noqa: BLE001 - any error of student code fails the check
        return {"error": f"{name}(1): an SGD optimiser: {type(exc).__name__}: {exc}"}
    out, error = attempt(module, f"{name}(1)(-torch.ones(3, 2))", -torch.ones(3, 2),
                         rules=("PReLU",))  # fmt: skip
    if error is not None:
        return {"error": error}
    try:
        out.sum().backward()
        opt.step()
        return {"weight": detached(module.weight), "keys": [str(k) for k in module.state_dict()]}
    except Exception as exc:  # noqa: BLE001 - any error of student code fails the check
        return {"error": f"{name}(1): one SGD step: {type(exc).__name__}: {exc}"}


def _observe_prelu(prelu_cls: Any, cases: Cases) -> Observations:
    return [
        _observe_prelu_case(prelu_cls, case)
        if case["step"] == "case"
        else _observe_sgd(prelu_cls, case["name"])
        for case in cases
    ]


def _judge_prelu_case(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    call, n, shape, dtype = case["call"], case["n"], case["shape"], case["dtype"]
    weight = obs["weight"]
    if weight is None:
        return failure(
            f"{call}: its parameters", f"'weight', an nn.Parameter of shape ({n},)",
            {k: tuple(v) for k, v in obs["params"].items()} or "no parameters",
            "self.weight = nn.Parameter(torch.full((num_parameters,), init)): a plain "
            "tensor or a buffer is not learned by the optimiser",
        )  # fmt: skip
    want_init = 0.25 if case["init"] is None else case["init"]
    if not torch.allclose(weight, torch.full((n,), want_init)):
        return failure(f"{call}.weight", fmt([want_init] * n), fmt(weight),
                       "fill the slope with init")  # fmt: skip
    ref_w = torch.linspace(0.1, 0.1 * n, n, dtype=dtype).requires_grad_()
    ref_x = case["x"].clone().requires_grad_()
    want = F.prelu(ref_x, ref_w)
    what = f"{call} with weight {fmt(ref_w.detach())} on x of shape {tuple(shape)}"
    if obs["forward_error"] is not None:
        return str(obs["forward_error"])
    y = obs["y"]
    if not isinstance(y, torch.Tensor) or not _same(y, want.detach(), atol=1e-6):
        return failure(
            f"{what}: output (first values)", fmt(want.detach().flatten()[:6]),
            fmt(y.flatten()[:6]) if isinstance(y, torch.Tensor) else obs["shown"],
            "x where x > 0 and weight * x where x <= 0 (the slope acts on the NEGATIVE "
            "side); with several channels, channel c of dim 1 uses weight[c]: reshape "
            "it to (1, C, 1, ...) for broadcasting",
        )  # fmt: skip
    (want * case["upstream"]).sum().backward()
    if obs["backward_error"] is not None:
        return failure(
            f"{what}: backward", "gradients for x and weight", obs["backward_error"],
            "build the output with differentiable torch operations",
        )  # fmt: skip
    w_grad, x_grad = obs["weight_grad"], obs["x_grad"]
    if not _same(w_grad, ref_w.grad, rtol=1e-5, atol=1e-6):
        return failure(
            f"{what}: dL/dweight", fmt(ref_w.grad), "None" if w_grad is None else fmt(w_grad),
            "the gradient must reach the slope: use the Parameter itself in forward "
            "(no .item(), .detach() or float())",
        )  # fmt: skip
    if not _same(x_grad, ref_x.grad, rtol=1e-5, atol=1e-6):
        return failure(
            f"{what}: dL/dx (first values)", fmt(ref_x.grad.flatten()[:6]),
            "None" if x_grad is None else fmt(x_grad.flatten()[:6]),
            "dL/dx is 1 where x > 0 and the slope elsewhere",
        )  # fmt: skip
    return None


def _judge_sgd(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    name, weight = case["name"], obs["weight"]
    if (
        weight is None
        or weight.numel() < 1
        or not math.isclose(float(weight.flatten()[0]), 0.25 + 0.1 * 6, rel_tol=1e-5)
    ):
        return failure(
            f"{name}(1): one SGD step (lr 0.1) on sum(f(-1 * ones(3, 2)))",
            "weight 0.25 + 0.1 * 6 = 0.85",
            fmt(weight) if weight is not None else "None",
            "register the slope as an nn.Parameter so that the optimiser updates it",
        )
    if "weight" not in obs["keys"]:
        return failure(f"{name}(1).state_dict()", "a 'weight' entry", list(obs["keys"]),
                       "assign the nn.Parameter to self.weight")  # fmt: skip
    return None


def _judge_prelu(cases: Cases, observations: Observations) -> str | None:
    return judge_in_order(
        cases,
        observations,
        lambda case, obs: (_judge_prelu_case if case["step"] == "case" else _judge_sgd)(case, obs),
    )


PRELU_MODULE = TorchCheck("PReLU", _prelu_cases, _observe_prelu, _judge_prelu)

# ------------------------------------------------------------------ digits


def digits_test_accuracy(
    model: nn.Module, device: torch.device | str | None = None, *, seed: int = 0
) -> float:
    """Accuracy of ``model`` on the held-out digits: ``mean(argmax f(x_i) == y_i)``.

    Loads the split itself (``relu_course.data.load_digits(seed=seed)``, 25 % held
    out), so a student's training code never picks the examples it is scored on.

    Examples
    --------
    >>> acc = digits_test_accuracy(nn.Linear(64, 10))
    >>> 0.0 <= acc <= 1.0
    True
    """
    from relu_course.data import load_digits

    data = load_digits(seed=seed)
    if device is None:
        device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(data.X_test.to(device))
    finally:
        model.train(was_training)
    if tuple(logits.shape) != (len(data.y_test), 10):
        raise CheckFailed(
            f"the model maps the {len(data.y_test)} test digits to a tensor of shape "
            f"{tuple(logits.shape)}; expected ({len(data.y_test)}, 10): one logit per digit"
        )
    return float((logits.argmax(dim=1).cpu() == data.y_test).double().mean())
