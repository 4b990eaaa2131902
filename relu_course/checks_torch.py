"""Self-checks for the torch-based assignments (ps2, ps3, ps4).

The same spirit as :mod:`relu_course.checks`: each ``check_*`` function runs a student's
function on a battery of constructed cases, compares with a reference computed here,
and raises :class:`CheckFailed` (an ``AssertionError``) whose message names the case,
the expected and the received value, and the likely mistake. A passing check returns
``None`` and prints nothing, and warnings raised by the student's code are silenced, so
a correct answer never writes to stderr (nbgrader scores a test cell that does as 0).

``level="basic"`` is the small battery of the visible tests; ``level="full"`` adds the
cases of the hidden tests (other shapes, dtypes, parameters, constructed networks).

ps2 (vanishing gradients)
    :func:`check_init`, :func:`check_grad_norms`, :func:`check_mlp`,
    :func:`teacher_data`, :func:`deep_relu_accuracy`
ps3 (dying ReLU)
    :func:`check_dead_detector`, :func:`make_dying_net`, :func:`train_dying_net`,
    :func:`check_rescue`, :func:`check_reset_dormant_units` (in
    :mod:`relu_course.checks_dormant`)
ps4 (custom autograd, PReLU, digits)
    :func:`check_autograd_function`, :func:`check_prelu_module`,
    :func:`digits_test_accuracy`

Two rules keep the grading of a notebook fair. The rules a notebook states for an
answer (:data:`STATED_RULES`: no ``torch.nn.init`` in ps2's initialisers, no ``F.prelu``
in ps4's PReLU) are checked while the student's code runs (:func:`stated_rules`). And a
test of a later question runs with the course's own version of the earlier answers it
builds on (:data:`COURSE_PARTS`, :func:`course_parts`), so one mistake costs one question.
No example in this module is a complete answer to a graded question.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from relu_course.checks import CheckFailed  # one exception type for every check
from relu_course.checks_dormant import check_reset_dormant_units  # ps3's ReDo question

__all__ = [
    "ACTIVATION_LAYERS",
    "COURSE_PARTS",
    "STATED_RULES",
    "CheckFailed",
    "check_autograd_function",
    "check_dead_detector",
    "check_grad_norms",
    "check_init",
    "check_mlp",
    "check_prelu_module",
    "check_rescue",
    "check_reset_dormant_units",
    "course_parts",
    "deep_relu_accuracy",
    "digits_test_accuracy",
    "make_dying_net",
    "stated_rules",
    "teacher_data",
    "train_dying_net",
]

Level = Literal["basic", "full"]

#: Module classes that count as activation layers for the dead-unit detector (ps3).
ACTIVATION_LAYERS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
)


# --------------------------------------------------------------------------- helpers


def _check_level(level: str) -> None:
    if level not in ("basic", "full"):
        raise ValueError(f'level must be "basic" or "full", got {level!r}')


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence warnings raised by a student's code (stderr output scores 0 in nbgrader)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


_INIT_FILE = os.path.join("torch", "nn", "init.py")
_PRELU_KERNELS = frozenset({"prelu", "_prelu_kernel"})

#: The rules a notebook states, per student name: what the answer may not call, and the
#: message a student reads when it does.
STATED_RULES: dict[str, tuple[str, str]] = {
    "xavier_normal_": (
        "nn.init",
        "torch.nn.init is off limits in this question (the notebook says so): draw the "
        "numbers yourself with weight.normal_(...) or torch.randn under torch.no_grad()",
    ),
    "he_normal_": (
        "nn.init",
        "torch.nn.init is off limits in this question (the notebook says so): draw the "
        "numbers yourself with weight.normal_(...) or torch.randn under torch.no_grad()",
    ),
    "PReLU": (
        "F.prelu",
        "F.prelu (and nn.PReLU, which calls it) is off limits in this question (the "
        "notebook says so): build f(x) from torch operations such as torch.clamp or "
        "torch.where, with self.weight in the formula",
    ),
}


def _breaks(rule: str, frame: Any, event: str, arg: Any) -> str | None:
    if rule == "nn.init" and event == "call" and frame.f_code.co_filename.endswith(_INIT_FILE):
        return f"torch.nn.init.{frame.f_code.co_name}"
    if rule == "F.prelu" and event == "c_call" and getattr(arg, "__name__", "") in _PRELU_KERNELS:
        return "F.prelu"
    return None


@contextmanager
def stated_rules(names: Sequence[str]) -> Iterator[list[str]]:
    """Watch the code run inside the block for calls that :data:`STATED_RULES` forbids.

    Yields a list that, after the block, holds one message per rule broken (empty when
    none was): the caller fails the check with it. The watch uses ``sys.setprofile``
    (calls into ``torch/nn/init.py``, C calls of ``torch.prelu``), so aliases such as
    ``from torch.nn.init import normal_`` are seen too. The clean re-verification
    (:mod:`relu_course.grading.verify_torch`) watches the student's process the same way.

    Examples
    --------
    >>> with stated_rules(["he_normal_"]) as broken:
    ...     _ = nn.init.zeros_(torch.empty(2, 2))
    >>> broken[0].split(":")[0]
    'calls torch.nn.init.zeros_'
    >>> with stated_rules(["he_normal_"]) as broken:
    ...     _ = torch.empty(2, 2).normal_()
    >>> broken
    []
    """
    rules = {STATED_RULES[n][0]: STATED_RULES[n][1] for n in names if n in STATED_RULES}
    found: dict[str, str] = {}
    broken: list[str] = []
    if not rules:
        yield broken
        return

    def watch(frame: Any, event: str, arg: Any) -> None:
        for rule in rules:
            if rule not in found:
                hit = _breaks(rule, frame, event, arg)
                if hit is not None:
                    found[rule] = hit

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        yield broken
    finally:
        sys.setprofile(previous)
        broken += [f"calls {hit}: {rules[rule]}" for rule, hit in found.items()]


def _reference_xavier_normal_(weight: torch.Tensor) -> torch.Tensor:
    return nn.init.xavier_normal_(weight)


def _reference_he_normal_(weight: torch.Tensor) -> torch.Tensor:
    return nn.init.kaiming_normal_(weight, nonlinearity="relu")


class _ReferenceLeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return F.leaky_relu(x, negative_slope)

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x > 0, 1.0, ctx.negative_slope).to(x.dtype), None


#: For each graded answer, the earlier answers its test replaces with the course's own
#: (torch's ``nn.init`` and ``nn.PReLU``), so a mistake there costs only its own question.
COURSE_PARTS: dict[str, dict[str, Any]] = {
    "build_mlp": {
        "xavier_normal_": _reference_xavier_normal_,
        "he_normal_": _reference_he_normal_,
    },
    "train_digits_model": {
        "PReLU": nn.PReLU,
        "LeakyReLUFunction": _ReferenceLeakyReLUFunction,
    },
}


@contextmanager
def course_parts(namespace: dict[str, Any], *answers: str) -> Iterator[None]:
    """Inside the block, the earlier answers ``answers`` build on are the course's own.

    A test cell of ps2's ``build_mlp`` runs ``with course_parts(globals(), "build_mlp"):``
    so that the network is drawn with the course's initialisers, not the student's
    ``he_normal_`` (whose own test already grades it). The student's names are put back
    afterwards, even when a test fails.

    Examples
    --------
    >>> ns = {"he_normal_": "mine"}
    >>> with course_parts(ns, "build_mlp"):
    ...     ns["he_normal_"] is COURSE_PARTS["build_mlp"]["he_normal_"]
    True
    >>> ns
    {'he_normal_': 'mine'}
    """
    parts = {k: v for a in answers for k, v in COURSE_PARTS.get(a, {}).items()}
    missing = object()
    saved = {k: namespace.get(k, missing) for k in parts}
    namespace.update(parts)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is missing:
                namespace.pop(k, None)
            else:
                namespace[k] = v


def _call(
    fn: Callable[..., Any], what: str, *args: Any, rules: Sequence[str] = (), **kwargs: Any
) -> Any:
    """Call the student's ``fn``; turn an exception, or a broken stated rule, into a
    CheckFailed that says where. ``rules``: names of :data:`STATED_RULES` to enforce."""
    try:
        with _quiet(), stated_rules(rules) as broken:
            out = fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailed(
            f"{what}: still raises NotImplementedError; write your code first"
        ) from None
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of student code is a failed check
        raise CheckFailed(f"{what} raised {type(exc).__name__}: {exc}") from exc
    if broken:
        raise CheckFailed(f"{what} {broken[0]}")
    return out


def _fail(case: str, expected: Any, received: Any, hint: str) -> CheckFailed:
    return CheckFailed(f"{case}\n  expected: {expected}\n  received: {received}\n  hint: {hint}")


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)`` (nn.Linear/Conv)."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fmt(values: Any) -> str:
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, list | tuple):
        return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"
    return repr(values)


# ------------------------------------------------------------------ ps2: initialisation


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


def _init_case(
    init_fn: Callable[[torch.Tensor], torch.Tensor],
    kind: str,
    shape: tuple[int, ...],
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    name = getattr(init_fn, "__name__", "init_fn")
    weight = torch.full(shape, float("nan"), dtype=dtype)
    what = f"{name}(weight) with weight.shape = {shape}"
    out = _call(init_fn, what, weight, rules=(f"{kind}_normal_",))
    if out is not weight:
        raise _fail(
            f"{name}(weight), shape {shape}: the return value",
            "the same tensor object that was passed in (filled in place)",
            f"{type(out).__name__}" + ("" if out is None else " (a different object)"),
            "fill the weight in place (e.g. weight.normal_(0.0, std) inside "
            "`with torch.no_grad():`) and end with `return weight`",
        )
    if weight.dtype != dtype or tuple(weight.shape) != shape:
        raise _fail(
            f"{name}(weight), shape {shape}", f"dtype {dtype}, shape {shape}",
            f"dtype {weight.dtype}, shape {tuple(weight.shape)}",
            "fill the tensor in place; do not replace or reshape it",
        )  # fmt: skip
    if not torch.isfinite(weight).all():
        missing = int((~torch.isfinite(weight)).sum())
        raise _fail(
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
        raise _fail(
            f"{name}(weight), shape {shape} (fan_in = {fan_in}, fan_out = {fan_out}): "
            "standard deviation of the entries",
            f"{std:.5f} (within {tol:.0%})",
            f"{got_std:.5f}",
            _INIT_HINTS[kind],
        )
    if abs(got_mean) > 6.0 * std / math.sqrt(n):
        raise _fail(
            f"{name}(weight), shape {shape}: mean of the entries",
            f"0 (|mean| <= {6.0 * std / math.sqrt(n):.2g})",
            f"{got_mean:.4g}",
            "draw from a normal distribution centred at 0",
        )
    return weight


def check_init(
    init_fn: Callable[[torch.Tensor], torch.Tensor],
    kind: Literal["xavier", "he"],
    *,
    level: Level = "basic",
) -> None:
    """Check an in-place normal initialiser: ``W_ij ~ N(0, std^2)``.

    ``kind="xavier"``: ``std = sqrt(2 / (fan_in + fan_out))``; ``kind="he"``:
    ``std = sqrt(2 / fan_in)``, with ``fan_in = shape[1] * prod(shape[2:])`` and
    ``fan_out = shape[0] * prod(shape[2:])`` (PyTorch's layout ``(out, in, *kernel)``).

    The contract checked: ``init_fn(weight)`` overwrites every entry of ``weight`` in
    place with draws from torch's global generator (so ``torch.manual_seed`` makes it
    repeatable), returns that same tensor, and works on an ``nn.Parameter`` without
    recording the fill in autograd.

    Parameters
    ----------
    init_fn
        The student's initialiser, e.g. ``he_normal_``.
    kind
        ``"xavier"`` or ``"he"``.
    level
        ``"basic"``: one case of every clause: Linear and conv shapes, float64, an
        ``nn.Parameter``, reproducibility, the normal shape and no ``torch.nn.init``.
        ``"full"``: the same with more shapes (wide, narrow, another conv).

    Raises
    ------
    CheckFailed
        With the case, the expected and received statistic and a hint.

    Examples
    --------
    A failure names the case, the expected and the received statistic and a hint:

    >>> def too_wide(weight):
    ...     with torch.no_grad():
    ...         return weight.normal_(0.0, 1.0)
    >>> try:
    ...     check_init(too_wide, "he")
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[1])
      expected: 0.06250 (within 5%)
    """
    _check_level(level)
    if kind not in _INIT_HINTS:
        raise ValueError(f'kind must be "xavier" or "he", got {kind!r}')
    # Every clause has a visible ("basic") case; "full" only adds shapes.
    shapes: list[tuple[int, ...]] = [(256, 512), (512, 128), (64, 32, 3, 3)]
    if level == "full":
        shapes += [(1000, 50), (40, 1200), (16, 8, 5, 5)]
    for shape in shapes:
        _init_case(init_fn, kind, shape)
    _init_case(init_fn, kind, (300, 200), torch.float64)
    name = getattr(init_fn, "__name__", "init_fn")

    # The normal distribution, not a uniform one with the same std.
    w = _init_case(init_fn, kind, (1000, 50))
    frac = float((w.abs() > 2.0 * _init_std(kind, (1000, 50))).double().mean())
    if not 0.035 <= frac <= 0.057:
        raise _fail(
            f"{name}: share of entries beyond 2 std (shape (1000, 50))",
            "about 0.0455, as for a normal distribution",
            f"{frac:.4f}",
            "draw from a normal distribution (weight.normal_ or torch.randn), not a "
            "uniform or truncated one",
        )

    # torch's global generator: the same seed gives the same weights, another seed not.
    draws = []
    for seed in (7, 7, 8):
        torch.manual_seed(seed)
        draws.append(_init_case(init_fn, kind, (64, 48)).clone())
    if not torch.equal(draws[0], draws[1]) or torch.equal(draws[0], draws[2]):
        raise _fail(
            f"{name}: reproducibility with torch.manual_seed",
            "the same seed gives the same weights and another seed different ones",
            "same seed -> " + ("same" if torch.equal(draws[0], draws[1]) else "different")
            + ", other seed -> " + ("same" if torch.equal(draws[0], draws[2]) else "different"),
            "draw with torch's random generator (weight.normal_ or torch.randn), not "
            "NumPy's or Python's random module, and do not reseed inside the function",
        )  # fmt: skip

    # An nn.Parameter: filled without autograd recording it, still a trainable leaf.
    param = nn.Parameter(torch.empty(128, 256))
    out = _call(
        init_fn,
        f"{name}(nn.Parameter of shape (128, 256)) (hint: fill inside `with torch.no_grad():`)",
        param,
        rules=(f"{kind}_normal_",),
    )
    if out is not param or not param.requires_grad or not param.is_leaf or param.grad_fn:
        raise _fail(
            f"{name}(nn.Parameter(...)): the parameter afterwards",
            "the same Parameter, still a leaf with requires_grad=True and no grad_fn",
            f"same object: {out is param}, requires_grad: {param.requires_grad}, "
            f"leaf: {param.is_leaf}",
            "fill in place under torch.no_grad() so that autograd does not record it",
        )
    std = _init_std(kind, (128, 256))
    if abs(float(param.detach().std()) / std - 1.0) > 0.05:
        raise _fail(
            f"{name}(nn.Parameter of shape (128, 256)): std",
            f"{std:.5f}",
            f"{float(param.detach().std()):.5f}",
            _INIT_HINTS[kind],
        )


# ------------------------------------------------------------- ps2: gradient norms


def _grad_norms_reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    model = copy.deepcopy(model)
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    return [float(m.weight.grad.norm()) for m in model.modules() if isinstance(m, nn.Linear)]


def _mlp(sizes: list[int], act: type[nn.Module], seed: int, std: str = "he") -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        lin = nn.Linear(fan_in, fan_out)
        scale = math.sqrt(2.0 / fan_in) if std == "he" else math.sqrt(2.0 / (fan_in + fan_out))
        with torch.no_grad():
            lin.weight.copy_(torch.randn(fan_out, fan_in, generator=gen) * scale)
            lin.bias.copy_(torch.randn(fan_out, generator=gen) * 0.1)
        layers.append(lin)
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _grad_case(
    fn: Callable[..., Any], case: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> None:
    name = getattr(fn, "__name__", "grad_norm_per_layer")
    expected = _grad_norms_reference(model, x, y)
    before = [p.detach().clone() for p in model.parameters()]
    got = _call(fn, f"{name}(model, x, y) on {case}", model, x, y)
    if not isinstance(got, list) or not all(isinstance(v, float) for v in got):
        raise _fail(
            f"{name} on {case}: the return type",
            f"a list of {len(expected)} Python floats",
            f"{type(got).__name__}"
            + (f" of {sorted({type(v).__name__ for v in got})}" if isinstance(got, list) else ""),
            "collect `float(layer.weight.grad.norm())` (or .item()) for every nn.Linear",
        )
    if any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters(), strict=True)):
        raise _fail(
            f"{name} on {case}: the model's parameters",
            "unchanged (measure only: no optimiser step)",
            "changed",
            "do one forward and one backward; never call optimizer.step() here",
        )
    if len(got) != len(expected):
        raise _fail(
            f"{name} on {case}: number of values",
            f"{len(expected)} (one per nn.Linear weight)",
            f"{len(got)}: {_fmt(got)}",
            "one norm per nn.Linear layer's weight; biases and activations are not layers",
        )
    exp_t = torch.tensor(expected, dtype=torch.float64)
    got_t = torch.tensor(got, dtype=torch.float64)
    if not torch.allclose(got_t, exp_t, rtol=1e-3, atol=0.0):
        if torch.allclose(got_t.flip(0), exp_t, rtol=1e-3, atol=0.0):
            hint = "the values are in reverse order: list layers input side first"
        elif torch.allclose(got_t**0.5, exp_t, rtol=1e-3, atol=0.0):
            hint = "these are squared norms: take the square root (tensor.norm())"
        elif torch.allclose(got_t / x.shape[0], exp_t, rtol=1e-3, atol=0.0):
            hint = "the loss must be the MEAN cross-entropy over the batch, not the sum"
        else:
            hint = (
                "zero the gradients first (model.zero_grad()), use the mean cross-entropy "
                "of model(x) against y, backpropagate once, and take the Frobenius norm "
                "of each Linear layer's weight.grad (not of its weight or its output)"
            )
        raise _fail(f"{name} on {case}: ||dL/dW_l|| per layer", _fmt(expected), _fmt(got), hint)


def check_grad_norms(
    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], list[float]], *, level: Level = "basic"
) -> None:
    """Check ``fn(model, x, y)`` returns ``[||dL/dW_l||_F for each nn.Linear l]``.

    ``L`` is the mean cross-entropy of ``model(x)`` against the labels ``y``, after one
    backward pass that starts from zero gradients; layers in ``model.modules()`` order
    (input side first); Python floats; the parameters are not changed.

    Parameters
    ----------
    fn
        The student's ``grad_norm_per_layer``.
    level
        ``"basic"``: a 4-layer tanh MLP called twice (gradients must not pile up), stale
        gradients, nested blocks with ReLU/Dropout layers. ``"full"``: also a 13-layer
        sigmoid MLP (tiny norms) and a single example.

    Raises
    ------
    CheckFailed
        With the case, the expected and the received norms and a hint.

    Examples
    --------
    The norms of the weights themselves are not the gradient's:

    >>> def weight_norms(model, x, y):
    ...     return [float(m.weight.norm()) for m in model.modules() if isinstance(m, nn.Linear)]
    >>> try:
    ...     check_grad_norms(weight_norms)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    weight_norms on a 4-layer tanh MLP (first call): ||dL/dW_l|| per layer
    """
    _check_level(level)
    gen = torch.Generator().manual_seed(0)
    model = _mlp([5, 8, 8, 8, 3], nn.Tanh, seed=1)
    x = torch.randn(16, 5, generator=gen)
    y = torch.randint(0, 3, (16,), generator=gen)
    _grad_case(fn, "a 4-layer tanh MLP (first call)", model, x, y)
    _grad_case(fn, "the same MLP (second call: gradients must not add up)", model, x, y)
    stale = _mlp([6, 10, 10, 4], nn.ReLU, seed=2)
    for p in stale.parameters():
        p.grad = torch.full_like(p, 3.0)
    x = torch.randn(32, 6, generator=gen)
    y = torch.randint(0, 4, (32,), generator=gen)
    _grad_case(fn, "a ReLU MLP whose .grad already holds stale values", stale, x, y)
    nested = nn.Sequential(
        nn.Sequential(nn.Linear(4, 7), nn.ReLU()),
        nn.Dropout(0.5),
        nn.Sequential(nn.Linear(7, 9), nn.LeakyReLU(0.1), nn.Linear(9, 2)),
    ).eval()
    x = torch.randn(8, 4, generator=gen)
    y = torch.randint(0, 2, (8,), generator=gen)
    _grad_case(fn, "nested blocks with Dropout (eval mode)", nested, x, y)
    if level == "basic":
        return
    deep = _mlp([10] + [32] * 12 + [5], nn.Sigmoid, seed=3, std="xavier")
    x_deep = torch.randn(64, 10, generator=gen)
    y_deep = torch.randint(0, 5, (64,), generator=gen)
    _grad_case(fn, "a 13-layer sigmoid MLP (vanishing gradients)", deep, x_deep, y_deep)
    x = torch.randn(1, 4, generator=gen)
    _grad_case(fn, "the nested model on a single example", nested, x, y[:1])


# ------------------------------------------------------------------- ps2: build_mlp

_ACT_CLASSES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "leaky_relu": nn.LeakyReLU,
}


def check_mlp(build_mlp: Callable[..., nn.Module], *, level: Level = "basic") -> None:
    """Check ``build_mlp(depth, width, activation, init, in_features, out_features)``.

    The network is ``[Linear, act] * depth + [Linear(width, out_features)]`` as an
    ``nn.Sequential``; ``init="he"``/``"xavier"`` draw every Linear weight with
    ``std = sqrt(2/fan_in)`` / ``sqrt(2/(fan_in+fan_out))`` and zero the biases;
    ``init="default"`` keeps PyTorch's ``U(+-1/sqrt(fan_in))`` (std ``1/sqrt(3 fan_in)``).

    Parameters
    ----------
    build_mlp
        The student's builder.
    level
        ``"basic"``: structure of a ReLU and a tanh net (other feature sizes), the
        weight statistics of ``init="he"`` and zero biases. ``"full"``: also every
        activation and the statistics of every ``init``.

    Raises
    ------
    CheckFailed
        With the case, the expected and received structure or statistic, and a hint.

    Examples
    --------
    >>> def one_layer(depth, width, activation="relu", init="he", in_features=16,
    ...               out_features=4):
    ...     return nn.Sequential(nn.Linear(in_features, out_features))
    >>> try:
    ...     check_mlp(one_layer)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    build_mlp(3, 8, 'relu', 'he'): the layers
    """
    _check_level(level)
    cases: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
        ((3, 8, "relu", "he"), {}),
        ((2, 5, "tanh", "xavier"), {"in_features": 7, "out_features": 3}),
    ]
    if level == "full":
        cases += [
            ((4, 6, "sigmoid", "default"), {"in_features": 2, "out_features": 9}),
            ((1, 3, "leaky_relu", "he"), {}),
        ]
    for args, kwargs in cases:
        depth, width, act, init = args
        shown = ", ".join(map(repr, args)) + "".join(f", {k}={v}" for k, v in kwargs.items())
        with torch.no_grad():
            model = _call(build_mlp, f"build_mlp({shown})", *args, **kwargs)
        if not isinstance(model, nn.Sequential):
            raise _fail(
                f"build_mlp({shown})", "an nn.Sequential", type(model).__name__,
                "return nn.Sequential(*layers)",
            )  # fmt: skip
        d_in, d_out = kwargs.get("in_features", 16), kwargs.get("out_features", 4)
        sizes = [d_in] + [width] * depth + [d_out]
        want = [nn.Linear, _ACT_CLASSES[act]] * depth + [nn.Linear]
        got = [type(m) for m in model]
        if [c.__name__ for c in got] != [c.__name__ for c in want]:
            raise _fail(
                f"build_mlp({shown}): the layers",
                [c.__name__ for c in want],
                [c.__name__ for c in got],
                "depth hidden layers, each nn.Linear followed by its activation module, "
                "then one nn.Linear to out_features (no activation after it)",
            )
        shapes = [tuple(m.weight.shape) for m in model if isinstance(m, nn.Linear)]
        want_shapes = [(o, i) for i, o in zip(sizes[:-1], sizes[1:], strict=True)]
        if shapes != want_shapes:
            raise _fail(
                f"build_mlp({shown}): Linear weight shapes (out, in)", want_shapes, shapes,
                "the first layer takes in_features, hidden layers have `width` units",
            )  # fmt: skip
        out = _call(model, f"build_mlp({shown}) forward", torch.zeros(5, d_in))
        if tuple(out.shape) != (5, d_out):
            raise _fail(
                f"build_mlp({shown})(x of shape (5, {d_in}))", (5, d_out), tuple(out.shape),
                "end with nn.Linear(width, out_features)",
            )  # fmt: skip
    for init in ("he",) if level == "basic" else ("he", "xavier", "default"):
        torch.manual_seed(0)
        model = _call(build_mlp, f"build_mlp(2, 400, 'relu', {init!r})", 2, 400, "relu", init)
        lin = [m for m in model if isinstance(m, nn.Linear)][1]  # the 400 x 400 layer
        std = {"he": math.sqrt(2 / 400), "xavier": math.sqrt(2 / 800)}.get(
            init, 1 / math.sqrt(3 * 400)
        )
        got = float(lin.weight.detach().std())
        if abs(got / std - 1.0) > 0.05:
            raise _fail(
                f"build_mlp(2, 400, 'relu', {init!r}): std of the 400 x 400 weight",
                f"{std:.5f}",
                f"{got:.5f}",
                "apply your he_normal_ / xavier_normal_ to every Linear weight; leave "
                "PyTorch's own init in place for init='default'",
            )
        if init != "default" and any(
            float(m.bias.detach().abs().max()) != 0.0 for m in model if isinstance(m, nn.Linear)
        ):
            raise _fail(
                f"build_mlp(2, 400, 'relu', {init!r}): the biases", "all zero", "not all zero",
                "set every bias to zero (nn.init.zeros_) when init is 'he' or 'xavier'",
            )  # fmt: skip


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


def _teacher_accuracy(
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
    return _teacher_accuracy(model, steps=steps, lr=lr, momentum=0.9, seed=seed)


# --------------------------------------------------------------- ps3: dead units


def _batches(data: torch.Tensor | DataLoader) -> Iterator[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        yield data
        return
    for batch in data:
        yield batch[0] if isinstance(batch, list | tuple) else batch


def _dead_fraction(model: nn.Module, data: torch.Tensor | DataLoader) -> dict[str, float]:
    """Reference detector: share of units (dim 1) whose output is exactly 0 everywhere."""
    alive: dict[str, torch.Tensor] = {}
    handles = []

    def hook(name: str) -> Callable[..., None]:
        def record(_module: nn.Module, _inp: Any, out: torch.Tensor) -> None:
            nz = (out != 0).transpose(0, 1).reshape(out.shape[1], -1).any(dim=1)
            alive[name] = alive[name] | nz if name in alive else nz

        return record

    for name, module in model.named_modules():
        if isinstance(module, ACTIVATION_LAYERS):
            handles.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for x in _batches(data):
                model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: 1.0 - float(a.double().mean()) for name, a in alive.items()}


def _dead_net(units: list[str], *, act: type[nn.Module] = nn.ReLU, d_in: int = 3) -> nn.Sequential:
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


def _detector_case(
    fn: Callable[..., Any], case: str, model: nn.Module, data: torch.Tensor | DataLoader,
    expected: dict[str, float], hint: str,
) -> None:  # fmt: skip
    name = getattr(fn, "__name__", "dead_fraction_per_layer")
    modes = {n: m.training for n, m in model.named_modules()}
    before = [p.detach().clone() for p in model.parameters()]
    got = _call(fn, f"{name}(model, data) on {case}", model, data)
    if not isinstance(got, Mapping):
        raise _fail(
            f"{name} on {case}: the return type", "a dict {layer name: fraction}",
            type(got).__name__, "return {name: fraction} for every activation layer",
        )  # fmt: skip
    shown = {k: round(float(v), 4) for k, v in got.items()}
    if set(got) != set(expected) or any(abs(float(got[k]) - v) > 1e-6 for k, v in expected.items()):
        raise _fail(f"{name} on {case}", expected, shown, hint)
    leftovers = [n for n, m in model.named_modules() if m._forward_hooks or m._forward_pre_hooks]
    if leftovers:
        raise _fail(
            f"{name} on {case}: hooks after the call", "none left on the model",
            f"hooks still attached to {leftovers}",
            "keep the handles that register_forward_hook returns and call .remove() on "
            "each in a `finally:` block",
        )  # fmt: skip
    changed = [n for n, m in model.named_modules() if m.training != modes[n]]
    if changed:
        raise _fail(
            f"{name} on {case}: model.training afterwards",
            "the mode the model had before the call", f"changed for {changed}",
            "remember `was_training = model.training`, use model.eval() while measuring, "
            "and call model.train(was_training) at the end",
        )  # fmt: skip
    if any(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters(), strict=True)):
        raise _fail(
            f"{name} on {case}: parameters", "unchanged", "changed",
            "only run forward passes (under torch.no_grad())",
        )  # fmt: skip


def check_dead_detector(
    fn: Callable[[nn.Module, torch.Tensor | DataLoader], dict[str, float]],
    *,
    level: Level = "basic",
) -> None:
    """Check a detector of dead units: ``dead_l = mean_j [ a_lj(x) == 0 for every x ]``.

    For every activation layer (an instance of :data:`ACTIVATION_LAYERS`, keyed by its
    name in ``model.named_modules()``), the fraction of its units (dim 1: neurons, or
    channels of a conv layer over every position) whose output is exactly 0 on every
    example of ``data`` (a tensor, or a DataLoader of ``(x, y)`` batches). The model's
    parameters, training mode and hooks are as before the call.

    Parameters
    ----------
    fn
        The student's ``dead_fraction_per_layer``.
    level
        ``"basic"``: one case of every clause: units alive at one example only, a
        DataLoader, exactly-zero pre-activations, LeakyReLU (never dead), nested names
        in train mode, a conv layer. ``"full"``: also all units dead and none dead.

    Raises
    ------
    CheckFailed
        With the network, the expected and the received fractions and a hint.

    Examples
    --------
    >>> check_dead_detector(_dead_fraction, level="full")
    """
    _check_level(level)
    exactly = "a unit is dead when its output is exactly 0 for EVERY example of data"
    model = _dead_net(["live", "dead", "live", "live", "dead", "live"])
    _detector_case(
        fn, "Sequential(Linear(3, 6), ReLU()) with units 1 and 4 dead", model, _inputs(20),
        {"1": 2 / 6}, exactly,
    )  # fmt: skip
    x = _inputs(40, alive_at=13)
    model = _dead_net(["live", "one", "dead", "one"])
    _detector_case(
        fn, "units 1 and 3 alive only at example 13 of 40", model, x, {"1": 1 / 4},
        "a unit that fires for a single example is alive: combine every example (and "
        "every batch) before you decide",
    )  # fmt: skip
    loader = DataLoader(TensorDataset(x, torch.zeros(40, dtype=torch.long)), batch_size=8)
    _detector_case(
        fn, "the same net fed a DataLoader of (x, y) batches of 8 (example 13 in batch 2 of 5)",
        model, loader, {"1": 1 / 4},
        "iterate over the loader, take x = batch[0], and combine every batch",
    )  # fmt: skip
    model = _dead_net(["live", "zero", "zero", "live"])
    _detector_case(
        fn, "units 1 and 2 with zero weights and bias (pre-activation exactly 0)",
        model, _inputs(20), {"1": 0.5},
        "ReLU(0) = 0 blocks the gradient too: look at the activation's OUTPUT == 0, "
        "not at its input < 0",
    )  # fmt: skip
    _detector_case(
        fn, "LeakyReLU(0.1) with 3 of 4 units negative everywhere",
        _dead_net(["dead", "dead", "live", "dead"], act=lambda: nn.LeakyReLU(0.1)),
        _inputs(10), {"1": 0.0},
        "a LeakyReLU unit with negative output still passes a gradient: only outputs "
        "exactly 0 count as dead (test == 0, not <= 0)",
    )  # fmt: skip
    first = _dead_net(["live", "dead", "live", "dead"])
    second = _dead_net(["dead", "live", "dead"], d_in=4)
    block = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    two = nn.Sequential(first, nn.Dropout(0.3), second, block).train()
    with torch.no_grad():
        block[0].weight.zero_()
        block[0].bias.copy_(torch.tensor([1.0, -1.0, 0.0]))
    _detector_case(
        fn, "three ReLU layers in nested Sequentials, Dropout, in train mode", two,
        _inputs(12), {"0.1": 0.5, "2.1": 2 / 3, "3.1": 2 / 3},
        "key each activation layer by its name from model.named_modules(); measure in "
        "eval mode (Dropout off) and restore train mode afterwards",
    )  # fmt: skip
    conv = nn.Conv2d(1, 4, 3)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[3, 0, 1, 1] = 1.0  # channel 3 follows the centre pixel
        conv.bias.copy_(torch.tensor([1.0, -1.0, 0.0, -0.5]))
    images = -torch.ones(6, 1, 5, 5)
    images[4, 0, 2, 3] = 1.0  # one pixel of one image lights channel 3 at one position
    _detector_case(
        fn, "Conv2d(1, 4, 3) + ReLU on 6 images: channels 1, 2 dead, channel 3 alive at "
        "one position of one image", nn.Sequential(conv, nn.ReLU()), images, {"1": 0.5},
        "for a conv layer a unit is a channel (dim 1): it is dead only if it is 0 at "
        "every example AND every spatial position",
    )  # fmt: skip
    if level == "basic":
        return
    _detector_case(
        fn, "all 5 units dead", _dead_net(["dead"] * 5), _inputs(10), {"1": 1.0}, exactly
    )
    _detector_case(
        fn, "no unit dead", _dead_net(["live", "one", "live"]), _inputs(10, alive_at=0),
        {"1": 0.0}, exactly,
    )  # fmt: skip


# ------------------------------------------------------------------ ps3: rescue

_RESCUE_ACTS = ("relu", "leaky_relu", "prelu")


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
    below 0 so that ReLU units start dead.

    Examples
    --------
    >>> net = make_dying_net("leaky_relu", -1.0, depth=2, width=8)
    >>> [type(m).__name__ for m in net]
    ['Linear', 'LeakyReLU', 'Linear', 'LeakyReLU', 'Linear']
    """
    if activation not in _RESCUE_ACTS:
        raise ValueError(f"activation must be one of {_RESCUE_ACTS}, got {activation!r}")
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = 16
    for _ in range(depth):
        lin = nn.Linear(fan_in, width)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, fan_in, generator=gen) * math.sqrt(2 / fan_in))
            lin.bias.fill_(bias_init)
        act: nn.Module = {
            "relu": nn.ReLU,
            "leaky_relu": lambda: nn.LeakyReLU(negative_slope),
            "prelu": nn.PReLU,
        }[activation]()
        layers += [lin, act]
        fan_in = width
    out = nn.Linear(fan_in, 4)
    with torch.no_grad():
        out.weight.copy_(torch.randn(4, fan_in, generator=gen) * math.sqrt(1 / fan_in))
        out.bias.zero_()
    return nn.Sequential(*layers, out)


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
    return _teacher_accuracy(model, steps=steps, lr=lr, momentum=0.0, seed=seed)


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
    over the training inputs and held-out accuracy ``>= min_accuracy``.

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
        raise _fail(
            "the recipe's keys", "activation, bias_init, lr (and optionally negative_slope)",
            sorted(recipe), "return a dict with exactly those keys",
        )  # fmt: skip
    act, bias, lr = recipe["activation"], recipe["bias_init"], recipe["lr"]
    slope = recipe.get("negative_slope", 0.01)
    if act not in _RESCUE_ACTS:
        raise _fail("recipe['activation']", " or ".join(_RESCUE_ACTS), repr(act), "pick one")
    for key, val in (("bias_init", bias), ("lr", lr), ("negative_slope", slope)):
        if not isinstance(val, int | float) or isinstance(val, bool) or not math.isfinite(val):
            raise _fail(f"recipe[{key!r}]", "a finite number", repr(val), "use a float")
    if not 0.0 < lr <= 2.0:
        raise _fail("recipe['lr']", "0 < lr <= 2", lr, "pick a positive learning rate")
    net = make_dying_net(act, float(bias), negative_slope=float(slope), seed=seed)
    acc = train_dying_net(net, float(lr), seed=seed)
    dead = max(_dead_fraction(net, teacher_data(4000, seed=seed)[0]).values())
    if dead > max_dead or acc < min_accuracy:
        raise _fail(
            f"training make_dying_net({act!r}, {bias}, seed={seed}) with SGD lr={lr}",
            f"largest dead fraction <= {max_dead} and held-out accuracy >= {min_accuracy}",
            f"largest dead fraction {dead:.3f}, accuracy {acc:.3f}",
            "negative biases start ReLU units dead and a large learning rate kills more; "
            "a leaky or learnable negative slope keeps gradients flowing, a zero bias and "
            "a moderate learning rate let the net learn",
        )
    return dead, acc


# ---------------------------------------------------------- ps4: autograd Function


def _leaky(x: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.where(x > 0, x, x * slope)


def check_autograd_function(
    fn_cls: type[torch.autograd.Function], *, level: Level = "basic"
) -> None:
    """Check a Leaky ReLU ``torch.autograd.Function``: ``f(x) = x if x > 0 else a x``.

    ``fn_cls.apply(x, negative_slope=0.01)``; the hand-written backward returns
    ``grad_output * (1 if x > 0 else a)`` (at ``x = 0`` the slope ``a``, PyTorch's
    negative-side convention) and ``None`` for the slope.

    Parameters
    ----------
    fn_cls
        The student's ``LeakyReLUFunction``.
    level
        ``"basic"``: one case of every clause: values, the kink, an uneven
        ``grad_output``, a slope above 1, float32 and float64, the input left unchanged,
        0-d and empty inputs, gradcheck. ``"full"``: also slopes 0 and 0.3, a 3-d input
        and gradcheck at more slopes.

    Raises
    ------
    CheckFailed
        With the input, the expected and the received values and a hint.

    Examples
    --------
    >>> class Identity(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, negative_slope=0.01):
    ...         return x.clone()
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         return grad_output, None
    >>> try:
    ...     check_autograd_function(Identity)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    Identity.apply(x), x = [-3, -1.5, -0.25, 0, 0.5, 2, 7]
    """
    _check_level(level)
    name = getattr(fn_cls, "__name__", "LeakyReLUFunction")
    slopes = [0.1, 2.0] if level == "basic" else [0.1, 2.0, 0.0, 0.3]
    dtypes = [torch.float64, torch.float32]
    base = torch.tensor([-3.0, -1.5, -0.25, 0.0, 0.5, 2.0, 7.0])
    # Forward values with the default slope.
    x = base.clone()
    y = _call(fn_cls.apply, f"{name}.apply(x) (default negative_slope)", x)
    if not isinstance(y, torch.Tensor) or not torch.allclose(y, F.leaky_relu(base), atol=1e-7):
        raise _fail(
            f"{name}.apply(x), x = {_fmt(base)}", _fmt(F.leaky_relu(base)), _fmt(y),
            "forward returns x where x > 0 and negative_slope * x elsewhere; the default "
            "negative_slope is 0.01",
        )  # fmt: skip
    for slope in slopes:
        for dtype in dtypes:
            x = base.to(dtype).requires_grad_()
            y = _call(fn_cls.apply, f"{name}.apply(x, {slope})", x, slope)
            want = _leaky(base.to(dtype), slope)
            if (
                not isinstance(y, torch.Tensor)
                or y.dtype != dtype
                or not torch.allclose(y.detach(), want, atol=1e-6)
            ):
                raise _fail(
                    f"{name}.apply(x, {slope}), x = {_fmt(base)} ({dtype})",
                    _fmt(want), _fmt(y.detach()) if isinstance(y, torch.Tensor) else repr(y),
                    "x where x > 0, negative_slope * x elsewhere (max(x, a*x) is wrong when "
                    "a > 1); keep the input's dtype",
                )  # fmt: skip
            if not torch.equal(x.detach(), base.to(dtype)):
                raise _fail(
                    f"{name}.apply(x, {slope}): the input afterwards", _fmt(base),
                    _fmt(x.detach()), "do not modify x in place; compute a new tensor",
                )  # fmt: skip
            upstream = torch.linspace(0.5, 3.5, len(base), dtype=dtype)
            grad = _call(
                torch.autograd.grad, f"backward of {name}.apply(x, {slope})", y, x, upstream
            )[0]
            want_g = upstream * torch.where(base > 0, 1.0, slope).to(dtype)
            if not torch.allclose(grad, want_g, atol=1e-6):
                kink = int((base == 0).nonzero()[0, 0])
                if torch.allclose(grad, torch.where(base > 0, 1.0, slope).to(dtype)):
                    hint = (
                        "multiply by grad_output (the chain rule): do not return the local "
                        "slope alone"
                    )
                elif not math.isclose(float(grad[kink]), float(want_g[kink])):
                    hint = (
                        "at x = 0 the derivative is the negative side's, negative_slope "
                        "(PyTorch's convention): use x > 0, not x >= 0"
                    )
                else:
                    hint = "grad_input = grad_output * (1 where x > 0 else negative_slope)"
                raise _fail(
                    f"{name}: dL/dx for x = {_fmt(base)}, slope {slope}, "
                    f"grad_output = {_fmt(upstream)} ({dtype})",
                    _fmt(want_g), _fmt(grad), hint,
                )  # fmt: skip
    # gradcheck in float64 at points away from the kink.
    gen = torch.Generator().manual_seed(0)
    pts = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    pts = torch.where(pts.abs() < 0.1, pts.sign() * 0.1 + pts, pts).requires_grad_()
    for slope in [0.2] if level == "basic" else [0.2, 0.0, 0.7]:
        ok = _call(
            torch.autograd.gradcheck, f"gradcheck of {name} (slope {slope})",
            lambda t, s=slope: fn_cls.apply(t, s), (pts,), eps=1e-6, atol=1e-5,
            raise_exception=False,
        )  # fmt: skip
        if not ok:
            raise _fail(
                f"torch.autograd.gradcheck({name}.apply, float64 x of shape (4, 5), "
                f"slope {slope})", "True (backward agrees with finite differences)", ok,
                "your backward disagrees with the forward's finite differences",
            )  # fmt: skip
    for shape in [(), (0,)] if level == "basic" else [(), (0,), (2, 3, 4)]:
        x = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_()
        y = _call(fn_cls.apply, f"{name}.apply(x of shape {shape}, 0.3)", x, 0.3)
        if tuple(y.shape) != shape or not torch.allclose(y.detach(), _leaky(x.detach(), 0.3)):
            raise _fail(
                f"{name}.apply(x of shape {shape}, 0.3)", f"shape {shape}, leaky values",
                f"shape {tuple(y.shape)}", "work elementwise on any shape",
            )  # fmt: skip
        if x.numel():
            (g,) = _call(torch.autograd.grad, f"backward, shape {shape}", y.sum(), x)
            if not torch.allclose(g, torch.where(x.detach() > 0, 1.0, 0.3).double()):
                raise _fail(
                    f"dL/dx of {name}.apply(x of shape {shape}, 0.3)",
                    "1 where x > 0, 0.3 elsewhere", _fmt(g.flatten()),
                    "work elementwise; keep the shape of grad_output",
                )  # fmt: skip


# ------------------------------------------------------------------ ps4: PReLU module


def check_prelu_module(prelu_cls: type[nn.Module], *, level: Level = "basic") -> None:
    """Check a learnable PReLU module: ``f(x) = max(0, x) + a_c * min(0, x)``.

    ``prelu_cls(num_parameters=1, init=0.25)`` registers ``weight``, an ``nn.Parameter``
    of shape ``(num_parameters,)`` filled with ``init``; one slope shared by every
    element, or one per channel (dim 1 of the input). Values and gradients (for the
    input and for ``weight``) must match ``torch.nn.functional.prelu``.

    Parameters
    ----------
    prelu_cls
        The student's ``PReLU`` class.
    level
        ``"basic"``: one case of every clause: a shared slope on a 2-D input, one slope
        per channel of a 4-D float64 input (channels != last dim) with another
        ``init``, an optimiser step, no ``F.prelu``. ``"full"``: also a shared slope on
        a 4-D input and 6 channels on a 2-D input.

    Raises
    ------
    CheckFailed
        With the case, the expected and the received values and a hint.

    Examples
    --------
    A slope kept as a plain tensor is not learned; ``F.prelu`` is off limits (the
    notebook says so, :data:`STATED_RULES`):

    >>> class Frozen(nn.Module):
    ...     def __init__(self, num_parameters=1, init=0.25):
    ...         super().__init__()
    ...         self.weight = torch.full((num_parameters,), init)
    >>> try:
    ...     check_prelu_module(Frozen)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    Frozen(1): its parameters
    """
    _check_level(level)
    name = getattr(prelu_cls, "__name__", "PReLU")
    gen = torch.Generator().manual_seed(0)
    cases: list[tuple[int, float | None, tuple[int, ...], torch.dtype]] = [
        (1, None, (4, 3), torch.float32),
        (3, 0.05, (2, 3, 4, 5), torch.float64),
    ]
    if level == "full":
        cases += [
            (1, 0.1, (2, 3, 4, 5), torch.float64),
            (6, None, (5, 6), torch.float32),
        ]
    for n, init, shape, dtype in cases:
        call = f"{name}({n})" if init is None else f"{name}({n}, init={init})"
        args = (n,) if init is None else (n, init)
        module = _call(prelu_cls, call, *args, rules=("PReLU",))
        params = dict(module.named_parameters())
        weight = params.get("weight")
        if not isinstance(weight, nn.Parameter) or tuple(weight.shape) != (n,):
            raise _fail(
                f"{call}: its parameters", f"'weight', an nn.Parameter of shape ({n},)",
                {k: tuple(v.shape) for k, v in params.items()} or "no parameters",
                "self.weight = nn.Parameter(torch.full((num_parameters,), init)): a plain "
                "tensor or a buffer is not learned by the optimiser",
            )  # fmt: skip
        want_init = 0.25 if init is None else init
        if not torch.allclose(weight.detach(), torch.full((n,), want_init)):
            raise _fail(
                f"{call}.weight", _fmt([want_init] * n), _fmt(weight.detach()),
                "fill the slope with init",
            )  # fmt: skip
        module = module.to(dtype)
        with torch.no_grad():  # distinct slopes so channel mix-ups show
            module.weight.copy_(torch.linspace(0.1, 0.1 * n, n, dtype=dtype))
        x = (torch.randn(shape, generator=gen, dtype=dtype) * 2).requires_grad_()
        ref_w = module.weight.detach().clone().requires_grad_()
        ref_x = x.detach().clone().requires_grad_()
        upstream = torch.rand(shape, generator=gen, dtype=dtype) + 0.5
        y = _call(module, f"{call}(x of shape {tuple(shape)})", x, rules=("PReLU",))
        want = F.prelu(ref_x, ref_w)
        what = f"{call} with weight {_fmt(ref_w.detach())} on x of shape {tuple(shape)}"
        if (
            not isinstance(y, torch.Tensor)
            or tuple(y.shape) != shape
            or not torch.allclose(y.detach(), want.detach(), atol=1e-6)
        ):
            raise _fail(
                f"{what}: output (first values)", _fmt(want.detach().flatten()[:6]),
                _fmt(y.detach().flatten()[:6]) if isinstance(y, torch.Tensor) else repr(y),
                "x where x > 0 and weight * x where x <= 0 (the slope acts on the NEGATIVE "
                "side); with several channels, channel c of dim 1 uses weight[c]: reshape "
                "it to (1, C, 1, ...) for broadcasting",
            )  # fmt: skip
        (want * upstream).sum().backward()
        try:
            (y * upstream).sum().backward()
        except RuntimeError as exc:
            raise _fail(
                f"{what}: backward", "gradients for x and weight", f"RuntimeError: {exc}",
                "build the output with differentiable torch operations",
            ) from exc  # fmt: skip
        if module.weight.grad is None or not torch.allclose(
            module.weight.grad, ref_w.grad, rtol=1e-5, atol=1e-6
        ):
            raise _fail(
                f"{what}: dL/dweight", _fmt(ref_w.grad),
                "None" if module.weight.grad is None else _fmt(module.weight.grad),
                "the gradient must reach the slope: use the Parameter itself in forward "
                "(no .item(), .detach() or float())",
            )  # fmt: skip
        if x.grad is None or not torch.allclose(x.grad, ref_x.grad, rtol=1e-5, atol=1e-6):
            raise _fail(
                f"{what}: dL/dx (first values)", _fmt(ref_x.grad.flatten()[:6]),
                "None" if x.grad is None else _fmt(x.grad.flatten()[:6]),
                "dL/dx is 1 where x > 0 and the slope elsewhere",
            )  # fmt: skip
    module = _call(prelu_cls, f"{name}(1)", 1, rules=("PReLU",))
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    out = _call(module, f"{name}(1)(-torch.ones(3, 2))", -torch.ones(3, 2), rules=("PReLU",))
    out.sum().backward()
    opt.step()
    if not math.isclose(float(module.weight.detach()[0]), 0.25 + 0.1 * 6, rel_tol=1e-5):
        raise _fail(
            f"{name}(1): one SGD step (lr 0.1) on sum(f(-1 * ones(3, 2)))",
            "weight 0.25 + 0.1 * 6 = 0.85",
            _fmt(module.weight.detach()),
            "register the slope as an nn.Parameter so that the optimiser updates it",
        )
    if "weight" not in module.state_dict():
        raise _fail(f"{name}(1).state_dict()", "a 'weight' entry", list(module.state_dict()),
                    "assign the nn.Parameter to self.weight")  # fmt: skip


# ------------------------------------------------------------------ ps4: digits


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
        params = list(model.parameters())
        device = params[0].device if params else torch.device("cpu")
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
