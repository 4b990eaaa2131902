"""The ps2 checks (vanishing gradients): initialisers, gradient norms, the MLP builder.

Each check is a :class:`~relu_course.checks_torch_core.TorchCheck` (cases, observe,
judge); :mod:`relu_course.checks_torch` registers them and states the public
``check_*`` functions. Also the linear-teacher task the ps2 and ps3 tests train on.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from relu_course.checks_torch_core import (
    Cases,
    Observations,
    TorchCheck,
    attempt,
    changed,
    check_level,
    failure,
    fmt,
    judge_in_order,
    snapshot,
)
from relu_course.training import make_mlp

__all__ = [
    "GRAD_NORMS",
    "INIT",
    "MLP",
    "deep_relu_accuracy",
    "seeded_mlp",
    "teacher_accuracy",
    "teacher_data",
]

# ------------------------------------------------------------------ initialisation


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)`` (nn.Linear/Conv)."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _init_std(kind: str, shape: tuple[int, ...]) -> float:
    fan_in, fan_out = _fans(shape)
    if kind == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(2.0 / fan_in)


_INIT_HINTS = {
    "xavier": "Xavier (Glorot) normal uses std = sqrt(2 / (fan_in + fan_out)); for an "
    "nn.Linear weight of shape (out, in), fan_in = in = shape[1] and fan_out = shape[0]; "
    "for a conv weight (out, in, kh, kw) both are multiplied by kh * kw",
    "he": "He (Kaiming) normal uses std = sqrt(2 / fan_in); for an nn.Linear weight of "
    "shape (out, in), fan_in is shape[1] (not shape[0]); for a conv weight "
    "(out, in, kh, kw) it is in * kh * kw",
}


def _init_cases(name: str, kind: str, level: str = "basic") -> Cases:
    check_level(level)
    if kind not in _INIT_HINTS:
        raise ValueError(f'kind must be "xavier" or "he", got {kind!r}')
    # Every clause has a visible ("basic") case; "full" only adds shapes.
    shapes: list[tuple[int, ...]] = [(256, 512), (512, 128), (64, 32, 3, 3)]
    if level == "full":
        shapes += [(1000, 50), (40, 1200), (16, 8, 5, 5)]
    base = {"name": name, "kind": kind}
    cases = [base | {"step": "fill", "shape": s, "dtype": torch.float32} for s in shapes]
    cases.append(base | {"step": "fill", "shape": (300, 200), "dtype": torch.float64})
    cases.append(base | {"step": "normal", "shape": (1000, 50), "dtype": torch.float32})
    cases.append(base | {"step": "seeds", "shape": (64, 48), "dtype": torch.float32})
    cases.append(base | {"step": "param", "shape": (128, 256)})
    return cases


def _observe_fill(init_fn: Callable[..., Any], case: Mapping[str, Any]) -> dict[str, Any]:
    shape, dtype = case["shape"], case["dtype"]
    weight = torch.full(shape, float("nan"), dtype=dtype)
    what = f"{case['name']}(weight) with weight.shape = {shape}"
    out, error = attempt(init_fn, what, weight, rules=(f"{case['kind']}_normal_",))
    if error is not None:
        return {"error": error}
    returned = None
    if out is not weight:
        returned = type(out).__name__ + ("" if out is None else " (a different object)")
    return {"returned": returned, "weight": weight.detach().cpu().clone()}


def _observe_init(init_fn: Callable[..., Any], cases: Cases) -> Observations:
    observations: Observations = []
    for case in cases:
        if case["step"] in ("fill", "normal"):
            observations.append(_observe_fill(init_fn, case))
        elif case["step"] == "seeds":
            draws = []
            for seed in (7, 7, 8):
                torch.manual_seed(seed)
                draws.append(_observe_fill(init_fn, case))
                if "error" in draws[-1]:
                    break
            observations.append({"draws": draws})
        else:
            param = nn.Parameter(torch.empty(case["shape"]))
            what = (
                f"{case['name']}(nn.Parameter of shape {case['shape']}) (hint: fill inside "
                "`with torch.no_grad():`)"
            )
            out, error = attempt(init_fn, what, param, rules=(f"{case['kind']}_normal_",))
            if error is not None:
                observations.append({"error": error})
                continue
            observations.append(
                {
                    "same": out is param,
                    "requires_grad": bool(param.requires_grad),
                    "leaf": bool(param.is_leaf),
                    "grad_fn": param.grad_fn is not None,
                    "weight": param.detach().cpu().clone(),
                }
            )
    return observations


def _judge_fill(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    name, kind, shape, dtype = case["name"], case["kind"], case["shape"], case["dtype"]
    if obs.get("error") is not None:
        return str(obs["error"])
    weight = obs["weight"]
    if obs["returned"] is not None:
        return failure(
            f"{name}(weight), shape {shape}: the return value",
            "the same tensor object that was passed in (filled in place)",
            obs["returned"],
            "fill the weight in place (e.g. weight.normal_(0.0, std) inside "
            "`with torch.no_grad():`) and end with `return weight`",
        )
    if not isinstance(weight, torch.Tensor):
        return f"{name}(weight), shape {shape}: no weight observed"
    if weight.dtype != dtype or tuple(weight.shape) != shape:
        return failure(
            f"{name}(weight), shape {shape}", f"dtype {dtype}, shape {shape}",
            f"dtype {weight.dtype}, shape {tuple(weight.shape)}",
            "fill the tensor in place; do not replace or reshape it",
        )  # fmt: skip
    if not torch.isfinite(weight).all():
        missing = int((~torch.isfinite(weight)).sum())
        return failure(
            f"{name}(weight), shape {shape}: entries filled",
            "every entry overwritten with a finite random number",
            f"{missing} of {weight.numel()} entries still hold their old value (NaN)",
            "write into every entry of the tensor you were given, in place",
        )
    std = _init_std(kind, shape)
    n = weight.numel()
    got_std = float(weight.double().std())
    got_mean = float(weight.double().mean())
    tol = max(0.05, 6.0 / math.sqrt(2.0 * n))
    if abs(got_std / std - 1.0) > tol:
        fan_in, fan_out = _fans(shape)
        return failure(
            f"{name}(weight), shape {shape} (fan_in = {fan_in}, fan_out = {fan_out}): "
            "standard deviation of the entries",
            f"{std:.5f} (within {tol:.0%})",
            f"{got_std:.5f}",
            _INIT_HINTS[kind],
        )
    if abs(got_mean) > 6.0 * std / math.sqrt(n):
        return failure(
            f"{name}(weight), shape {shape}: mean of the entries",
            f"0 (|mean| <= {6.0 * std / math.sqrt(n):.2g})",
            f"{got_mean:.4g}",
            "draw from a normal distribution centred at 0",
        )
    return None


def _judge_init_case(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    name, kind, step = case["name"], case["kind"], case["step"]
    if step == "fill":
        return _judge_fill(case, obs)
    if step == "normal":  # the normal distribution, not a uniform one with the same std
        message = _judge_fill(case, obs)
        if message is not None:
            return message
        frac = float((obs["weight"].abs() > 2.0 * _init_std(kind, (1000, 50))).double().mean())
        if not 0.035 <= frac <= 0.057:
            return failure(
                f"{name}: share of entries beyond 2 std (shape (1000, 50))",
                "about 0.0455, as for a normal distribution",
                f"{frac:.4f}",
                "draw from a normal distribution (weight.normal_ or torch.randn), not a "
                "uniform or truncated one",
            )
        return None
    if step == "seeds":  # torch's global generator: the same seed, the same weights
        draws = list(obs.get("draws") or [])
        for draw in draws:
            message = _judge_fill(case, draw)
            if message is not None:
                return message
        if len(draws) != 3:
            return f"{name}: reproducibility with torch.manual_seed: {len(draws)} draws of 3"
        w = [d["weight"] for d in draws]
        if not torch.equal(w[0], w[1]) or torch.equal(w[0], w[2]):
            return failure(
                f"{name}: reproducibility with torch.manual_seed",
                "the same seed gives the same weights and another seed different ones",
                "same seed -> " + ("same" if torch.equal(w[0], w[1]) else "different")
                + ", other seed -> " + ("same" if torch.equal(w[0], w[2]) else "different"),
                "draw with torch's random generator (weight.normal_ or torch.randn), not "
                "NumPy's or Python's random module, and do not reseed inside the function",
            )  # fmt: skip
        return None
    # an nn.Parameter: filled without autograd recording it, still a trainable leaf
    if not obs["same"] or not obs["requires_grad"] or not obs["leaf"] or obs["grad_fn"]:
        return failure(
            f"{name}(nn.Parameter(...)): the parameter afterwards",
            "the same Parameter, still a leaf with requires_grad=True and no grad_fn",
            f"same object: {obs['same']}, requires_grad: {obs['requires_grad']}, "
            f"leaf: {obs['leaf']}",
            "fill in place under torch.no_grad() so that autograd does not record it",
        )
    std = _init_std(kind, case["shape"])
    got = float(obs["weight"].std())
    if abs(got / std - 1.0) > 0.05:
        return failure(
            f"{name}(nn.Parameter of shape {case['shape']}): std",
            f"{std:.5f}",
            f"{got:.5f}",
            _INIT_HINTS[kind],
        )
    return None


def _judge_init(cases: Cases, observations: Observations) -> str | None:
    return judge_in_order(cases, observations, _judge_init_case)


INIT = TorchCheck("init_fn", _init_cases, _observe_init, _judge_init)

# ------------------------------------------------------------------ gradient norms


def seeded_mlp(
    sizes: list[int], act: Callable[[], nn.Module], seed: int, std: str = "he"
) -> nn.Sequential:
    """:func:`~relu_course.training.make_mlp` with weights ``N(0, std^2)`` (He or Xavier)
    and biases ``N(0, 0.01)`` drawn from a generator seeded with ``seed``.

    Examples
    --------
    >>> a, b = seeded_mlp([3, 4, 2], nn.ReLU, seed=1), seeded_mlp([3, 4, 2], nn.ReLU, seed=1)
    >>> torch.equal(a[0].weight, b[0].weight), [type(m).__name__ for m in a]
    (True, ['Linear', 'ReLU', 'Linear'])
    """
    gen = torch.Generator().manual_seed(seed)
    model = make_mlp(sizes[0], sizes[1:-1], sizes[-1], activation=act, init="default", bias=None)
    for lin in (m for m in model if isinstance(m, nn.Linear)):
        fan_out, fan_in = lin.weight.shape
        scale = math.sqrt(2.0 / fan_in) if std == "he" else math.sqrt(2.0 / (fan_in + fan_out))
        with torch.no_grad():
            lin.weight.copy_(torch.randn(fan_out, fan_in, generator=gen) * scale)
            lin.bias.copy_(torch.randn(fan_out, generator=gen) * 0.1)
    return model


def _grad_norms_reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    model = copy.deepcopy(model)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    return [float(m.weight.grad.norm()) for m in model.modules() if isinstance(m, nn.Linear)]


def _grad_cases(name: str, level: str = "basic") -> Cases:
    check_level(level)
    gen = torch.Generator().manual_seed(0)

    def case(what: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, Any]:
        # what the judge compares with is fixed now, before the student's code runs
        return {"name": name, "what": what, "model": model, "x": x, "y": y,
                "batch": x.shape[0], "expected": _grad_norms_reference(model, x, y),
                "params": snapshot(model)}  # fmt: skip

    model = seeded_mlp([5, 8, 8, 8, 3], nn.Tanh, seed=1)
    x = torch.randn(16, 5, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    cases = [
        case("a 4-layer tanh MLP (first call)", model, x, y),
        case("the same MLP (second call: gradients must not add up)", model, x, y),
    ]
    stale = seeded_mlp([6, 10, 10, 4], nn.ReLU, seed=2)
    for p in stale.parameters():
        p.grad = torch.full_like(p, 3.0)
    x = torch.randn(32, 6, generator=gen)
    y = torch.randint(0, 4, (32,), generator=gen)
    cases.append(case("a ReLU MLP whose .grad already holds stale values", stale, x, y))
    with torch.random.fork_rng(devices=[]):  # the same layers in every process
        torch.manual_seed(4)
        nested = nn.Sequential(
            nn.Sequential(nn.Linear(4, 7), nn.ReLU()),
            nn.Dropout(0.5),
            nn.Sequential(nn.Linear(7, 9), nn.LeakyReLU(0.1), nn.Linear(9, 2)),
        ).eval()
    x = torch.randn(8, 4, generator=gen)
    y = torch.randint(0, 2, (8,), generator=gen)
    cases.append(case("nested blocks with Dropout (eval mode)", nested, x, y))
    if level == "basic":
        return cases
    deep = seeded_mlp([10] + [32] * 12 + [5], nn.Sigmoid, seed=3, std="xavier")
    x_deep = torch.randn(64, 10, generator=gen)
    y_deep = torch.randint(0, 5, (64,), generator=gen)
    cases.append(case("a 13-layer sigmoid MLP (vanishing gradients)", deep, x_deep, y_deep))
    x = torch.randn(1, 4, generator=gen)
    cases.append(case("the nested model on a single example", nested, x, y[:1]))
    return cases


def _observe_grads(fn: Callable[..., Any], cases: Cases) -> Observations:
    observations: Observations = []
    for case in cases:
        model = case["model"]
        got, error = attempt(fn, f"{case['name']}(model, x, y) on {case['what']}",
                             model, case["x"], case["y"])  # fmt: skip
        if error is not None:
            observations.append({"error": error})
            continue
        floats = isinstance(got, list) and all(isinstance(v, float) for v in got)
        kinds = f" of {sorted({type(v).__name__ for v in got})}" if isinstance(got, list) else ""
        observations.append(
            {
                "type": type(got).__name__ + kinds,
                "values": [float(v) for v in got] if floats else None,
                "params": [p.detach().cpu().clone() for p in model.parameters()],
            }
        )
    return observations


def _judge_grad_case(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    name, what, expected = case["name"], case["what"], case["expected"]
    got = obs["values"]
    if got is None:
        return failure(
            f"{name} on {what}: the return type",
            f"a list of {len(expected)} Python floats",
            obs["type"],
            "collect `float(layer.weight.grad.norm())` (or .item()) for every nn.Linear",
        )
    if changed(case["params"], obs["params"]):
        return failure(
            f"{name} on {what}: the model's parameters",
            "unchanged (measure only: no optimiser step)",
            "changed",
            "do one forward and one backward; never call optimizer.step() here",
        )
    if len(got) != len(expected):
        return failure(
            f"{name} on {what}: number of values",
            f"{len(expected)} (one per nn.Linear weight)",
            f"{len(got)}: {fmt(got)}",
            "one norm per nn.Linear layer's weight; biases and activations are not layers",
        )
    exp_t = torch.tensor(expected, dtype=torch.float64)
    got_t = torch.tensor(got, dtype=torch.float64)
    if torch.allclose(got_t, exp_t, rtol=1e-3, atol=0.0):
        return None
    if torch.allclose(got_t.flip(0), exp_t, rtol=1e-3, atol=0.0):
        hint = "the values are in reverse order: list layers input side first"
    elif torch.allclose(got_t**0.5, exp_t, rtol=1e-3, atol=0.0):
        hint = "these are squared norms: take the square root (tensor.norm())"
    elif torch.allclose(got_t / case["batch"], exp_t, rtol=1e-3, atol=0.0):
        hint = "the loss must be the MEAN cross-entropy over the batch, not the sum"
    else:
        hint = (
            "zero the gradients first (model.zero_grad()), use the mean cross-entropy "
            "of model(x) against y, backpropagate once, and take the Frobenius norm "
            "of each Linear layer's weight.grad (not of its weight or its output)"
        )
    return failure(f"{name} on {what}: ||dL/dW_l|| per layer", fmt(expected), fmt(got), hint)


def _judge_grads(cases: Cases, observations: Observations) -> str | None:
    return judge_in_order(cases, observations, _judge_grad_case)


GRAD_NORMS = TorchCheck("grad_norm_per_layer", _grad_cases, _observe_grads, _judge_grads)

# ------------------------------------------------------------------ build_mlp

_ACT_NAMES = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU"}
_INIT_STDS = {"he": math.sqrt(2 / 400), "xavier": math.sqrt(2 / 800)}


def _mlp_cases(name: str, level: str = "basic") -> Cases:
    check_level(level)
    shapes: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((3, 8, "relu", "he"), {}),
        ((2, 5, "tanh", "xavier"), {"in_features": 7, "out_features": 3}),
    ]
    if level == "full":
        shapes += [
            ((4, 6, "sigmoid", "default"), {"in_features": 2, "out_features": 9}),
            ((1, 3, "leaky_relu", "he"), {}),
        ]
    cases: Cases = []
    for args, kwargs in shapes:
        shown = ", ".join(map(repr, args)) + "".join(f", {k}={v}" for k, v in kwargs.items())
        cases.append({"step": "layers", "args": args, "kwargs": kwargs, "shown": shown})
    for init in ("he",) if level == "basic" else ("he", "xavier", "default"):
        cases.append({"step": "stats", "init": init})
    return cases


def _observe_layers(build_mlp: Callable[..., Any], case: Mapping[str, Any]) -> dict[str, Any]:
    shown = case["shown"]
    with torch.no_grad():
        model, error = attempt(build_mlp, f"build_mlp({shown})", *case["args"], **case["kwargs"])
    if error is not None:
        return {"error": error}
    obs: dict[str, Any] = {"type": type(model).__name__, "sequential": False}
    if not isinstance(model, nn.Sequential):
        return obs
    obs["sequential"] = True
    obs["layers"] = [type(m).__name__ for m in model]
    obs["shapes"] = [list(m.weight.shape) for m in model if isinstance(m, nn.Linear)]
    d_in = case["kwargs"].get("in_features", 16)
    out, obs["forward_error"] = attempt(model, f"build_mlp({shown}) forward", torch.zeros(5, d_in))
    shape = getattr(out, "shape", None)
    obs["out_shape"] = None if shape is None else [int(s) for s in shape]
    return obs


def _observe_stats(build_mlp: Callable[..., Any], init: str) -> dict[str, Any]:
    torch.manual_seed(0)
    what = f"build_mlp(2, 400, 'relu', {init!r})"
    model, error = attempt(build_mlp, what, 2, 400, "relu", init)
    if error is not None:
        return {"error": error}
    try:
        linears = [m for m in model if isinstance(m, nn.Linear)]
        weight = linears[1].weight.detach().cpu().clone()  # the 400 x 400 layer
        biases = [None if m.bias is None else m.bias.detach().cpu().clone() for m in linears]
    except Exception as exc:  # noqa: BLE001 - any error of student code is a failed check
        return {"error": f"{what}: the Linear layers: {type(exc).__name__}: {exc}"}
    return {"weight": weight, "biases": biases}


def _observe_mlp(build_mlp: Callable[..., Any], cases: Cases) -> Observations:
    return [
        _observe_layers(build_mlp, case)
        if case["step"] == "layers"
        else _observe_stats(build_mlp, case["init"])
        for case in cases
    ]


def _judge_layers(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    shown = case["shown"]
    if not obs["sequential"]:
        return failure(f"build_mlp({shown})", "an nn.Sequential", obs["type"],
                       "return nn.Sequential(*layers)")  # fmt: skip
    depth, width, act, _ = case["args"]
    d_in, d_out = case["kwargs"].get("in_features", 16), case["kwargs"].get("out_features", 4)
    sizes = [d_in] + [width] * depth + [d_out]
    want = ["Linear", _ACT_NAMES[act]] * depth + ["Linear"]
    if list(obs["layers"]) != want:
        return failure(
            f"build_mlp({shown}): the layers",
            want,
            list(obs["layers"]),
            "depth hidden layers, each nn.Linear followed by its activation module, "
            "then one nn.Linear to out_features (no activation after it)",
        )
    shapes = [tuple(s) for s in obs["shapes"]]
    want_shapes = [(o, i) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
    if shapes != want_shapes:
        return failure(
            f"build_mlp({shown}): Linear weight shapes (out, in)", want_shapes, shapes,
            "the first layer takes in_features, hidden layers have `width` units",
        )  # fmt: skip
    if obs["forward_error"] is not None:
        return str(obs["forward_error"])
    out_shape = None if obs["out_shape"] is None else tuple(obs["out_shape"])
    if out_shape != (5, d_out):
        return failure(
            f"build_mlp({shown})(x of shape (5, {d_in}))", (5, d_out), out_shape,
            "end with nn.Linear(width, out_features)",
        )  # fmt: skip
    return None


def _judge_stats(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    init = case["init"]
    std = _INIT_STDS.get(init, 1 / math.sqrt(3 * 400))
    got = float(obs["weight"].std())
    if abs(got / std - 1.0) > 0.05:
        return failure(
            f"build_mlp(2, 400, 'relu', {init!r}): std of the 400 x 400 weight",
            f"{std:.5f}",
            f"{got:.5f}",
            "apply your he_normal_ / xavier_normal_ to every Linear weight; leave "
            "PyTorch's own init in place for init='default'",
        )
    if init != "default" and any(b is None or float(b.abs().max()) != 0.0 for b in obs["biases"]):
        return failure(
            f"build_mlp(2, 400, 'relu', {init!r}): the biases", "all zero", "not all zero",
            "set every bias to zero (nn.init.zeros_) when init is 'he' or 'xavier'",
        )  # fmt: skip
    return None


def _judge_mlp(cases: Cases, observations: Observations) -> str | None:
    return judge_in_order(
        cases,
        observations,
        lambda case, obs: (_judge_layers if case["step"] == "layers" else _judge_stats)(case, obs),
    )


MLP = TorchCheck("build_mlp", _mlp_cases, _observe_mlp, _judge_mlp)

# ------------------------------------------------------------------ the teacher task


def teacher_data(
    n: int, *, seed: int, d_in: int = 16, classes: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """A linear-teacher task: ``x ~ N(0, I)``, ``y = argmax_k (x @ W_teacher)_k``.

    The teacher ``W_teacher`` is fixed (seed 1234); ``seed`` picks the examples, so
    two different seeds give a training and a held-out set of the same task.

    Examples
    --------
    >>> X, y = teacher_data(5, seed=0)
    >>> tuple(X.shape), y.dtype
    ((5, 16), torch.int64)
    """
    w_teacher = torch.randn(d_in, classes, generator=torch.Generator().manual_seed(1234))
    x = torch.randn(n, d_in, generator=torch.Generator().manual_seed(seed))
    return x, (x @ w_teacher).argmax(dim=1)


def teacher_accuracy(
    model: nn.Module, *, steps: int, lr: float, momentum: float, seed: int
) -> float:
    """SGD on mean cross-entropy over ``steps`` mini-batches of 128 from
    ``teacher_data(4000, seed=seed)``; accuracy on ``teacher_data(2000, seed=seed + 1)``."""
    x_train, y_train = teacher_data(4000, seed=seed)
    x_test, y_test = teacher_data(2000, seed=seed + 1)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x_train), (128,), generator=gen)
        loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float((model(x_test).argmax(dim=1) == y_test).double().mean())


def deep_relu_accuracy(
    model: nn.Module, *, steps: int = 300, lr: float = 0.01, seed: int = 0
) -> float:
    """Train ``model`` on the linear-teacher task and return its held-out accuracy.

    SGD (``lr``, momentum 0.9) on mean cross-entropy, ``steps`` mini-batches of 128
    drawn from 4,000 training examples (``teacher_data(seed=seed)``); accuracy on 2,000
    held-out examples (``teacher_data(seed=seed + 1)``) that training never sees. On
    CPU, a 20 x 64 He-initialised ReLU MLP reaches about 0.87-0.90 in 300 steps;
    Xavier-initialised, about 0.26-0.54.

    Examples
    --------
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> acc = deep_relu_accuracy(nn.Sequential(nn.Linear(16, 4)), steps=100)
    >>> acc > 0.8
    True
    """
    return teacher_accuracy(model, steps=steps, lr=lr, momentum=0.9, seed=seed)
