"""The clean re-verification runs every question of a submission in one sandbox, each in
its own forked process: one question's cells must never reach another, and a question
that hangs or kills its process costs only that question."""

from __future__ import annotations

import shutil
import sys

import pytest
from batteries import battery_for

from relu_course import checks
from relu_course.grading import verify

needs_bwrap = pytest.mark.skipif(
    not sys.platform.startswith("linux") or shutil.which("bwrap") is None,
    reason="needs Linux and bubblewrap (apt-get install bubblewrap)",
)

RELU = "def relu(x):\n    return np.asarray(np.maximum(x, 0), dtype=x.dtype)\n"
# a correct-looking leaky_relu whose cell also sabotages numpy for everyone after it
SABOTAGE = (
    "np.maximum = lambda *a, **k: 0\n"
    "def leaky_relu(x, negative_slope=0.01):\n"
    "    return np.where(x > 0, x, negative_slope * x).astype(x.dtype)\n"
)


def _passes(observations, cases) -> bool:
    return observations is not None and all(
        checks.judge(c, o) is None for c, o in zip(cases, observations, strict=True)
    )


def test_battery_for_names_each_function():
    assert len(battery_for("relu_grad")) > 10 and battery_for("relu_grad")[0].grad
    assert battery_for("numerical_grad")[0].name == "numerical_grad"
    assert battery_for("train_model") is None


@needs_bwrap
def test_questions_do_not_see_each_other(monkeypatch):
    relu_cases = battery_for("relu")
    leaky_cases = battery_for("leaky_relu")
    (leaky_obs, _), (relu_obs, relu_note) = verify.observe_clean_batch(
        [("leaky_relu", [SABOTAGE], leaky_cases), ("relu", [RELU], relu_cases)]
    )
    assert _passes(leaky_obs, leaky_cases)
    # the sabotage ran first in the same sandbox, but in another process
    assert _passes(relu_obs, relu_cases), relu_note


@needs_bwrap
def test_a_hanging_or_dying_question_costs_only_itself(monkeypatch):
    monkeypatch.setattr(verify, "JOB_SECONDS", 3)
    cases = battery_for("relu")
    hang = "def relu(x):\n    while True:\n        pass\n"
    die = "import os\ndef relu(x):\n    os._exit(3)\n"
    results = verify.observe_clean_batch(
        [("relu", [hang], cases), ("relu", [die], cases), ("relu", [RELU], cases)]
    )
    (hang_obs, hang_note), (die_obs, die_note), (ok_obs, ok_note) = results
    assert hang_obs is None and "longer than 3" in hang_note
    assert die_obs is None and "died without an answer" in die_note
    assert _passes(ok_obs, cases), ok_note
