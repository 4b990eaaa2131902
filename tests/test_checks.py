"""relu_course.checks: every wrong ps1 variant is rejected, every correct one passes.

The corpora live in tests/corpus_ps1.py so that the assignment tests can reuse them.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
from corpus_ps1 import CORRECT, WRONG, load

from relu_course import activations as A
from relu_course.checks import (
    Case,
    CheckFailed,
    Observation,
    battery,
    check_activation,
    check_numerical_grad,
    judge,
    observe,
)

PS1 = [
    "relu", "relu_grad", "leaky_relu", "leaky_relu_grad", "elu", "elu_grad", "sigmoid",
    "sigmoid_grad", "gelu", "gelu_grad", "numerical_grad",
]  # fmt: skip


def run_check(function: str, fn, level: str = "full") -> None:
    if function == "numerical_grad":
        check_numerical_grad(fn, level=level)
    else:
        name = function.removesuffix("_grad")
        check_activation(fn, name, grad=function.endswith("_grad"), level=level)


def test_corpus_is_big_enough() -> None:
    assert set(WRONG) == set(CORRECT) == set(PS1)
    for function in PS1:
        assert len(WRONG[function]) >= 5, function
        assert len(CORRECT[function]) >= 4, function


@pytest.mark.parametrize(
    ("function", "label", "source"),
    [(f, label, src) for f in PS1 for label, src in WRONG[f]],
    ids=[f"{f}:{label}" for f in PS1 for label, _ in WRONG[f]],
)
def test_wrong_variants_are_rejected(function: str, label: str, source: str) -> None:
    with pytest.raises(CheckFailed) as info:
        run_check(function, load(function, source))
    message = str(info.value)
    assert "HINT" in message or "expected" in message, message


@pytest.mark.parametrize(
    ("function", "label", "source"),
    [(f, label, src) for f in PS1 for label, src in CORRECT[f]],
    ids=[f"{f}:{label}" for f in PS1 for label, _ in CORRECT[f]],
)
def test_correct_variants_pass_silently(function: str, label: str, source: str) -> None:
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning escaping the check would print on stderr
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            run_check(function, load(function, source))
    assert err.getvalue() == "" and out.getvalue() == ""


# Hints name the likely mistake (the exact wording students see).
HINTS = [
    ("relu_grad", "grad at 0 is 1", "should be 0 (PyTorch takes the negative-side branch)"),
    ("relu_grad", "grad at 0 is 0.5", "at x=0 the derivative should be 0"),
    ("relu", "mutates the input", "the input array was modified in place"),
    ("relu", "returns a list", "returned a list"),
    ("relu", "Python float for 0-d input", "a NumPy scalar of x's dtype"),
    ("relu", "float64 scalar for 0-d float32 input", "dtype changed from float32 to float64"),
    ("relu_grad", "int dtype for 0-d input", "not a Python number"),
    ("relu", "ndarray subclass", "plain np.ndarray"),
    ("relu", "float64 for float32 input", "dtype changed from float32 to float64"),
    ("relu", "int dtype out", "dtype changed from float64 to int64"),
    ("relu_grad", "bool dtype", "convert with .astype(x.dtype)"),
    ("leaky_relu", "slope ignored", "negative_slope ignored?"),
    ("leaky_relu", "maximum(a*x, x)", "np.maximum(a*x, x) is Leaky ReLU only when a <= 1"),
    ("leaky_relu", "slope on the positive side", "slope applied to the positive side?"),
    ("elu", "alpha dropped", "alpha dropped from the negative branch?"),
    ("elu", "0*inf is nan", "overflow"),
    ("sigmoid", "exp(x)/(1+exp(x)) is nan at 1000", "use a numerically stable form"),
    ("sigmoid_grad", "returns sigmoid", "this matches the function itself"),
    ("gelu", "exact GELU instead of tanh", "the exercise asks for the tanh approximation"),
    ("gelu", "constant 0.04475", "check the constants"),
    ("numerical_grad", "forward difference", "use central differences"),
    ("numerical_grad", "all elements at once", "perturb one element at a time"),
    ("numerical_grad", "flattened output", "returned a flattened array"),
    ("numerical_grad", "x not restored", "the input array was modified in place"),
    ("numerical_grad", "eps ignored", "eps ignored?"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("function", "label", "hint"), HINTS, ids=[f"{f}:{lb}" for f, lb, _ in HINTS]
)
def test_hint_names_the_mistake(function: str, label: str, hint: str) -> None:
    source = dict(WRONG[function])[label]
    with pytest.raises(CheckFailed) as info:
        run_check(function, load(function, source))
    assert hint in str(info.value), str(info.value)


def test_failure_message_shows_input_expected_received_and_count() -> None:
    with pytest.raises(CheckFailed) as info:
        check_activation(lambda x: np.abs(x), "relu", level="full")
    message = str(info.value)
    assert message.startswith("relu(x) with x = ")
    assert "expected" in message and "received" in message
    assert "checks failed)" in message  # several cases fail; the count is reported


def test_basic_level_shows_every_clause_of_the_contract() -> None:
    """The visible battery holds a case of every rule; the full one only adds inputs."""
    cases = battery("leaky_relu", level="basic")
    assert all(c.x.size <= 8 for c in cases)
    assert {c.params.get("negative_slope") for c in cases} == {None, 2.5}
    assert {c.x.dtype for c in cases} == {np.dtype(np.float32), np.dtype(np.float64)}
    assert {c.x.ndim for c in cases} == {0, 1} and any(c.x.size == 0 for c in cases)
    assert any(np.abs(c.x).max(initial=0) == 1e4 for c in cases)
    full = battery("leaky_relu", level="full")
    slopes = {c.params.get("negative_slope") for c in full}
    assert {2.5, 0.2, None} <= slopes
    assert {c.x.ndim for c in full} >= {0, 1, 3}


def _key(case: Case) -> tuple:
    return (case.label, tuple(sorted(case.params.items())), case.x.dtype.str, case.x.tobytes())


@pytest.mark.parametrize("name", [*sorted(A.ACTIVATIONS), "gelu", "numerical_grad"])
def test_hidden_battery_only_adds_inputs(name: str) -> None:
    for grad in [False] if name == "numerical_grad" else [False, True]:
        basic = {_key(c) for c in battery(name, grad=grad, level="basic")}
        full = {_key(c) for c in battery(name, grad=grad, level="full")}
        assert basic <= full, sorted(k[0] for k in basic - full)


# The textbook answers: NumPy scalars for 0-d input, a warning at -1e4, full marks.
TEXTBOOK = [
    ("relu", False, lambda x: np.maximum(x, 0)),
    ("relu", False, lambda x: x * (x > 0)),
    ("relu", True, lambda x: (x > 0).astype(x.dtype)),
    ("sigmoid", False, lambda x: 1 / (1 + np.exp(-x))),
]


@pytest.mark.parametrize(("name", "grad", "fn"), TEXTBOOK)
def test_textbook_answers_pass_the_full_check(name: str, grad: bool, fn) -> None:
    assert type(fn(np.array(0.5, dtype=np.float32))) is np.float32  # a NumPy scalar
    check_activation(fn, name, grad=grad, level="full")


def test_a_numpy_scalar_must_still_have_the_inputs_dtype() -> None:
    case = next(c for c in battery("relu") if c.label == "0-d array (float32)")
    good = observe(lambda x: np.maximum(x, 0), case)
    assert good.type_name == "numpy.float32" and judge(case, good) is None
    wrong = observe(lambda x: np.float64(np.maximum(x, 0)), case)
    assert "dtype changed from float32 to float64" in judge(case, wrong)
    array_case = battery("relu")[0]
    scalar = observe(lambda x: np.float64(x.sum()), array_case)
    assert "a scalar came back for an array input" in judge(array_case, scalar)


def test_explicit_params_are_passed_to_the_students_function() -> None:
    check_activation(lambda x, alpha=1.0: A.elu(x, alpha), "elu", level="full", alpha=0.7)
    with pytest.raises(CheckFailed, match="alpha dropped"):
        check_activation(lambda x, alpha=1.0: A.elu(x), "elu", level="full", alpha=0.7)


@pytest.mark.parametrize("name", sorted(A.ACTIVATIONS))
@pytest.mark.parametrize("grad", [False, True])
def test_reference_passes_its_own_full_battery(name: str, grad: bool) -> None:
    act = A.get("gelu_tanh" if name == "gelu" else name)
    fn = act.grad if grad else act.fn
    check_activation(lambda x, **kw: fn(x, **(act.params | kw)), name, grad=grad, level="full")


def test_gelu_exact_reference_is_available() -> None:
    check_activation(A.gelu, "gelu_exact", level="full")
    with pytest.raises(CheckFailed):
        check_activation(A.gelu, "gelu", level="full")


def test_unknown_name_and_level() -> None:
    with pytest.raises(ValueError, match="no reference for 'relu7'"):
        battery("relu7")
    with pytest.raises(ValueError, match="level must be"):
        battery("relu", level="hidden")


def test_case_and_observation_round_trip_as_plain_data() -> None:
    """The judge can run in another process: everything crosses as plain data."""
    wrong = load("elu", dict(WRONG["elu"])["alpha dropped"])
    plain = (str, int, float, bool, bytes, type(None))

    def is_plain(v) -> bool:
        if isinstance(v, dict):
            return all(isinstance(k, str) and is_plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(is_plain(x) for x in v)
        return isinstance(v, plain)

    verdicts = []
    for case in battery("elu", level="full"):
        obs = observe(wrong, case)
        case_d, obs_d = case.to_dict(), obs.to_dict()
        assert is_plain(case_d) and is_plain(obs_d)
        case2, obs2 = Case.from_dict(case_d), Observation.from_dict(obs_d)
        assert case2.describe() == case.describe()
        np.testing.assert_array_equal(case2.x, case.x)
        assert case2.x.dtype == case.x.dtype and case2.x.shape == case.x.shape
        verdicts.append((judge(case, obs), judge(case2, obs2)))
    assert all(a == b for a, b in verdicts)
    assert any(a is not None for a, _ in verdicts)


def test_observe_records_errors_types_and_mutation() -> None:
    case = battery("relu", level="basic")[0]

    def boom(x):
        raise ZeroDivisionError("nope")

    obs = observe(boom, case)
    assert obs.error == "ZeroDivisionError: nope" and "raised ZeroDivisionError" in judge(case, obs)

    def mutate(x):
        x[:] = 0
        return x

    assert observe(mutate, case).mutated
    assert observe(lambda x: x.tolist(), case).type_name == "list"
    obs = observe(lambda x: np.where(x > 0, x, 0.0), case)
    assert obs.type_name == "numpy.ndarray" and obs.dtype == "float64" and not obs.mutated
    assert judge(case, obs) is None
    np.testing.assert_array_equal(case.x, [-2.0, -0.5, 0.5, 2.0])  # the case itself is untouched


def test_observe_silences_overflow_warnings() -> None:
    case = next(c for c in battery("sigmoid", level="full") if c.label == "large magnitudes")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        obs = observe(lambda x: np.asarray(1 / (1 + np.exp(-x))), case)
    assert obs.n_warnings == 0 and judge(case, obs) is None  # errstate: nothing emitted


def test_no_docstring_example_is_a_graded_answer() -> None:
    """``help()`` on the helpers never prints a complete answer to a graded question."""
    import doctest
    import re

    from relu_course import checks, checks_dormant, checks_torch

    graded = [*PS1, "xavier_normal_", "he_normal_", "build_mlp", "grad_norm_per_layer",
              "dead_fraction_per_layer", "rescue_recipe", "reset_dormant_units",
              "LeakyReLUFunction", "PReLU", "train_digits_model"]  # fmt: skip
    defines = re.compile(r"^\s*(?:def|class) (" + "|".join(map(re.escape, graded)) + r")\b", re.M)
    for module in (checks, checks_torch, checks_dormant):
        for test in doctest.DocTestFinder().find(module):
            source = "".join(example.source for example in test.examples)
            assert not defines.search(source), f"{test.name} defines {defines.search(source)[1]}"
            assert "F.prelu(" not in source, f"{test.name} uses the forbidden F.prelu"
            assert '"prelu", "bias_init": 0.0' not in source, f"{test.name}: a rescue recipe"
