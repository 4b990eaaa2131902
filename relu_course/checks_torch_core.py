"""The machinery every torch check (ps2-ps4) shares: one pattern, the notebooks' rules.

A torch check, like :mod:`relu_course.checks`, has three steps kept apart, so that a
grader can run the student's code in one (sandboxed) process and judge it in another:

1. ``cases(name, **params)`` builds the inputs (deterministic: seeded generators only);
2. ``observe(obj, cases)`` runs the student's object on them and records what came back
   as plain data (numbers, strings, tensors, lists and dicts of them; see
   :func:`is_plain`): one observation per case;
3. ``judge(cases, observations)`` compares them with the reference computed here and
   returns ``None`` or the first failure as a teaching message. It never runs student code.

:class:`TorchCheck` holds the three; :func:`run_check` runs them in one process and
raises :class:`~relu_course.checks.CheckFailed`. The clean re-verification
(:mod:`relu_course.grading.verify_torch`) runs ``observe`` in the student's process and
``judge`` in its own.

Two rules keep the grading of a notebook fair. The rules a notebook states for an
answer (:data:`STATED_RULES`: no ``torch.nn.init`` in ps2's initialisers, no ``F.prelu``
in ps4's PReLU) are checked while the student's code runs (:func:`stated_rules`). And a
test of a later question runs with the course's own version of the earlier answers it
builds on (:data:`COURSE_PARTS`, :func:`course_parts`), so one mistake costs one question.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from relu_course.checks import CheckFailed  # one exception type for every check

__all__ = [
    "COURSE_PARTS",
    "STATED_RULES",
    "CheckFailed",
    "Level",
    "TorchCheck",
    "attempt",
    "changed",
    "check_level",
    "course_parts",
    "detached",
    "failure",
    "fmt",
    "is_plain",
    "judge_in_order",
    "quiet",
    "run_check",
    "snapshot",
    "stated_rules",
]

Level = Literal["basic", "full"]

Cases = list[dict[str, Any]]
Observations = list[dict[str, Any]]


def check_level(level: str) -> None:
    """Raise ``ValueError`` unless ``level`` is ``"basic"`` or ``"full"``."""
    if level not in ("basic", "full"):
        raise ValueError(f'level must be "basic" or "full", got {level!r}')


@contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings raised by a student's code (stderr output scores 0 in nbgrader)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------ the stated rules

_INIT_FILE = os.path.join("torch", "nn", "init.py")
_PRELU_KERNELS = frozenset({"prelu", "_prelu_kernel"})
_NO_INIT = (
    "nn.init",
    "torch.nn.init is off limits in this question (the notebook says so): draw the "
    "numbers yourself with weight.normal_(...) or torch.randn under torch.no_grad()",
)

#: The rules a notebook states, per student name: what the answer may not call, and the
#: message a student reads when it does.
STATED_RULES: dict[str, tuple[str, str]] = {
    "xavier_normal_": _NO_INIT,
    "he_normal_": _NO_INIT,
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


# ------------------------------------------------------------------ the course's parts


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


# ------------------------------------------------------------------ observe and judge


def attempt(
    fn: Callable[..., Any], what: str, *args: Any, rules: Sequence[str] = (), **kwargs: Any
) -> tuple[Any, str | None]:
    """Call the student's ``fn``: ``(result, None)``, or ``(None, message)`` when it raised
    or broke a stated rule (``rules``: names of :data:`STATED_RULES` to enforce).

    Examples
    --------
    >>> attempt(int, "int('x')", "x")[1]
    "int('x') raised ValueError: invalid literal for int() with base 10: 'x'"
    """
    try:
        with quiet(), stated_rules(rules) as broken:
            out = fn(*args, **kwargs)
    except NotImplementedError:
        return None, f"{what}: still raises NotImplementedError; write your code first"
    except CheckFailed as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - any error of student code is a failed check
        return None, f"{what} raised {type(exc).__name__}: {exc}"
    if broken:
        return None, f"{what} {broken[0]}"
    return out, None


def failure(case: str, expected: Any, received: Any, hint: str) -> str:
    """The message of a failed case: what, expected, received and a hint."""
    return f"{case}\n  expected: {expected}\n  received: {received}\n  hint: {hint}"


def fmt(values: Any) -> str:
    """Numbers as a short list ``[1, 0.5]``; anything else as its ``repr``."""
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, list | tuple):
        return "[" + ", ".join(f"{float(v):.6g}" for v in values) + "]"
    return repr(values)


def detached(t: Any) -> Any:
    """A tensor result as plain data (a detached CPU copy), anything else as ``None``."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().clone()
    return None


def snapshot(model: nn.Module) -> list[torch.Tensor]:
    """Copies of ``model``'s parameters: taken when a case is built, before any call."""
    return [p.detach().cpu().clone() for p in model.parameters()]


def changed(before: Sequence[torch.Tensor], after: Sequence[Any]) -> bool:
    """True when the parameters ``after`` a call differ from the snapshot ``before``."""
    return len(before) != len(after) or any(
        not isinstance(q, torch.Tensor) or q.shape != p.shape or q.dtype != p.dtype
        or not torch.equal(q, p)
        for p, q in zip(before, after, strict=False)
    )  # fmt: skip


def is_plain(value: Any, depth: int = 0) -> bool:
    """True when ``value`` is an observation: None, bool, int, float, str, a plain tensor,
    or lists and str-keyed dicts of those.

    Examples
    --------
    >>> is_plain({"std": 0.5, "weight": torch.zeros(2), "names": ["1", "3"]})
    True
    >>> is_plain({"model": nn.ReLU()})
    False
    """
    if depth > 20:
        return False
    if value is None or type(value) in (bool, int, float, str):
        return True
    if type(value) is torch.Tensor:
        return not value.requires_grad
    if type(value) is list:
        return all(is_plain(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(type(k) is str and is_plain(v, depth + 1) for k, v in value.items())
    return False


@dataclass(frozen=True)
class TorchCheck:
    """One check: ``cases(name, **params)``, ``observe(obj, cases)``, ``judge(cases, obs)``.

    ``default_name`` names the student's object in messages when it has no ``__name__``.
    ``in_judge``: the steps (``case["step"]``) whose observation is more than what came
    back: ``torch.autograd.gradcheck`` decides from many calls of forward and backward,
    so the clean re-verification runs those cases in the judge, calling the student's
    code through its stand-in, and ships only the others' observations.
    """

    default_name: str
    cases: Callable[..., Cases]
    observe: Callable[[Any, Cases], Observations]
    judge: Callable[[Cases, Observations], str | None]
    in_judge: frozenset[str] = frozenset()


def run_check(check: TorchCheck, obj: Any, **params: Any) -> None:
    """Build the cases, observe ``obj`` on them and judge: raise CheckFailed on a failure."""
    name = getattr(obj, "__name__", check.default_name)
    cases = check.cases(name, **params)
    message = check.judge(cases, check.observe(obj, cases))
    if message is not None:
        raise CheckFailed(message)


def judge_in_order(
    cases: Cases, observations: Observations, one: Callable[[Mapping, Mapping], str | None]
) -> str | None:
    """The first failure of ``one(case, observation)`` over the cases, in order."""
    if len(observations) != len(cases):
        return f"{len(observations)} observations for {len(cases)} cases"
    for case, obs in zip(cases, observations, strict=True):
        if not isinstance(obs, Mapping):
            return f"{case.get('what', 'a case')}: no observation"
        if obs.get("error") is not None:
            return str(obs["error"])
        message = one(case, obs)
        if message is not None:
            return message
    return None
