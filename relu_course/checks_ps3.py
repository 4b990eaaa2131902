"""The ps3 checks (dying ReLU): the dead-unit detector and the rescue recipe.

The detector check is a :class:`~relu_course.checks_torch_core.TorchCheck` (cases,
observe, judge); the recipe is plain data, so :func:`check_rescue` trains and measures
it directly (:func:`relu_course.diagnostics.dead_unit_fraction`, exactly-zero rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from relu_course.checks_ps2 import teacher_accuracy, teacher_data
from relu_course.checks_torch_core import (
    Cases,
    CheckFailed,
    Observations,
    TorchCheck,
    attempt,
    changed,
    check_level,
    failure,
    judge_in_order,
    snapshot,
)
from relu_course.diagnostics import dead_unit_fraction
from relu_course.training import make_mlp

__all__ = [
    "ACTIVATION_LAYERS",
    "DEAD_DETECTOR",
    "check_rescue",
    "make_dying_net",
    "train_dying_net",
]

#: Module classes that count as activation layers for the dead-unit detector (ps3).
ACTIVATION_LAYERS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
)

# ------------------------------------------------------------------ the detector


def _dead_net(
    units: list[str], *, act: Callable[[], nn.Module] = nn.ReLU, d_in: int = 3
) -> nn.Sequential:
    """Linear(d_in, len(units)) + act with units: 'live', 'dead', 'zero' or 'one' (alive
    at the example whose first feature is positive only)."""
    lin = nn.Linear(d_in, len(units))
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.zero_()
        for j, kind in enumerate(units):
            if kind == "live":
                lin.weight[j] = 0.1
                lin.bias[j] = 5.0
            elif kind == "dead":
                lin.weight[j] = 0.1
                lin.bias[j] = -5.0
            elif kind == "one":
                lin.weight[j, 0] = 10.0
                lin.bias[j] = -5.0
    return nn.Sequential(lin, act())


def _inputs(n: int, d_in: int = 3, alive_at: int | None = None, seed: int = 0) -> torch.Tensor:
    """``n`` inputs in [-1, 1] with first feature -1 except at index ``alive_at`` (+1)."""
    x = torch.rand(n, d_in, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    x[:, 0] = -1.0
    if alive_at is not None:
        x[alive_at, 0] = 1.0
    return x


_EXACTLY = "a unit is dead when its output is exactly 0 for EVERY example of data"


def _detector_cases(name: str, level: str = "basic") -> Cases:
    check_level(level)

    def case(what: str, model: nn.Module, data: Any, expected: dict, hint: str) -> dict:
        # the model's state before any call: what the judge compares with afterwards
        modes = {n: m.training for n, m in model.named_modules()}
        return {"name": name, "what": what, "model": model, "data": data,
                "expected": expected, "hint": hint, "modes": modes,
                "params": snapshot(model)}  # fmt: skip

    model = _dead_net(["live", "dead", "live", "live", "dead", "live"])
    cases = [
        case("Sequential(Linear(3, 6), ReLU()) with units 1 and 4 dead", model, _inputs(20),
             {"1": 2 / 6}, _EXACTLY),
    ]  # fmt: skip
    x = _inputs(40, alive_at=13)
    model = _dead_net(["live", "one", "dead", "one"])
    cases.append(case(
        "units 1 and 3 alive only at example 13 of 40", model, x, {"1": 1 / 4},
        "a unit that fires for a single example is alive: combine every example (and "
        "every batch) before you decide",
    ))  # fmt: skip
    loader = DataLoader(TensorDataset(x, torch.zeros(40, dtype=torch.long)), batch_size=8)
    cases.append(case(
        "the same net fed a DataLoader of (x, y) batches of 8 (example 13 in batch 2 of 5)",
        model, loader, {"1": 1 / 4},
        "iterate over the loader, take x = batch[0], and combine every batch",
    ))  # fmt: skip
    cases.append(case(
        "units 1 and 2 with zero weights and bias (pre-activation exactly 0)",
        _dead_net(["live", "zero", "zero", "live"]), _inputs(20), {"1": 0.5},
        "ReLU(0) = 0 blocks the gradient too: look at the activation's OUTPUT == 0, "
        "not at its input < 0",
    ))  # fmt: skip
    cases.append(case(
        "LeakyReLU(0.1) with 3 of 4 units negative everywhere",
        _dead_net(["dead", "dead", "live", "dead"], act=lambda: nn.LeakyReLU(0.1)),
        _inputs(10), {"1": 0.0},
        "a LeakyReLU unit with negative output still passes a gradient: only outputs "
        "exactly 0 count as dead (test == 0, not <= 0)",
    ))  # fmt: skip
    first = _dead_net(["live", "dead", "live", "dead"])
    second = _dead_net(["dead", "live", "dead"], d_in=4)
    block = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    two = nn.Sequential(first, nn.Dropout(0.3), second, block).train()
    with torch.no_grad():
        block[0].weight.zero_()
        block[0].bias.copy_(torch.tensor([1.0, -1.0, 0.0]))
    cases.append(case(
        "three ReLU layers in nested Sequentials, Dropout, in train mode", two,
        _inputs(12), {"0.1": 0.5, "2.1": 2 / 3, "3.1": 2 / 3},
        "key each activation layer by its name from model.named_modules(); measure in "
        "eval mode (Dropout off) and restore train mode afterwards",
    ))  # fmt: skip
    conv = nn.Conv2d(1, 4, 3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[3, 0, 1, 1] = 1.0  # channel 3 follows the centre pixel
        conv.bias.copy_(torch.tensor([1.0, -1.0, 0.0, -0.5]))
    images = -torch.ones(6, 1, 5, 5)
    images[4, 0, 2, 3] = 1.0  # one pixel of one image lights channel 3 at one position
    cases.append(case(
        "Conv2d(1, 4, 3) + ReLU on 6 images: channels 1, 2 dead, channel 3 alive at "
        "one position of one image", nn.Sequential(conv, nn.ReLU()), images, {"1": 0.5},
        "for a conv layer a unit is a channel (dim 1): it is dead only if it is 0 at "
        "every example AND every spatial position",
    ))  # fmt: skip
    if level == "basic":
        return cases
    cases.append(case("all 5 units dead", _dead_net(["dead"] * 5), _inputs(10), {"1": 1.0},
                      _EXACTLY))  # fmt: skip
    cases.append(case("no unit dead", _dead_net(["live", "one", "live"]),
                      _inputs(10, alive_at=0), {"1": 0.0}, _EXACTLY))  # fmt: skip
    return cases


def _observe_detector(fn: Callable[..., Any], cases: Cases) -> Observations:
    observations: Observations = []
    for case in cases:
        model, what = case["model"], f"{case['name']} on {case['what']}"
        got, error = attempt(fn, f"{case['name']}(model, data) on {case['what']}",
                             model, case["data"])  # fmt: skip
        if error is not None:
            observations.append({"error": error})
            continue
        obs: dict[str, Any] = {"type": type(got).__name__, "fractions": None}
        if isinstance(got, Mapping):
            try:
                obs["shown"] = repr({k: round(float(v), 4) for k, v in got.items()})
                if all(isinstance(k, str) for k in got):
                    obs["fractions"] = {str.__str__(k): float(v) for k, v in got.items()}
            except Exception as exc:  # noqa: BLE001 - any error of student code fails the check
                observations.append({"error": f"{what}: the values: {type(exc).__name__}: {exc}"})
                continue
        modules = list(model.named_modules())
        obs["hooks"] = [n for n, m in modules if m._forward_hooks or m._forward_pre_hooks]
        obs["modes"] = {n: bool(m.training) for n, m in modules}
        obs["params"] = [p.detach().cpu().clone() for p in model.parameters()]
        observations.append(obs)
    return observations


def _judge_detector_case(case: Mapping[str, Any], obs: Mapping[str, Any]) -> str | None:
    what, expected = f"{case['name']} on {case['what']}", case["expected"]
    if "shown" not in obs:
        return failure(
            f"{what}: the return type", "a dict {layer name: fraction}",
            obs["type"], "return {name: fraction} for every activation layer",
        )  # fmt: skip
    got = obs["fractions"]
    if got is None or set(got) != set(expected):
        return failure(what, expected, obs["shown"], case["hint"])
    if any(abs(float(got[k]) - v) > 1e-6 for k, v in expected.items()):
        return failure(what, expected, obs["shown"], case["hint"])
    if obs["hooks"]:
        return failure(
            f"{what}: hooks after the call", "none left on the model",
            f"hooks still attached to {list(obs['hooks'])}",
            "keep the handles that register_forward_hook returns and call .remove() on "
            "each in a `finally:` block",
        )  # fmt: skip
    moved = [n for n, mode in dict(obs["modes"]).items() if mode != case["modes"].get(n)]
    if moved:
        return failure(
            f"{what}: model.training afterwards",
            "the mode the model had before the call", f"changed for {moved}",
            "remember `was_training = model.training`, use model.eval() while measuring, "
            "and call model.train(was_training) at the end",
        )  # fmt: skip
    if changed(case["params"], obs["params"]):
        return failure(f"{what}: parameters", "unchanged", "changed",
                       "only run forward passes (under torch.no_grad())")  # fmt: skip
    return None


def _judge_detector(cases: Cases, observations: Observations) -> str | None:
    return judge_in_order(cases, observations, _judge_detector_case)


DEAD_DETECTOR = TorchCheck(
    "dead_fraction_per_layer", _detector_cases, _observe_detector, _judge_detector
)

# ------------------------------------------------------------------ the rescue

_RESCUE_ACTS: dict[str, Callable[[float], Callable[[], nn.Module]]] = {
    "relu": lambda slope: nn.ReLU,
    "leaky_relu": lambda slope: lambda: nn.LeakyReLU(slope),
    "prelu": lambda slope: nn.PReLU,
}


def make_dying_net(
    activation: str = "relu",
    bias_init: float = 0.0,
    *,
    negative_slope: float = 0.01,
    depth: int = 4,
    width: int = 64,
    seed: int = 0,
) -> nn.Sequential:
    """A ``depth`` x ``width`` MLP for the teacher task (16 -> 4 classes), He weights.

    Every hidden bias starts at ``bias_init``: a negative value pushes pre-activations
    below 0 so that ReLU units start dead. The layers come from
    :func:`relu_course.training.make_mlp`; the weights from a generator seeded with
    ``seed`` (hidden: ``N(0, 2 / fan_in)``, output: ``N(0, 1 / fan_in)``, bias 0).

    Examples
    --------
    >>> net = make_dying_net("leaky_relu", -1.0, depth=2, width=8)
    >>> [type(m).__name__ for m in net]
    ['Linear', 'LeakyReLU', 'Linear', 'LeakyReLU', 'Linear']
    """
    if activation not in _RESCUE_ACTS:
        raise ValueError(f"activation must be one of {tuple(_RESCUE_ACTS)}, got {activation!r}")
    gen = torch.Generator().manual_seed(seed)
    act = _RESCUE_ACTS[activation](negative_slope)
    net = make_mlp(16, [width] * depth, 4, activation=act, init="default", bias=None)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for lin in linears[:-1]:
            fan_out, fan_in = lin.weight.shape
            lin.weight.copy_(torch.randn(fan_out, fan_in, generator=gen) * math.sqrt(2 / fan_in))
            lin.bias.fill_(bias_init)
        out = linears[-1]
        fan_in = out.weight.shape[1]
        out.weight.copy_(torch.randn(4, fan_in, generator=gen) * math.sqrt(1 / fan_in))
        out.bias.zero_()
    return net


def train_dying_net(model: nn.Module, lr: float, *, steps: int = 300, seed: int = 0) -> float:
    """Plain SGD (``lr``) on the teacher task; returns held-out accuracy.

    ``steps`` mini-batches of 128 from ``teacher_data(4000, seed=seed)``; accuracy on
    ``teacher_data(2000, seed=seed + 1)``.

    Examples
    --------
    >>> acc = train_dying_net(make_dying_net(depth=2, width=16), 0.05, steps=50)
    >>> 0.0 <= acc <= 1.0
    True
    """
    return teacher_accuracy(model, steps=steps, lr=lr, momentum=0.0, seed=seed)


def check_rescue(
    recipe: Mapping[str, Any],
    *,
    max_dead: float = 0.05,
    min_accuracy: float = 0.85,
    seed: int = 0,
) -> tuple[float, float]:
    """Train the ps3 network with ``recipe`` and check it is alive and accurate.

    ``recipe`` = ``{"activation": "relu" | "leaky_relu" | "prelu", "bias_init": float,
    "lr": float}`` (optionally ``"negative_slope"``). The net is
    ``make_dying_net(activation, bias_init, seed=seed)`` trained by
    ``train_dying_net(net, lr, seed=seed)``; the check asks ``max_l dead_l <= max_dead``
    over the training inputs (a unit is dead when its output is exactly 0 on every one)
    and held-out accuracy ``>= min_accuracy``.

    Returns
    -------
    tuple of float
        ``(largest dead fraction of a layer, held-out accuracy)``.

    Raises
    ------
    CheckFailed
        When the recipe is malformed, or the trained net is too dead or inaccurate.

    Examples
    --------
    >>> try:
    ...     check_rescue({"activation": "relu", "bias_init": -1.0, "lr": 0.5})
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    training make_dying_net('relu', -1.0, seed=0) with SGD lr=0.5
    """
    if not isinstance(recipe, Mapping):
        raise CheckFailed(f"the recipe must be a dict, got {type(recipe).__name__}")
    allowed = {"activation", "bias_init", "lr", "negative_slope"}
    missing = {"activation", "bias_init", "lr"} - set(recipe)
    if missing or set(recipe) - allowed:
        raise CheckFailed(failure(
            "the recipe's keys", "activation, bias_init, lr (and optionally negative_slope)",
            sorted(recipe), "return a dict with exactly those keys",
        ))  # fmt: skip
    act, bias, lr = recipe["activation"], recipe["bias_init"], recipe["lr"]
    slope = recipe.get("negative_slope", 0.01)
    if act not in _RESCUE_ACTS:
        raise CheckFailed(
            failure("recipe['activation']", " or ".join(_RESCUE_ACTS), repr(act), "pick one")
        )
    for key, val in (("bias_init", bias), ("lr", lr), ("negative_slope", slope)):
        if not isinstance(val, int | float) or isinstance(val, bool) or not math.isfinite(val):
            raise CheckFailed(
                failure(f"recipe[{key!r}]", "a finite number", repr(val), "use a float")
            )
    if not 0.0 < lr <= 2.0:
        raise CheckFailed(
            failure("recipe['lr']", "0 < lr <= 2", lr, "pick a positive learning rate")
        )
    net = make_dying_net(act, float(bias), negative_slope=float(slope), seed=seed)
    acc = train_dying_net(net, float(lr), seed=seed)
    fractions = dead_unit_fraction(net, teacher_data(4000, seed=seed)[0], exactly_zero=True)
    dead = max(fractions.values())
    if dead > max_dead or acc < min_accuracy:
        raise CheckFailed(failure(
            f"training make_dying_net({act!r}, {bias}, seed={seed}) with SGD lr={lr}",
            f"largest dead fraction <= {max_dead} and held-out accuracy >= {min_accuracy}",
            f"largest dead fraction {dead:.3f}, accuracy {acc:.3f}",
            "negative biases start ReLU units dead and a large learning rate kills more; "
            "a leaky or learnable negative slope keeps gradients flowing, a zero bias and "
            "a moderate learning rate let the net learn",
        ))  # fmt: skip
    return dead, acc
