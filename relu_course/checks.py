"""Student self-checks: the single source of truth for grading the NumPy exercises.

A check has three steps, kept apart so that a grader can run the student's code in one
(sandboxed) process and judge it in another, clean one:

1. :func:`battery` builds the :class:`Case` list (reference name, input, parameters);
2. :func:`observe` runs the student's function on a copy of a case's input and records
   what came back as plain data (an :class:`Observation`; ``to_dict`` / ``from_dict``);
3. :func:`judge` compares an observation with the reference (:mod:`relu_course.activations`)
   and returns ``None`` or a short teaching message with a hint.

:func:`check_activation` and :func:`check_numerical_grad` run the three steps in one
process and raise :class:`CheckFailed` with the first failure.

For ``"gelu"`` the reference is the **tanh approximation** (PyTorch ``approximate="tanh"``),
which is what the exercises ask for; ``"gelu_exact"`` checks the erf form.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from relu_course import activations as _act

__all__ = [
    "NUMGRAD_FUNCTIONS",
    "Case",
    "CheckFailed",
    "Observation",
    "battery",
    "check_activation",
    "check_numerical_grad",
    "judge",
    "observe",
]

Level = Literal["basic", "full"]

# Reference names a check accepts, mapped to the registry entry that computes them.
_REFERENCES = {name: name for name in _act.ACTIVATIONS} | {
    "gelu": "gelu_tanh",
    "gelu_exact": "gelu",
}
# Parameters a student's function takes (passed by keyword) and their non-default values.
_PARAM_VARIANTS: dict[str, list[dict[str, Any]]] = {
    "leaky_relu": [{"negative_slope": 2.5}, {"negative_slope": 0.2}],
    "elu": [{"alpha": 0.3}, {"alpha": 2.5}],
    "celu": [{"alpha": 0.3}, {"alpha": 2.5}],
    "softplus": [{"beta": 2.0, "threshold": 5.0}],
    "rrelu": [{"lower": 0.1, "upper": 0.3}],
    "prelu": [{"weight": 1.7}],
}
_REQUIRED_PARAMS = {"prelu": {"weight": 0.25}}
_EXTRA_KINKS = {"relu6": [6.0, 5.9, 6.1], "hardswish": [-3.0, 3.0, -2.9, 2.9]}
_TOL = {"float64": (1e-7, 1e-9), "float32": (1e-5, 1e-6)}  # (rtol, atol)


class CheckFailed(AssertionError):
    """A student's function disagrees with the reference; the message says where and why."""


# ----------------------------------------------------------------------------- Case


@dataclass(frozen=True, eq=False)
class Case:
    """One input for one checked function.

    ``name`` is a reference name (``"relu"``, ``"gelu"`` = tanh form, ...) or
    ``"numerical_grad"``; ``params`` are passed to the student's function by keyword
    (for ``numerical_grad``: ``f`` names a function in :data:`NUMGRAD_FUNCTIONS`, ``eps``
    is passed only when not ``None``).
    """

    name: str
    x: np.ndarray
    grad: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def function(self) -> str:
        """The student's function name, e.g. ``relu_grad``."""
        return self.name + ("_grad" if self.grad else "")

    def describe(self) -> str:
        """A one-line description: call, input (abbreviated), dtype and shape."""
        args = "".join(f", {k}={v!r}" for k, v in self.params.items() if k != "f")
        if self.name == "numerical_grad":
            args = f"f={self.params['f']}, x" + (
                f", eps={self.params['eps']}" if self.params.get("eps") is not None else ""
            )
            call = f"numerical_grad({args})"
        else:
            call = f"{self.function}(x{args})"
        return f"{call} with x = {_short(self.x)} ({self.x.dtype}, shape {self.x.shape})"

    def to_dict(self) -> dict[str, Any]:
        """Plain data (str, bool, list, bytes) that :meth:`from_dict` turns back into the Case."""
        return {
            "name": self.name,
            "grad": self.grad,
            "params": dict(self.params),
            "label": self.label,
            "x": _array_to_dict(self.x),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Case:
        """Rebuild a Case from :meth:`to_dict`'s output."""
        x = _array_from_dict(data["x"])
        return cls(data["name"], x, bool(data["grad"]), dict(data["params"]), data["label"])


def _short(x: np.ndarray) -> str:
    return np.array2string(x, precision=6, threshold=8, edgeitems=3, separator=", ")


def _array_to_dict(a: np.ndarray) -> dict[str, Any]:
    return {"dtype": str(a.dtype), "shape": list(a.shape), "bytes": a.tobytes()}


def _array_from_dict(d: Mapping[str, Any]) -> np.ndarray:
    return np.frombuffer(d["bytes"], dtype=np.dtype(d["dtype"])).reshape(d["shape"]).copy()


# ----------------------------------------------------------------------------- battery


def battery(
    name: str, *, grad: bool = False, level: Level = "basic", params: dict | None = None
) -> list[Case]:
    """The cases for ``name`` (or ``name_grad`` with ``grad=True``).

    ``"basic"`` (visible tests): small teaching inputs, and one case of every clause of
    the contract: a non-default parameter, +-1e4, float32, a 0-d and an empty input.
    ``"full"`` (hidden tests): the same, plus more inputs of each kind: kinks, large
    magnitudes, float32 and float64, 0-d/empty/3-d shapes, every parameter variant and
    seeded random inputs. ``params`` fixes the parameters of every case instead.

    Examples
    --------
    >>> [c.label for c in battery("relu")]  # doctest: +NORMALIZE_WHITESPACE
    ['teaching values', 'around the kink', 'large magnitudes', 'teaching values (float32)',
     '0-d array', '0-d array (float32)', 'empty array']
    >>> [c.label for c in battery("leaky_relu")][2]
    'teaching values with negative_slope=2.5'
    """
    if name == "numerical_grad":
        return _numgrad_battery(level)
    if name not in _REFERENCES:
        raise ValueError(f"no reference for {name!r}; choose one of {sorted(_REFERENCES)}")
    if level not in ("basic", "full"):
        raise ValueError(f"level must be 'basic' or 'full', got {level!r}")
    required = _REQUIRED_PARAMS.get(name, {})
    default = required | (params or {})
    variants = [required | p for p in _PARAM_VARIANTS.get(name, [])] if params is None else []
    note = {id(p): _param_note(p, required) for p in [default, *variants]}
    # Order matters: the first failure is the one reported, so the cases that best show
    # a mistake come first (float64 values, then parameters), form checks (dtype, 0-d) last.
    rows = [(default, label, x) for label, x in _inputs(name, "basic")]
    # Every clause of the contract has a visible case: a non-default parameter, large
    # magnitudes, float32, 0-d and empty inputs. The full battery only adds inputs.
    rows += [(p, label, x) for p in variants[:1] for label, x in _inputs(name, "basic")[:1]]
    rows += [(default, label, x) for label, x in _inputs(name, "visible")]
    if level == "full":
        for p in [default, *variants]:
            rows += [(p, label, x) for label, x in _inputs(name, "values")]
        for p in [default, *variants]:
            rows += [(p, label, x) for label, x in _inputs(name, "float32")]
        rows += [(default, label, x) for label, x in _inputs(name, "shapes")]
    return [Case(name, x, grad, p, label + note[id(p)]) for p, label, x in rows]


def _param_note(p: Mapping[str, Any], required: Mapping[str, Any]) -> str:
    extra = {k: v for k, v in p.items() if required.get(k) != v}
    return "" if not extra else " with " + ", ".join(f"{k}={v}" for k, v in extra.items())


def _inputs(name: str, group: str) -> list[tuple[str, np.ndarray]]:
    """Inputs of one group: "basic", "values" (float64), "float32" or "shapes"."""
    extra = _EXTRA_KINKS.get(name, [])
    kinks = [-2.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.5, 1.0, 2.0, *extra]
    large = [1e4, -1e4, 1000.0, -1000.0, 100.0, -100.0, 89.0, -89.0, 30.0, -30.0, 17.0]
    rng = np.random.default_rng(20240601)
    if group == "basic":
        return [
            ("teaching values", np.array([-2.0, -0.5, 0.5, 2.0])),
            ("around the kink", np.array([-1.0, 0.0, 1.0, *extra])),
        ]
    if group == "visible":
        return [
            ("large magnitudes", np.array([-1e4, -1000.0, 1000.0, 1e4])),
            ("teaching values (float32)", np.array([-2.0, -0.5, 0.5, 2.0], dtype=np.float32)),
            ("0-d array", np.array(-1.5)),
            ("0-d array (float32)", np.array(0.75, dtype=np.float32)),
            ("empty array", np.zeros((0,))),
        ]
    if group == "values":
        return [
            ("kinks", np.array(kinks)),
            ("large magnitudes", np.array(large)),
            ("random 3-d", rng.standard_normal((2, 3, 4)) * 3),
            ("grid", np.linspace(-8.0, 8.0, 33)),
        ]
    if group == "float32":
        return [
            ("kinks (float32)", np.array(kinks, dtype=np.float32)),
            ("large magnitudes (float32)", np.array(large, dtype=np.float32)),
            ("random 3-d (float32)", (rng.standard_normal((3, 2, 2)) * 3).astype(np.float32)),
        ]
    return [
        ("0-d array", np.array(-1.5)),
        ("0-d array (float32)", np.array(0.75, dtype=np.float32)),
        ("empty array", np.zeros((0,))),
        ("empty 3-d array (float32)", np.zeros((2, 0, 3), dtype=np.float32)),
    ]


# ----------------------------------------------------------------------------- numerical_grad


def _cube_sum(x: np.ndarray) -> float:
    return float(np.sum(x**3))


def _sum_squared(x: np.ndarray) -> float:
    return float(np.sum(x) ** 2)


def _sin_sum(x: np.ndarray) -> float:
    return float(np.sum(np.sin(x)))


# name -> (f, exact central difference with step h)
NUMGRAD_FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], float], Callable[..., np.ndarray]]] = {
    "cube_sum": (_cube_sum, lambda x, h: 3 * x**2 + h**2),  # (x+h)^3-(x-h)^3 = 6x^2h+2h^3
    "sum_squared": (_sum_squared, lambda x, h: np.full_like(x, 2 * np.sum(x))),  # exact
    "sin_sum": (_sin_sum, lambda x, h: np.cos(x) * (np.sin(h) / h)),  # sin(x+h)-sin(x-h)
}
_DEFAULT_EPS = 1e-6


def _numgrad_battery(level: Level) -> list[Case]:
    def case(label: str, f: str, x: np.ndarray, eps: float | None) -> Case:
        return Case("numerical_grad", x, False, {"f": f, "eps": eps}, label)

    rng = np.random.default_rng(7)
    cases = [
        case("sum of sin", "sin_sum", np.array([0.0, 0.5, 1.0, 2.0]), None),
        case("sum of cubes, eps=0.1", "cube_sum", np.array([-1.0, 0.5, 2.0]), 0.1),
        case("(sum of x)^2, 2-d", "sum_squared", rng.standard_normal((2, 3)), None),
        case("0-d", "cube_sum", np.array(1.5), 0.1),
    ]
    if level == "full":
        cases += [
            case("sum of cubes, 2-d, eps=1e-3", "cube_sum", rng.standard_normal((3, 2)) * 3, 1e-3),
            case("sum of sin, 3-d, eps=0.5", "sin_sum", rng.standard_normal((2, 2, 2)), 0.5),
            case("(sum of x)^2, 0-d", "sum_squared", np.array(-0.5), None),
        ]
    return cases


# ----------------------------------------------------------------------------- observe


@dataclass(frozen=True)
class Observation:
    """What a student's function did on one case, as plain data.

    ``error`` is ``"TypeName: message"`` if it raised; ``type_name`` is the qualified type
    of the returned object; ``data`` is a plain ndarray copy of it (for an ndarray or
    anything NumPy converts to numbers), else ``None``; ``mutated`` says whether the
    function changed its input.
    """

    error: str | None = None
    type_name: str = ""
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    data: np.ndarray | None = None
    mutated: bool = False
    n_warnings: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain data: str, int, bool, list and bytes only."""
        return {
            "error": self.error,
            "type_name": self.type_name,
            "dtype": self.dtype,
            "shape": None if self.shape is None else list(self.shape),
            "data": None if self.data is None else _array_to_dict(self.data),
            "mutated": self.mutated,
            "n_warnings": self.n_warnings,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Observation:
        """Rebuild from :meth:`to_dict`'s output."""
        return cls(
            error=d["error"],
            type_name=d["type_name"],
            dtype=d["dtype"],
            shape=None if d["shape"] is None else tuple(int(s) for s in d["shape"]),
            data=None if d["data"] is None else _array_from_dict(d["data"]),
            mutated=bool(d["mutated"]),
            n_warnings=int(d["n_warnings"]),
        )


def observe(fn: Callable[..., Any], case: Case) -> Observation:
    """Call the student's ``fn`` on a copy of ``case.x`` and record what happened.

    Warnings are caught and NumPy floating-point errors ignored, so a correct function
    that overflows in ``np.exp`` prints nothing.
    """
    x = case.x.copy()
    args: tuple[Any, ...] = (x,)
    kwargs = dict(case.params)
    if case.name == "numerical_grad":
        eps = kwargs.pop("eps")
        args = (NUMGRAD_FUNCTIONS[kwargs.pop("f")][0], x)
        kwargs = {} if eps is None else {"eps": eps}
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
        warnings.simplefilter("always")
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any student error is reported, not raised
            return Observation(error=f"{type(exc).__name__}: {exc}"[:500], n_warnings=len(caught))
    kind = type(result)
    mutated = not (x.shape == case.x.shape and np.array_equal(x, case.x, equal_nan=True))
    return Observation(
        type_name=f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins."),
        dtype=str(result.dtype) if isinstance(result, (np.ndarray, np.generic)) else None,
        shape=tuple(np.shape(result)) if isinstance(result, np.ndarray) else None,
        data=_plain_copy(result),
        mutated=mutated,
        n_warnings=len(caught),
    )


def _plain_copy(result: Any) -> np.ndarray | None:
    """A plain numeric ndarray copy of result, or None when it is not numbers."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = np.array(result, copy=True, subok=False)
    except Exception:  # noqa: BLE001
        return None
    return data if data.dtype.kind in "biuf" else None


# ----------------------------------------------------------------------------- judge


def _reference(case: Case) -> np.ndarray:
    if case.name == "numerical_grad":
        eps = case.params.get("eps")
        h = _DEFAULT_EPS if eps is None else eps
        return NUMGRAD_FUNCTIONS[case.params["f"]][1](case.x, h)
    act = _act.get(_REFERENCES[case.name])
    fn = act.grad if case.grad else act.fn
    return fn(case.x, **(act.params | dict(case.params)))


def _tolerance(case: Case) -> tuple[float, float]:
    if case.name == "numerical_grad":
        return (1e-9, 1e-9) if case.params.get("eps") is not None else (1e-6, 1e-6)
    return _TOL[str(case.x.dtype)]


def judge(case: Case, obs: Observation) -> str | None:
    """``None`` if the observation is correct for the case, else a short teaching message."""
    head = f"{case.describe()} [{case.label}]\n"
    problem = _judge_form(case, obs)
    if problem is None:
        problem = _judge_values(case, obs)
    return None if problem is None else head + problem


def _judge_form(case: Case, obs: Observation) -> str | None:
    want_dtype = "float64" if case.name == "numerical_grad" else str(case.x.dtype)
    if obs.error is not None:
        return f"raised {obs.error}\nHINT: the function must accept this input ({case.label})."
    if obs.mutated:
        return (
            "the input array was modified in place\n"
            "HINT: work on a copy (x.copy()) or build a new array; leave x unchanged."
        )
    if obs.type_name != "numpy.ndarray" and not _numpy_scalar_for_0d(case, obs):
        return f"returned a {obs.type_name}\nHINT: {_type_hint(case, obs)}"
    shape = obs.shape if obs.type_name == "numpy.ndarray" else ()
    if shape != case.x.shape:
        flat = shape == (case.x.size,)
        hint = "returned a flattened array: reshape to x.shape" if flat else "keep x's shape"
        return f"shape changed from {case.x.shape} to {shape}\nHINT: {hint}."
    if case.name != "numerical_grad" and obs.dtype != want_dtype:
        hint = "keep x's dtype, e.g. return result.astype(x.dtype)"
        if obs.dtype is not None and obs.dtype[0] in "bui":
            hint = "comparisons like (x > 0) give booleans/integers: convert with .astype(x.dtype)"
        return f"dtype changed from {want_dtype} to {obs.dtype}\nHINT: {hint}."
    return None


def _numpy_scalar_for_0d(case: Case, obs: Observation) -> bool:
    """True for a NumPy scalar (np.float64, np.float32, ...) returned for a 0-d input.

    NumPy's ufuncs and arithmetic turn a 0-d array into such a scalar
    (``np.maximum(np.array(2.0), 0)`` is an ``np.float64``), so the contract accepts it;
    its dtype is then checked like an array's.
    """
    return (
        case.x.ndim == 0
        and obs.dtype is not None
        and obs.type_name == f"numpy.{obs.dtype}"
        and obs.data is not None
        and obs.data.shape == ()
    )


def _type_hint(case: Case, obs: Observation) -> str:
    if obs.type_name in ("list", "tuple"):
        return f"returned a {obs.type_name}; return np.ndarray (use NumPy operations on x)."
    if obs.type_name.startswith("numpy.") or obs.type_name in ("float", "int"):
        if case.x.ndim == 0:
            return (
                "for a 0-d input return a 0-d np.ndarray or a NumPy scalar of x's dtype "
                "(what NumPy's own functions return), not a Python number: e.g. "
                "np.asarray(result, dtype=x.dtype)."
            )
        return "a scalar came back for an array input: return an np.ndarray of x's shape."
    if obs.data is not None:
        return (
            "returned an ndarray subclass or other object; return a plain np.ndarray (np.asarray)."
        )
    return "return an np.ndarray of x's shape and dtype."


def _judge_values(case: Case, obs: Observation) -> str | None:
    expected = _reference(case)
    got = obs.data
    assert got is not None
    got = got.astype(np.float64)
    exp64 = expected.astype(np.float64)
    rtol, atol = _tolerance(case)
    with np.errstate(all="ignore"):
        bad = ~np.isclose(got, exp64, rtol=rtol, atol=atol)
    if not bad.any():
        return None
    i = np.unravel_index(int(np.argmax(bad)), bad.shape) if bad.ndim else ()
    where = f"at index {tuple(int(k) for k in i)}"
    if case.name != "numerical_grad":
        where = f"at x = {float(case.x[i])!r}"
    lines = [
        f"{int(bad.sum())} of {bad.size} values wrong; first {where}:",
        f"  expected {float(exp64[i])!r}",
        f"  received {float(got[i])!r}",
    ]
    hint = _hint(case, expected, got, bad)
    if hint:
        lines.append(f"HINT: {hint}")
    return "\n".join(lines)


def _hint(case: Case, expected: np.ndarray, got: np.ndarray, bad: np.ndarray) -> str | None:
    x = case.x.astype(np.float64)
    if np.any(~np.isfinite(got[bad]) & np.isfinite(expected[bad])):
        return (
            "overflow: got inf/nan where the answer is finite (e.g. np.exp(1000) is inf, "
            "inf/inf and 0*inf are nan): use a numerically stable form."
        )
    if case.name == "numerical_grad":
        return _numgrad_hint(case, got)
    kinks = [0.0, *_EXTRA_KINKS.get(case.name, [])]
    if np.all(np.isin(x[bad], kinks)):
        k = float(x[bad][0])
        what = "derivative" if case.grad else "value"
        side = " (PyTorch takes the negative-side branch)" if case.grad else ""
        return f"at x={k:g} the {what} should be {float(expected[bad][0]):g}{side}."
    for label, alt in _alternatives(case):
        with np.errstate(all="ignore"):
            if np.allclose(got, alt.astype(np.float64), rtol=1e-6, atol=1e-8, equal_nan=True):
                return label
    if np.max(np.abs(got[bad] - expected[bad])) < 1e-3 and case.name.startswith("gelu"):
        return "close but not equal: check the constants sqrt(2/pi) = 0.7978845608 and 0.044715."
    return None


def _alternatives(case: Case) -> list[tuple[str, np.ndarray]]:
    """Outputs of plausible mistakes, each with its hint."""
    x, p = case.x, dict(case.params)
    act = _act.get(_REFERENCES[case.name])
    other = act.fn if case.grad else act.grad
    out = [
        (
            f"this matches {'the function itself' if case.grad else 'its derivative'}, "
            f"not {case.function}.",
            other(x, **(act.params | p)),
        )
    ]
    a = p.get("negative_slope", act.params.get("negative_slope"))
    if case.name == "leaky_relu":
        if not case.grad:
            out.append(("np.maximum(a*x, x) is Leaky ReLU only when a <= 1.", np.maximum(a * x, x)))
        pos = np.where(x > 0, a * x, x) if not case.grad else np.where(x > 0, a, 1.0)
        out.append(("slope applied to the positive side?", pos))
        if a != 0.01:
            out.append(
                (
                    "negative_slope ignored? (matches the default slope 0.01)",
                    _act_call(act, case, {"negative_slope": 0.01}),
                )
            )
    if case.name in ("elu", "celu") and p.get("alpha", 1.0) != 1.0:
        out.append(
            ("alpha dropped from the negative branch?", _act_call(act, case, {"alpha": 1.0}))
        )
    if case.name == "gelu":
        exact = _act.gelu_grad if case.grad else _act.gelu
        out.append(
            (
                "this is the exact (erf) GELU; the exercise asks for the tanh approximation.",
                exact(x),
            )
        )
    return out


def _act_call(act: _act.Activation, case: Case, override: dict[str, Any]) -> np.ndarray:
    fn = act.grad if case.grad else act.fn
    return fn(case.x, **(act.params | dict(case.params) | override))


def _numgrad_hint(case: Case, got: np.ndarray) -> str | None:
    f, _ = NUMGRAD_FUNCTIONS[case.params["f"]]
    eps = case.params.get("eps") or _DEFAULT_EPS
    x = case.x.astype(np.float64)
    forward = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp = x.copy()
        xp[i] += eps
        forward[i] = (f(xp) - f(x)) / eps
    together = np.full_like(x, (f(x + eps) - f(x - eps)) / (2 * eps))
    default = NUMGRAD_FUNCTIONS[case.params["f"]][1](x, _DEFAULT_EPS)
    for label, alt in [
        ("forward difference? use central differences (f(x+eps) - f(x-eps)) / (2*eps).", forward),
        ("all elements perturbed at once? perturb one element at a time.", together),
        ("eps ignored? use the eps argument.", default),
    ]:
        if np.allclose(got, alt, rtol=1e-6, atol=1e-8):
            return label
    return None


# ----------------------------------------------------------------------------- checks


def _run(fn: Callable[..., Any], cases: list[Case]) -> None:
    failures = [m for m in (judge(c, observe(fn, c)) for c in cases) if m is not None]
    if failures:
        more = f"\n({len(failures)} of {len(cases)} checks failed)" if len(failures) > 1 else ""
        raise CheckFailed(failures[0] + more)


def check_activation(
    fn: Callable[..., Any], name: str, *, grad: bool = False, level: Level = "basic", **params: Any
) -> None:
    """Check a student's activation (or its derivative with ``grad=True``) against the reference.

    Raises :class:`CheckFailed` with the first failing case (input, expected, received
    and a hint) and the number of failures; returns ``None`` and prints nothing on success.

    Examples
    --------
    >>> from relu_course.activations import relu  # the course's reference: it passes
    >>> check_activation(relu, "relu", level="full")
    >>> try:
    ...     check_activation(lambda x: (x >= 0).astype(x.dtype), "relu", grad=True)
    ... except CheckFailed as failure:
    ...     print(failure)
    relu_grad(x) with x = [-1., 0., 1.] (float64, shape (3,)) [around the kink]
    1 of 3 values wrong; first at x = 0.0:
      expected 0.0
      received 1.0
    HINT: at x=0 the derivative should be 0 (PyTorch takes the negative-side branch).
    """
    _run(fn, battery(name, grad=grad, level=level, params=params or None))


def check_numerical_grad(numerical_grad: Callable[..., Any], *, level: Level = "basic") -> None:
    """Check a student's ``numerical_grad(f, x, eps=1e-6)`` (central differences).

    Examples
    --------
    >>> def forward_difference(f, x, eps=1e-6):
    ...     g = np.zeros_like(x)
    ...     for i in np.ndindex(x.shape):
    ...         step = np.zeros_like(x)
    ...         step[i] = eps
    ...         g[i] = (f(x + step) - f(x)) / eps
    ...     return g
    >>> try:
    ...     check_numerical_grad(forward_difference)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[-2])
    HINT: forward difference? use central differences (f(x+eps) - f(x-eps)) / (2*eps).
    """
    _run(numerical_grad, battery("numerical_grad", level=level))
