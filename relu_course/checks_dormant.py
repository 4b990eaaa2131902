"""Self-check of ps3's ``reset_dormant_units``: ReDo's reset of dormant units.

ReDo (Sokar, Agarwal, Castro, Evci 2023) finds the tau-dormant units of every hidden
ReLU layer, ``s_j = E|h_j| / mean_k E|h_k| <= tau`` (the score of
:func:`relu_course.diagnostics.dormant_scores`; a layer whose outputs are all zero scores
0, so all its units are dormant), and for each such unit

* re-initialises its incoming weight row and bias as ``nn.Linear`` does by default:
  ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (``kaiming_uniform_`` with ``a = sqrt(5)``);
* sets its outgoing weights (its column in the next ``nn.Linear``) to zero, so that the
  network computes what it computed before, minus the dormant units' small share.

The answer works in place (the same ``nn.Linear`` and ``nn.Parameter`` objects) and
returns ``{name of the Linear feeding a hidden ReLU: number of units reset}``. The
output layer is not a hidden layer and is never reset.

The check has the three steps of :mod:`relu_course.checks`:

1. :func:`battery` builds the :class:`DormantCase` list (a network, a batch, ``tau``);
2. :func:`observe` runs the student's function on a fresh copy of a case's network and
   records plain facts (:class:`DormantObservation`): the returned counts, which rows
   and columns of each ``nn.Linear`` changed, whether modules and parameters are the
   same objects, statistics of the re-initialised values, how far the output moved;
3. :func:`judge` compares them with the reference and returns ``None`` or a teaching
   message with a hint.

:func:`check_reset_dormant_units` runs the three in one process and raises
:class:`~relu_course.checks.CheckFailed` with the first failure.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from relu_course.checks import CheckFailed
from relu_course.diagnostics import dormant_scores

__all__ = [
    "DormantCase",
    "DormantObservation",
    "LinearObservation",
    "battery",
    "check_reset_dormant_units",
    "dormant_units",
    "judge",
    "observe",
]

Level = Literal["basic", "full"]
Dormant = dict[str, list[int]]  # {name of a Linear that feeds a ReLU: its dormant units}

_BOUND_SLACK = 1e-5  # float32 rounding of the bound 1/sqrt(fan_in)
_STATS_MIN = 500  # re-initialised values needed before their spread is tested
_SIGMAS = 6.0  # tolerance of the spread tests, in standard errors


# ----------------------------------------------------------------------------- cases


@dataclass(frozen=True, eq=False)
class DormantCase:
    """One network (an ``nn.Sequential`` of Linear/ReLU), one batch ``x`` and ``tau``.

    ``layers`` holds each ``nn.Linear``'s ``(weight, bias)``; :meth:`model` builds a fresh
    network from them. ``seed`` built the weights; ``10_000 + seed`` seeds torch's
    generator before the student's call, so a case draws the same numbers every time.
    ``stats``: test the spread of the re-initialised values (enough of them for a test
    that a correct answer passes).
    """

    label: str
    layers: tuple[tuple[Tensor, Tensor], ...]
    x: Tensor
    tau: float = 0.1
    seed: int = 0
    stats: bool = False

    def model(self) -> nn.Sequential:
        """A fresh ``Linear, ReLU, ..., Linear`` network holding copies of ``layers``."""
        modules: list[nn.Module] = []
        for i, (w, b) in enumerate(self.layers):
            lin = nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            modules.append(lin)
            if i < len(self.layers) - 1:
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)

    def describe(self) -> str:
        """The call and the network in one line."""
        sizes = [self.layers[0][0].shape[1], *(w.shape[0] for w, _ in self.layers)]
        dtype = str(self.x.dtype).removeprefix("torch.")
        return (
            f"reset_dormant_units(model, x, tau={self.tau}) with model = MLP {sizes} "
            f"and x of shape {tuple(self.x.shape)} ({dtype}) [{self.label}]"
        )


def dormant_units(model: nn.Sequential, x: Tensor, tau: float) -> Dormant:
    """The reference: ``{Linear name: dormant units}`` for each Linear that feeds a ReLU.

    Scores come from :func:`relu_course.diagnostics.dormant_scores` (keyed by the ReLU's
    name); each ReLU's units belong to the ``nn.Linear`` just before it.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
    ...     _ = net[0].bias.zero_()
    >>> dormant_units(net, torch.tensor([[1.0, 2.0], [3.0, 2.0]]), tau=0.1)
    {'0': [2]}
    """
    scores = dormant_scores(model, x)
    feeds = _feeding_linears(model)
    return {
        feeds[act]: [int(j) for j in torch.nonzero(s <= tau).flatten()]
        for act, s in scores.items()
        if act in feeds
    }


def _feeding_linears(model: nn.Sequential) -> dict[str, str]:
    """``{ReLU name: name of the nn.Linear just before it}``."""
    out, last = {}, None
    for name, module in model.named_children():
        if isinstance(module, nn.Linear):
            last = name
        elif isinstance(module, nn.ReLU) and last is not None:
            out[name] = last
    return out


Units = tuple[int, ...]


def _layer(
    gen: torch.Generator, fan_in: int, width: int, kinds: Mapping[str, Units], scale: float,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """A Linear's (weight, bias): live units (bias 0.5, score about 1), ``kinds["dead"]``
    (bias -50: zero on every input in [-1, 1]) and ``kinds["weak"]`` (1% of the scale:
    score about 0.01). ``scale`` multiplies every unit but ``kinds["unscaled"]``."""
    bound = 1 / math.sqrt(fan_in)
    w = (torch.rand(width, fan_in, generator=gen, dtype=torch.float64) * 2 - 1) * bound
    b = torch.full((width,), 0.5, dtype=torch.float64)
    for j in kinds.get("weak", ()):
        w[j] *= 0.01
        b[j] = 0.005
    for j in kinds.get("dead", ()):
        b[j] = -50.0
    w, b = (w * scale).to(dtype), (b * scale).to(dtype)
    for j in kinds.get("unscaled", ()):
        w[j] /= scale
        b[j] /= scale
    return w, b


def _net_case(
    label: str, sizes: list[int], units: Mapping[int, Mapping[str, Units]], *, seed: int,
    tau: float = 0.1, scales: Mapping[int, float] | None = None,
    dtype: torch.dtype = torch.float32, stats: bool = False,
) -> DormantCase:  # fmt: skip
    """A seeded MLP with layer ``sizes``, a batch of 64 inputs in [-1, 1]; ``units[i]``
    names the dead, weak and unscaled units of hidden layer ``i`` (see :func:`_layer`)."""
    gen = torch.Generator().manual_seed(seed)
    layers = tuple(
        _layer(gen, fan_in, width, units.get(i, {}), (scales or {}).get(i, 1.0), dtype)
        for i, (fan_in, width) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))
    )
    x = (torch.rand(64, sizes[0], generator=gen, dtype=torch.float64) * 2 - 1).to(dtype)
    return DormantCase(label, layers, x, tau, seed, stats)


def _at_tau_case() -> DormantCase:
    """Unit 0's score is exactly 0.125 in float32 and float64: mean |h| = (0.5, 5.5, 5, 5)
    over the batch, layer mean 4. It is dormant at tau = 0.125 (``<=``), not with ``<``."""
    w1, b1 = torch.eye(4), torch.zeros(4)
    gen = torch.Generator().manual_seed(3)
    w2, b2 = torch.rand(3, 4, generator=gen) - 0.5, torch.rand(3, generator=gen) - 0.5
    x = torch.tensor([[0.25, 5.0, 5.0, 5.0], [0.75, 6.0, 5.0, 5.0]])
    return DormantCase("a score exactly at tau: dormant, since s_j <= tau", ((w1, b1), (w2, b2)), x,
                       tau=0.125, seed=3)  # fmt: skip


def battery(level: Level = "basic") -> list[DormantCase]:
    """The cases: ``"basic"`` (visible tests) holds one case of every clause of the
    contract; ``"full"`` (hidden tests) adds other sizes, ``tau`` values, float64 and a
    second spread test.

    Examples
    --------
    >>> [c.label for c in battery()][:2]
    ['one hidden layer, units 1 and 6 dead', 'two hidden layers with dead and weak units']
    """
    if level not in ("basic", "full"):
        raise ValueError(f'level must be "basic" or "full", got {level!r}')
    every_fourth = tuple(j for j in range(96) if j % 4 != 3)
    cases = [
        _net_case("one hidden layer, units 1 and 6 dead", [5, 8, 3], {0: {"dead": (1, 6)}},
                  seed=1),
        _net_case("two hidden layers with dead and weak units", [6, 10, 10, 2],
                  {0: {"dead": (1, 7), "weak": (4,)}, 1: {"dead": (2,), "weak": (7,)}}, seed=2),
        _net_case("large activations: unit 3 has mean |h| near 0.5 but a score near 0.02",
                  [4, 6, 2], {0: {"unscaled": (3,)}}, seed=4, scales={0: 40.0}),
        _at_tau_case(),
        _net_case("every unit of the first hidden layer dead (layer mean 0: all dormant)",
                  [3, 5, 4, 2], {0: {"dead": tuple(range(5))}}, seed=5),
        _net_case("72 of 96 units dead: the re-initialised values", [64, 96, 10],
                  {0: {"dead": every_fourth}}, seed=6, stats=True),
    ]  # fmt: skip
    if level == "full":
        cases += [
            _net_case("small activations everywhere: raw means below tau, no unit dormant",
                      [4, 6, 3], {}, seed=7, scales={0: 0.02}),
            _net_case("tau = 0: only the dead units (unit 2), not the weak one (unit 5)",
                      [4, 8, 2], {0: {"dead": (2,), "weak": (5,)}}, seed=8, tau=0.0),
            _net_case("three hidden layers, float64, tau = 0.3, the middle layer has none",
                      [5, 7, 9, 6, 3], {0: {"dead": (0,), "weak": (3, 6)}, 2: {"dead": (1, 5)}},
                      seed=9, tau=0.3, dtype=torch.float64),
            _net_case("two hidden layers of 128, most units dead: the re-initialised values",
                      [32, 128, 128, 4],
                      {0: {"dead": tuple(range(16, 128))}, 1: {"dead": tuple(range(0, 128, 2))}},
                      seed=10, stats=True),
        ]  # fmt: skip
    return cases


# ----------------------------------------------------------------------------- observe


@dataclass(frozen=True)
class LinearObservation:
    """What happened to one ``nn.Linear`` of the network (plain data).

    A reset changes rows (re-initialised units) and columns (the outgoing weights of
    the previous layer's reset units, which the reference expects: ``expected_cols``).
    ``rows``: weight rows that changed outside ``expected_cols``; ``bias_rows``: bias
    entries that changed; ``cols``: weight columns that changed outside ``rows``;
    ``zero_cols``: those of ``cols`` that are now exactly 0 outside ``rows``. The
    statistics describe the new values of ``rows`` outside ``cols`` (weights) and of
    ``bias_rows`` (biases), divided by ``1/sqrt(fan_in)``: ``(count, max |v|, mean, mean
    of v^2, distinct values)``.
    """

    name: str
    same_module: bool
    same_weight: bool
    same_bias: bool
    parameters: bool  # still nn.Parameters that require grad, with the same shapes
    rows: list[int] = field(default_factory=list)
    bias_rows: list[int] = field(default_factory=list)
    cols: list[int] = field(default_factory=list)
    zero_cols: list[int] = field(default_factory=list)
    weight_stats: tuple[int, float, float, float, int] = (0, 0.0, 0.0, 0.0, 0)
    bias_stats: tuple[int, float, float, float, int] = (0, 0.0, 0.0, 0.0, 0)
    crossing_ok: bool = True  # entries where a reset row meets a zeroed column: 0 or in bound


@dataclass(frozen=True)
class DormantObservation:
    """What the student's function did on one case (plain data).

    ``error`` is ``"TypeName: message"`` if it raised. ``returned``: the result as
    ``{str: int}`` when it is a dict of ints, else ``None`` with its description in
    ``returned_type``. ``output_change``: max |f_after(x) - f_silenced(x)|, where
    ``f_silenced`` is the network before the call with the reference's dormant units'
    outgoing weights zeroed (what a correct reset computes).
    """

    error: str | None = None
    returned: dict[str, int] | None = None
    returned_type: str = ""
    linears: list[LinearObservation] = field(default_factory=list)
    x_changed: bool = False
    structure_changed: bool = False
    training_changed: bool = False
    hooks_left: int = 0
    output_change: float = 0.0
    output_scale: float = 1.0


def observe(fn: Callable[..., Any], case: DormantCase) -> DormantObservation:
    """Run ``fn(model, x, tau=case.tau)`` on a fresh network and record what changed.

    Torch's random state is the caller's again afterwards.
    """
    with torch.random.fork_rng(devices=[]):
        return _observe(fn, case)


def _observe(fn: Callable[..., Any], case: DormantCase) -> DormantObservation:
    model = case.model()
    before = case.model()
    x = case.x.clone()
    modules = list(model)
    params = [(m.weight, m.bias) for m in modules if isinstance(m, nn.Linear)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(10_000 + case.seed)  # not the stream that built the weights
        try:
            result = fn(model, x, tau=case.tau)
        except NotImplementedError:
            return DormantObservation(error="NotImplementedError: write your code first")
        except Exception as exc:  # noqa: BLE001 - any student error is reported, not raised
            return DormantObservation(error=f"{type(exc).__name__}: {exc}"[:500])
    returned, kind = _plain_counts(result)
    structure = len(list(model)) != len(modules) or any(
        type(a) is not type(b) for a, b in zip(model, modules, strict=False)
    )
    dormant = dormant_units(before, case.x, case.tau)
    names = [n for n, _ in _linears(before)]
    expected_cols = {names[names.index(k) + 1]: v for k, v in dormant.items()}
    linears = []
    if not structure:
        for (name, m), (_, old), (w0, b0) in zip(
            _linears(model), _linears(before), params, strict=True
        ):  # fmt: skip
            seen = (m is modules[int(name)], m.weight is w0, m.bias is b0)
            linears.append(_observe_linear(name, m, old, seen, expected_cols.get(name, [])))
    silenced = _silenced(before, dormant)
    with torch.no_grad():
        want = silenced(case.x)
        try:
            got = model(case.x)
            change = float((got.double() - want.double()).abs().max())
        except Exception:  # noqa: BLE001 - a broken network is reported as a changed output
            change = math.inf
    return DormantObservation(
        returned=returned,
        returned_type=kind,
        linears=linears,
        x_changed=not torch.equal(x, case.x),
        structure_changed=structure,
        training_changed=any(not m.training for m in model.modules()),
        hooks_left=sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()),
        output_change=change if math.isfinite(change) else math.inf,
        output_scale=float(want.abs().max()),
    )


def _linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in model.named_children() if isinstance(m, nn.Linear)]


def _plain_counts(result: Any) -> tuple[dict[str, int] | None, str]:
    if not isinstance(result, dict):
        return None, type(result).__name__
    if not all(isinstance(k, str) for k in result):
        return None, "a dict with keys " + ", ".join(repr(k) for k in result)
    bad = [k for k, v in result.items() if not isinstance(v, int) or isinstance(v, bool)]
    if bad:
        return None, f"a dict whose value at {bad[0]!r} is a {type(result[bad[0]]).__name__}"
    return {k: int(v) for k, v in result.items()}, "dict"


def _observe_linear(
    name: str, m: nn.Module, old: nn.Linear, same: tuple[bool, bool, bool],
    expected_cols: list[int],
) -> LinearObservation:  # fmt: skip
    """``same``: is the module, its weight, its bias the object it was before the call."""
    ok = all(
        isinstance(p, nn.Parameter) and p.requires_grad and p.shape == q.shape
        for p, q in ((m.weight, old.weight), (m.bias, old.bias))
    )
    base = {
        "name": name,
        "same_module": same[0],
        "same_weight": same[1],
        "same_bias": same[2],
        "parameters": ok,
    }
    if not ok:
        return LinearObservation(**base)
    w, b = m.weight.detach(), m.bias.detach()
    w_old, b_old = old.weight.detach(), old.bias.detach()
    changed = w != w_old
    outside = torch.ones(w.shape[1], dtype=torch.bool)
    outside[expected_cols] = False
    rows = torch.nonzero(changed[:, outside].any(dim=1)).flatten()
    bias_rows = torch.nonzero(b != b_old).flatten()
    others = torch.ones(w.shape[0], dtype=torch.bool)
    others[rows] = False
    cols = torch.nonzero(changed[others].any(dim=0)).flatten()
    zero_cols = [int(c) for c in cols if bool((w[others][:, c] == 0).all())]
    keep = torch.ones(w.shape[1], dtype=torch.bool)
    keep[cols] = False
    bound = 1 / math.sqrt(w.shape[1])
    crossing = w[rows][:, cols]
    return LinearObservation(
        **base,
        rows=[int(r) for r in rows],
        bias_rows=[int(r) for r in bias_rows],
        cols=[int(c) for c in cols],
        zero_cols=zero_cols,
        weight_stats=_stats(w[rows][:, keep], bound),
        bias_stats=_stats(b[bias_rows], bound),
        crossing_ok=bool(((crossing == 0) | (crossing.abs() <= bound * (1 + _BOUND_SLACK))).all()),
    )


def _stats(values: Tensor, bound: float) -> tuple[int, float, float, float, int]:
    v = values.double().flatten() / bound
    if v.numel() == 0:
        return (0, 0.0, 0.0, 0.0, 0)
    return (
        v.numel(),
        float(v.abs().max()),
        float(v.mean()),
        float((v**2).mean()),
        int(torch.unique(v).numel()),
    )


def _silenced(model: nn.Sequential, dormant: Mapping[str, list[int]]) -> nn.Sequential:
    """``model`` with the outgoing weights of the ``dormant`` units set to zero."""
    names = [n for n, _ in _linears(model)]
    with torch.no_grad():
        for name, units in dormant.items():
            nxt = names[names.index(name) + 1]
            model.get_submodule(nxt).weight[:, units] = 0.0
    return model


# ----------------------------------------------------------------------------- judge


def judge(case: DormantCase, obs: DormantObservation) -> str | None:
    """``None`` if the observation is right for the case, else a teaching message."""
    problem = _judge(case, obs)
    return None if problem is None else f"{case.describe()}\n{problem}"


def _judge(case: DormantCase, obs: DormantObservation) -> str | None:
    if obs.error is not None:
        return f"raised {obs.error}\nHINT: the function must handle this network and batch."
    dormant = dormant_units(case.model(), case.x, case.tau)
    for check in (_judge_form, _judge_counts, _judge_columns, _judge_rows, _judge_values):
        problem = check(case, obs, dormant)
        if problem is not None:
            return problem
    scale = 1e-5 * (1 + obs.output_scale)
    if obs.output_change > scale:
        return (
            f"the network's output moved by {obs.output_change:.3g} beyond silencing the "
            "dormant units\nHINT: change only the dormant units' incoming rows, biases and "
            "outgoing columns."
        )
    return None


def _judge_form(case: DormantCase, obs: DormantObservation, _: Dormant) -> str | None:
    if obs.x_changed:
        return "the batch x was modified\nHINT: only read x; change the model's weights only."
    if obs.structure_changed or not all(lin.same_module for lin in obs.linears):
        return (
            "the model's layers were replaced\nHINT: reset in place: keep every nn.Linear "
            "and write into its weight and bias (an optimiser built before the reset holds "
            "the old objects and would keep training them)."
        )
    for lin in obs.linears:
        if not (lin.same_weight and lin.same_bias and lin.parameters):
            return (
                f"Linear {lin.name!r}: its weight or bias is a new object (or no longer a "
                "Parameter that requires grad)\nHINT: write into the existing parameters "
                "under torch.no_grad(): layer.weight[j] = ..., or .copy_(...); do not "
                "assign a new nn.Parameter (an optimiser holds the old one)."
            )
    if obs.hooks_left:
        return (
            f"{obs.hooks_left} hook(s) left on the model\nHINT: keep the handles and "
            "call handle.remove() in a finally: block."
        )
    if obs.training_changed:
        return (
            "the model was left in eval mode\nHINT: restore the mode the model had "
            "(model.train(was_training))."
        )
    if obs.returned is None:
        return (
            f"returned {obs.returned_type}\nHINT: return a dict {{str: int}}, e.g. int(mask.sum())."
        )
    return None


def _judge_counts(case: DormantCase, obs: DormantObservation, dormant: Dormant) -> str | None:
    expected = {k: len(v) for k, v in dormant.items()}
    if obs.returned == expected:
        return None
    lines = [f"returned {obs.returned}", f"expected {expected}"]
    for hint, alternative in _alternatives(case, case.model()):
        if obs.returned == alternative:
            lines.append(f"HINT: {hint}")
            break
    else:
        lines.append(
            "HINT: one key per nn.Linear that feeds a hidden ReLU (its name in the "
            "Sequential, e.g. '0'), the value the number of units reset there (0 too)."
        )
    return "\n".join(lines)


def _alternatives(case: DormantCase, model: nn.Sequential) -> list[tuple[str, dict[str, int]]]:
    """Counts of plausible mistakes, each with its hint."""
    feeds = _feeding_linears(model)
    with torch.no_grad():
        h, means = case.x, {}
        for name, module in model.named_children():
            h = module(h)
            if name in feeds:
                means[feeds[name]] = h.abs().double().mean(dim=0)
    raw = {k: int((m <= case.tau).sum()) for k, m in means.items()}
    strict = {}
    for k, m in means.items():
        s = m / m.mean() if m.mean() > 0 else torch.zeros_like(m)
        strict[k] = int((s < case.tau).sum())
    return [
        ("the raw mean |h_j| was compared with tau: divide by the layer's mean first "
         "(s_j = E|h_j| / mean_k E|h_k|).", raw),
        ("dormant means s_j <= tau (a score equal to tau counts), not s_j < tau.", strict),
    ]  # fmt: skip


def _judge_rows(case: DormantCase, obs: DormantObservation, dormant: Dormant) -> str | None:
    for lin in obs.linears:
        want = dormant.get(lin.name, [])
        if lin.name not in dormant and (lin.rows or lin.bias_rows):
            return (
                f"Linear {lin.name!r} (the output layer) changed rows {lin.rows or lin.bias_rows}"
                "\nHINT: only the Linears that feed a hidden ReLU have dormant units; leave "
                "the output layer's rows alone."
            )
        if lin.rows != want:
            return (
                f"Linear {lin.name!r}: re-initialised weight rows {lin.rows}, dormant units "
                f"{want}\nHINT: re-initialise row j of the Linear that feeds unit j, for "
                "every dormant unit and no other."
            )
        if lin.bias_rows != want:
            return (
                f"Linear {lin.name!r}: bias entries changed {lin.bias_rows}, dormant units "
                f"{want}\nHINT: re-initialise the bias of each dormant unit too, "
                "U(-1/sqrt(fan_in), 1/sqrt(fan_in)) like nn.Linear's default."
            )
    return None


def _judge_columns(case: DormantCase, obs: DormantObservation, dormant: Dormant) -> str | None:
    names = [lin.name for lin in obs.linears]
    want = {names[names.index(k) + 1]: v for k, v in dormant.items()}
    for lin in obs.linears:
        expected = want.get(lin.name, [])
        if lin.cols == expected and lin.zero_cols == expected:
            continue
        if lin.cols and not expected or set(lin.cols) - set(expected):
            return (
                f"Linear {lin.name!r}: columns {lin.cols} changed; its input units that "
                f"were reset are {expected}\nHINT: the outgoing weights of unit j of Linear "
                "k are column j of the NEXT Linear (the one after k's ReLU)."
            )
        if lin.cols == expected:
            return (
                f"Linear {lin.name!r}: columns {expected} (the reset units' outgoing "
                "weights) changed but are not all 0\nHINT: set the outgoing weights to "
                "exactly 0 so that the reset does not change the network's output."
            )
        return (
            f"Linear {lin.name!r}: columns {expected} (the reset units' outgoing weights) "
            f"should be 0, changed: {lin.cols}\nHINT: unit j's outgoing weights are column "
            "j of the NEXT Linear (not of the one you re-initialised): "
            "next_layer.weight[:, j] = 0 for every reset unit j."
        )
    return None


def _judge_values(case: DormantCase, obs: DormantObservation, _: Dormant) -> str | None:
    for lin in obs.linears:
        if not lin.rows:
            continue
        if not lin.crossing_ok:
            return (
                f"Linear {lin.name!r}: a weight where a reset row meets a zeroed column is "
                "neither 0 nor in the re-initialisation's range\nHINT: re-initialise rows "
                "with U(-1/sqrt(fan_in), 1/sqrt(fan_in))."
            )
        for what, stats in (("weights", lin.weight_stats), ("biases", lin.bias_stats)):
            problem = _judge_spread(lin.name, what, stats, case.stats)
            if problem is not None:
                return problem
    return None


def _judge_spread(
    name: str, what: str, stats: tuple[int, float, float, float, int], spread: bool
) -> str | None:
    n, top, mean, square, distinct = stats
    head = f"Linear {name!r}: the {n} re-initialised {what}"
    init = (
        "U(-1/sqrt(fan_in), 1/sqrt(fan_in)), nn.Linear's default (kaiming_uniform_ with a=sqrt(5))"
    )
    if n and top == 0.0:
        return f"{head} are all 0\nHINT: re-initialise, do not zero: draw from {init}."
    if top > 1 + _BOUND_SLACK:
        return f"{head} reach {top:.3g} x 1/sqrt(fan_in)\nHINT: wrong scale: draw from {init}."
    if n > 1 and distinct == 1:
        return f"{head} are all equal\nHINT: draw each value at random from {init}."
    if not spread or n < _STATS_MIN:
        return None
    # v = value * sqrt(fan_in) ~ U(-1, 1): E v = 0, E v^2 = 1/3 with sd sqrt(4/45 / n)
    mean_ok = abs(mean) <= _SIGMAS / math.sqrt(3 * n)
    square_ok = abs(square - 1 / 3) <= _SIGMAS * math.sqrt(4 / 45 / n)
    if not (mean_ok and square_ok and top >= 1 - 20 / n):
        return (
            f"{head} have mean {mean:.3f}, mean square {square:.3f} and max {top:.3f} in "
            f"units of 1/sqrt(fan_in) (expected 0, 1/3 and close to 1)\nHINT: draw from "
            f"{init}; fan_in is the layer's in_features."
        )
    return None


# ----------------------------------------------------------------------------- check


def check_reset_dormant_units(fn: Callable[..., Any], *, level: Level = "basic") -> None:
    """Check a student's ``reset_dormant_units(model, x, tau=0.1) -> dict[str, int]``.

    Raises :class:`~relu_course.checks.CheckFailed` with the first failing case (the
    network, what was wrong and a hint) and the number of failures; returns ``None`` and
    prints nothing on success.

    Examples
    --------
    >>> def zero_everything(model, x, tau=0.1):
    ...     with torch.no_grad():
    ...         model[0].weight.zero_()
    ...     return {"0": 0}
    >>> try:
    ...     check_reset_dormant_units(zero_everything)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[1])
    returned {'0': 0}
    """
    cases = battery(level)
    failures = [m for m in (judge(c, observe(fn, c)) for c in cases) if m is not None]
    if failures:
        more = f"\n({len(failures)} of {len(cases)} checks failed)" if len(failures) > 1 else ""
        raise CheckFailed(failures[0] + more)
