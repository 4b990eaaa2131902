"""The local executor off the happy path: a worker process that dies, and a submission
that runs past the per-submission timeout (relu_course.grading.executors.LocalPool).

Both are failures of the machinery or of the time budget, never of the student's answer
alone: a killed worker gives an ``infra_error`` (not scored, not merged, graded again by
the next run) and the pool goes on with a new worker; a submission past the timeout
scores 0 as ``timeout`` and leaves no process behind. Both use the two-question toy course
(relu_course.grading.toy) and the real nbgrader and sandbox.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from relu_course.grading.cli import main
from relu_course.grading.course import Course, find_course, nbgrader_env
from relu_course.grading.executors import _children
from relu_course.grading.grade import grade, load_results
from relu_course.grading.gradebook import graded_keys
from relu_course.grading.sandbox import bwrap_available
from relu_course.grading.toy import TOY_ANSWERS, make_toy_course

pytestmark = pytest.mark.slow
os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader calls alembic from the venv
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demo"))
import make_demo  # noqa: E402
from test_attacks import marker_processes  # noqa: E402

SANDBOX = {} if bwrap_available() else {"isolate": False}
FULL = {k: v + "\n" for k, v in TOY_ANSWERS.items()}


def _submit(course: Course, sid: str, answers: dict[str, str]) -> None:
    nb = make_demo.fill(nbformat.read(course.release_notebook("toy"), as_version=4), answers)
    dest = course.submitted_notebook("toy", sid)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def _slow(seconds: float, extra: str = "") -> dict[str, str]:
    """Correct answers whose relu cell sleeps ``seconds`` when it runs (once per run)."""
    relu = f"{TOY_ANSWERS['relu']}\nimport time\n{extra}time.sleep({seconds})\n"
    return {**FULL, "relu": relu}


@pytest.fixture
def toy(tmp_path: Path) -> Course:
    course = find_course(make_toy_course(tmp_path / "toy"))
    assert main(["--course", str(course.root), "release", "toy"]) == 0
    return course


def _kill_the_worker_once_its_kernel_runs(stop: threading.Event, killed: list[int]) -> None:
    """Wait for the pool's (only) worker to start a kernel, then SIGKILL the worker."""
    while not stop.is_set():
        for proc in multiprocessing.active_children():
            if proc.pid and len(_children(proc.pid)) >= 2:  # the sandbox and its kernel
                time.sleep(1.0)
                os.kill(proc.pid, signal.SIGKILL)
                killed.append(proc.pid)
                return
        time.sleep(0.1)


def test_a_killed_worker_is_an_infrastructure_error_and_the_run_goes_on(toy: Course) -> None:
    _submit(toy, "a_slow", _slow(6))
    _submit(toy, "b_full", FULL)
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_the_worker_once_its_kernel_runs, args=(stop, killed))
    killer.start()
    try:
        summary = grade(toy, "toy", students=["a_slow", "b_full"], jobs=1, progress=False,
                        **SANDBOX)  # fmt: skip
    finally:
        stop.set()
        killer.join()
    assert killed, "the worker was never seen running a kernel"
    assert [(r.student, r.status) for r in summary.infra_errors] == [("a_slow", "infra_error")]
    assert "worker process died" in summary.infra_errors[0].message
    assert [r.student for r in summary.graded] == ["b_full"]  # a new worker took over
    results = load_results(toy, "toy")
    assert results["b_full"].score == 5 and "a_slow" not in results  # nothing merged
    assert "a_slow" not in graded_keys(toy, "toy")  # no gradebook row: not a zero

    again = grade(toy, "toy", jobs=1, progress=False, **SANDBOX)  # the next run grades it
    assert [r.student for r in again.graded] == ["a_slow"] and again.skipped == ["b_full"]
    assert load_results(toy, "toy")["a_slow"].score == 5


def test_a_submission_past_the_timeout_scores_zero_and_leaves_no_process(toy: Course) -> None:
    marker = str(70000 + os.getpid() % 9000)
    # a child process that would outlive its kernel, then a cell that runs past the timeout
    extra = f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'])\n"
    _submit(toy, "slow", _slow(600, extra))
    _submit(toy, "full", FULL)
    start = time.monotonic()
    # 60 s: an honest toy submission takes a few seconds, and under a load average of 10
    # it took more than 15 s (it must not time out here)
    summary = grade(toy, "toy", jobs=2, timeout=60, cell_timeout=900, progress=False, **SANDBOX)
    assert time.monotonic() - start < 60 + 120
    results = load_results(toy, "toy")
    assert results["full"].score == 5 and results["full"].status == "graded"
    slow = results["slow"]
    assert (slow.status, slow.score) == ("timeout", 0)
    assert "grading took more than 60 s" in slow.message
    assert not summary.infra_errors
    time.sleep(1.0)
    assert not marker_processes(f"sleep {marker}"), "a process of the stopped submission survived"
