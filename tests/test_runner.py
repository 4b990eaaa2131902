"""The clean process (relu_course.grading.runner): its pieces in this process, and the
whole runner started with ``python -I -m relu_course.grading.runner`` in each sandbox mode."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from relu_course import checks
from relu_course.grading import audit, feedback, notebook_cells, runner, verify
from relu_course.grading.isolation import SandboxWarning, bwrap_available
from relu_course.grading.limits import VERIFY_LIMITS

RELU = "def relu(x):\n    return np.where(x > 0, x, 0.0).astype(x.dtype)\n"


def _job(function: str, cells: list[str], cases: list[checks.Case]) -> dict:
    return {
        "function": function,
        "cells": cells,
        "cases": [{"name": c.name, "params": dict(c.params), "x": c.x} for c in cases],
    }


def _passes(answer: dict, cases: list[checks.Case]) -> bool:
    recs = answer["observations"]
    obs = [verify._observation(c, r) for c, r in zip(cases, recs, strict=True)]
    return all(checks.judge(c, o) is None for c, o in zip(cases, obs, strict=True))


# ----------------------------------------------------------------------------- pieces


def test_statements_run_one_at_a_time_with_ipython_stand_ins():
    ns = runner.notebook_namespace(np=np)
    errors = runner.exec_statements(
        "get_ipython().run_line_magic('time', '')\ndisplay(1)\nprint(undefined)\nx = np.ones(2)",
        ns,
        "cell 3",
    )
    assert errors == ["cell 3: NameError: name 'undefined' is not defined"]
    assert ns["x"].tolist() == [1.0, 1.0]
    assert runner.exec_statements("def f(:\n", ns, "cell 4")[0].startswith("cell 4: SyntaxError")


def test_type_names_cannot_be_faked():
    class Liar(np.ndarray):
        __qualname__ = "ndarray"
        __module__ = "numpy"

    assert runner.type_name(np.zeros(1).view(Liar)) == "numpy.ndarray<subclass>"
    assert runner.type_name(np.float64(1)) == "numpy.float64"
    assert runner.type_name(1.0) == "float"


def test_observe_job_records_form_values_and_mutation():
    cases = checks.battery("relu", level="full")
    answer = runner.observe_job(_job("relu", [RELU], cases))
    assert answer["cell_error"] is None and _passes(answer, cases)
    mutating = "def relu(x):\n    np.maximum(x, 0, out=x)\n    return x.copy()\n"
    recs = runner.observe_job(_job("relu", [mutating], cases))["observations"]
    assert any(verify._observation(c, r).mutated for c, r in zip(cases, recs, strict=True))
    missing = runner.observe_job(_job("relu", ["x = 1 / 0"], cases[:1]))
    assert missing["observations"][0]["error"].startswith("NameError: relu is not defined")
    assert "ZeroDivisionError" in missing["cell_error"]


def test_numerical_grad_gets_the_course_functions():
    cases = checks.battery("numerical_grad", level="full")
    source = (
        "def numerical_grad(f, x, eps=1e-6):\n"
        "    g = np.zeros_like(x, dtype=float)\n"
        "    for i in np.ndindex(x.shape):\n"
        "        d = np.zeros_like(x, dtype=float)\n"
        "        d[i] = eps\n"
        "        g[i] = (f(x + d) - f(x - d)) / (2 * eps)\n"
        "    return g\n"
    )
    assert _passes(runner.observe_job(_job("numerical_grad", [source], cases)), cases)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_answers_dies_hangs_or_floods_and_the_parent_survives():
    def answer(job):
        return {"x": np.arange(3), "job": job}

    got = runner.run_in_child(answer, 7, seconds=10, max_bytes=10_000, close=[])
    assert got["job"] == 7 and got["x"]["@type"] == "ndarray"  # wire data, decoded later
    assert runner.run_in_child(lambda j: os._exit(3), 0, seconds=10, max_bytes=100, close=[]) == {
        "fatal": "died without an answer"
    }
    start = time.monotonic()
    hang = runner.run_in_child(lambda j: time.sleep(60), 0, seconds=1, max_bytes=100, close=[])
    assert hang == {"fatal": "ran longer than 1 s"} and time.monotonic() - start < 10
    flood = runner.run_in_child(lambda j: "x" * 10_000, 0, seconds=10, max_bytes=1000, close=[])
    assert flood == {"fatal": "sent too much data"}
    raised = runner.run_in_child(lambda j: 1 / 0, 0, seconds=10, max_bytes=1000, close=[])
    assert raised == {"fatal": "ZeroDivisionError: division by zero"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_all_ends_and_reaps_children():
    """What ends the student's process of a ps2-ps4 question after its judge answered."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        time.sleep(60)
        os._exit(0)
    start = time.monotonic()
    runner.kill_all([pid, pid])  # twice: one already gone is fine
    assert time.monotonic() - start < 10
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)  # reaped


def test_the_hidden_test_rule_is_one_rule():
    assert feedback.hidden_lines is notebook_cells.hidden_test_lines
    source = (
        "check(f)\n### BEGIN HIDDEN TESTS\nmodel.eval()\nassert f(3) == 9, 'f squares'\n"
        "### END HIDDEN TESTS\n"
    )
    assert notebook_cells.hidden_test_lines(source) == ["assert f(3) == 9, 'f squares'"]
    cell = {"cell_type": "code", "source": source, "outputs": [], "metadata": {}}
    nb = {"cells": [cell]}
    assert audit._hidden_lines(nb) == {"assert f(3) == 9, 'f squares'"}
    stripped = notebook_cells.strip_hidden_tests(source)
    assert stripped == f"check(f)\n{notebook_cells.HIDDEN_NOTE}\n"
    assert notebook_cells.strip_hidden_tests("a\n### BEGIN HIDDEN TESTS\nsecret") == (
        f"a\n{notebook_cells.HIDDEN_NOTE}"  # a region left open is hidden to the end
    )


# ----------------------------------------------------------------------------- whole runner


MODES = [
    pytest.param(False, id="rlimits-only"),
    pytest.param(
        True,
        id="bubblewrap",
        marks=pytest.mark.skipif(not bwrap_available(), reason="needs bubblewrap"),
    ),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox is Linux-first")
@pytest.mark.parametrize("isolate", MODES)
def test_the_runner_module_starts_in_the_sandbox(isolate, recwarn):
    """``python -I -m relu_course.grading.runner`` finds the package in both modes; the
    student may import relu_course, as in the notebook, and is graded on the result;
    patching what the runner uses afterwards changes nothing it sends."""
    cases = checks.battery("relu", level="full")
    reference = "from relu_course.activations import relu\n"
    patches = (
        "import base64, json, warnings\n"
        "np.array = lambda *a, **k: 0\n"
        "np.ndarray.copy = None\n"
        "base64.b64encode = lambda *a: b'AAAA'\n"
        "json.dumps = lambda *a, **k: 'null'\n"
        "warnings.catch_warnings = None\n" + RELU
    )
    wrong = "def relu(x):\n    return x\n"
    results = verify.observe_clean_batch(
        [("relu", [reference], cases), ("relu", [patches], cases), ("relu", [wrong], cases)],
        isolate=isolate,
    )
    for observations, note in results[:2]:
        assert observations is not None, note
        assert all(checks.judge(c, o) is None for c, o in zip(cases, observations, strict=True))
    observations, _ = results[2]
    assert any(checks.judge(c, o) for c, o in zip(cases, observations, strict=True))
    if not isolate:
        assert any(issubclass(w.category, SandboxWarning) for w in recwarn.list)
    flags = audit.scan_source(reference)
    assert [(f.kind, f.tampering) for f in flags] == [("reference", False)]


def test_a_runner_that_never_starts_is_the_graders_error(tmp_path):
    python = shutil.which("false") or "/bin/false"
    answers, why = runner.exchange_sandboxed(
        [python], {"jobs": [{}]}, limits=VERIFY_LIMITS, isolate=False
    )
    assert answers is None and why.startswith(runner.GRADER_ERROR), why


def test_the_runner_and_the_sandbox_do_not_import_nbgrader():
    """The clean process imports the isolation, never nbgrader or Jupyter."""
    code = (
        "import sys, relu_course.grading.runner, relu_course.grading.isolation\n"
        "found = [m for m in ('nbgrader', 'jupyter_client', 'nbformat') if m in sys.modules]\n"
        "sys.exit(f'imported {found}' if found else 0)"
    )
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
