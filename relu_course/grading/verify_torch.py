"""Clean re-verification of the torch questions (ps2-ps4): the test runs where no student code ran.

The verdict of a torch question (``he_normal_``, ``build_mlp``, ``LeakyReLUFunction``,
``train_digits_model``, ...) comes from its instructor test cell, hidden tests included.
nbgrader runs that cell in the student's kernel, after the student's code: a notebook can
patch ``torch.allclose`` or :mod:`relu_course.checks_torch`, push a ``TorchFunctionMode``,
return a tensor subclass that fakes every comparison, or rewrite the test cell before it
runs. Here the verdict is computed again by two processes forked, per question, from a
harness that never runs student code (one sandbox per submission):

* the **judge** runs the release's setup cells and the instructor's test cell (from the
  source notebook, hidden tests included). It never runs a line of student code. Each
  student name the test uses (``build_mlp``, ``PReLU``, ...) is bound to a *proxy*;
* the **student** process runs the setup cells and the student's own cells for the
  question (the solution cell and the cells it needs; never the test or scratch cells)
  and serves the proxies' calls. As in the notebook, the earlier answers a question
  builds on are then the course's (``checks_torch.COURSE_PARTS``), and each call is
  watched for what the notebook forbids (``checks_torch.STATED_RULES``).

A test cell's ``checks_torch.check_*`` call on a proxy ships **observations**, as the
ps1 re-verification does (:func:`relu_course.grading.torch_rpc.observing_checks`): the
student process builds the check's cases, runs its ``observe`` on the student's object and
sends plain data back (numbers, strings, tensors; :func:`.torch_wire.enc_plain`); the judge
builds the same cases and applies the check's ``judge``, which never runs student code.
The check modules are restored in the student process before observing, as they were
before its cells ran. Only gradcheck's cases (``TorchCheck.in_judge``) run in the judge,
through the proxy: its verdict comes from many forward and backward calls, not from one
value.

Everything else the test cell does with a proxy (the visible tests' own statements:
``out is w``, ``net(torch.zeros(5, 16))``, ``y.backward(...)``, ``act.weight.grad``,
training ``build_mlp``'s network, scoring ``train_digits_model``'s model) needs the
object itself, so it stays an **object call** (:class:`.torch_rpc.Link`): the arguments,
torch's random-number state and grad mode go to the student process; the result, the
arguments' state after the call (tensor values, a model's parameters, gradients, training
flags and hooks) and the random state come back (strict JSON in the grading codec's
named tags, never pickle; :mod:`.torch_wire`). Modules returned by the student are rebuilt in
the judge from their parameters when they are made of standard ``torch.nn`` layers (so the
judge trains and measures them itself); any other module, a student's ``nn.Module`` class
and a ``torch.autograd.Function`` stay in the student process, and the judge calls their
forward and backward through the pipe (``RemoteModule``, autograd bridge).

Forging a verdict would need the judge's memory: it is a separate process, made
non-dumpable before any student code starts (no ``ptrace``, no ``/proc/<pid>/mem``),
and it decodes the student's replies as untrusted data (dtype whitelist, size caps). The
student process can kill the judge or stall it: then the question fails.

Limits (documented in SECURITY.md): a model whose own class is the student's is judged
through its forward calls only, so a test that inspects its layers fails it (layers of
the student's own classes inside a standard ``nn.Sequential`` are fine: they become
stand-ins); a model that looks the test images up in a copy of the dataset passes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from relu_course.grading import notebook_cells as nc
from relu_course.grading import runner
from relu_course.grading.limits import TORCH_JOB_SECONDS as JOB_SECONDS
from relu_course.grading.limits import TORCH_LIMITS, Limits
from relu_course.grading.torch_rpc import Link, Server, bridge_class, run_judge
from relu_course.grading.torch_wire import RemoteError

__all__ = [
    "JOB_SECONDS",
    "TORCH_LIMITS",
    "RemoteError",
    "torch_jobs",
    "verify_torch_questions",
]

# ============================================================================ the sandbox


def _prepare() -> None:  # pragma: no cover - runs inside the sandbox (tested end to end)
    """What every question needs, imported once before any student code runs (and forks)."""
    import torch

    torch.set_num_threads(1)
    import relu_course.checks_torch  # noqa: F401
    import relu_course.data  # noqa: F401
    import relu_course.training  # noqa: F401

    bridge_class()


def _judge(job: Mapping[str, Any], link: Link) -> dict[str, Any]:  # pragma: no cover
    """The judge's verdict (it never runs student code); any failure fails the question."""
    try:
        return run_judge(job, link)
    except BaseException as exc:  # noqa: BLE001
        return {"passed": False, "message": f"{type(exc).__name__}: {exc}"[:3000]}


def _with_student(
    work: Any, job: Mapping[str, Any], *, seconds: float, max_bytes: int, close: Sequence[int]
) -> dict[str, Any]:  # pragma: no cover - runs inside the sandbox (tested end to end)
    """One question, as :func:`runner.serve` runs a job: the student's process (forked
    here, the only one that runs student code) serves the calls of the judge, which
    :func:`runner.run_in_child` runs under the deadline; then the student's process dies."""
    to_judge, to_student = os.pipe(), os.pipe()
    student = os.fork()
    if student == 0:
        try:
            for fd in (*close, to_judge[0], to_student[1]):
                os.close(fd)
            Server(job).serve(to_student[0], to_judge[1])
        finally:
            os._exit(0)
    os.close(to_judge[1])
    os.close(to_student[0])
    link = Link(to_judge[0], to_student[1])
    try:
        answer = runner.run_in_child(
            lambda j: work(j, link), job, seconds=seconds, max_bytes=max_bytes, close=close
        )
    finally:
        os.close(to_judge[0])
        os.close(to_student[1])
        runner.kill_all([student])
    if isinstance(answer, dict) and (isinstance(answer.get("passed"), bool) or "fatal" in answer):
        return answer
    return {"fatal": "gave an invalid verdict"}


# ============================================================================ grader side


def torch_jobs(
    release: Mapping[str, Any], submitted: Mapping[str, Any], source: Mapping[str, Any],
    skip: set[str],
) -> list[dict[str, Any]]:  # fmt: skip
    """One job per graded test cell not in ``skip``: the names it uses and the cells to run.

    Returns dicts with ``grade_id``, ``points``, ``names`` (the student's names the test
    cell uses), ``setup`` (the release's code cells before the first solution cell),
    ``test`` (the test cell of ``source``, hidden tests included), ``cells`` (label, source
    of the student's cells to run) and ``flags`` / ``stub`` (every name is the released
    stub: not attempted).
    """
    cells = release.get("cells", [])
    first_solution = next(
        (i for i, c in enumerate(cells) if nc.nbgrader_meta(c).get("solution")), len(cells)
    )
    setup = [
        nc.python_source(nc.cell_source(c))
        for c in cells[:first_solution]
        if c.get("cell_type") == "code" and not nc.nbgrader_meta(c).get("grade")
    ]
    solution_names: set[str] = set()
    stubs: dict[str, str] = {}
    for c in cells:
        meta = nc.nbgrader_meta(c)
        if meta.get("solution") and c.get("cell_type") == "code":
            tree = nc.parse_cell(nc.cell_source(c))
            if tree is not None:
                solution_names |= nc.defined_names(tree)
            stubs[meta.get("grade_id", "")] = nc.cell_source(c).strip()
    release_ids = nc.cells_by_grade_id(release)
    student = nc.student_cells(release, submitted)
    jobs = []
    for c in source.get("cells", []):
        meta = nc.nbgrader_meta(c)
        gid = meta.get("grade_id")
        if not meta.get("grade") or meta.get("solution") or c.get("cell_type") != "code":
            continue
        if gid in skip or gid not in release_ids:
            continue
        release_meta = nc.nbgrader_meta(release_ids[gid][0][1])
        test = nc.python_source(nc.cell_source(c))
        tree = nc.parse_cell(test)
        if tree is None:
            continue
        loaded = {n.id for n in __import__("ast").walk(tree) if type(n).__name__ == "Name"}
        names = sorted(loaded & solution_names)
        if not names:
            continue
        chosen: list[tuple[str, str]] = []
        flags: list[Any] = []
        attempted = False
        for name in names:
            picked, more = nc.cells_for(name, student)
            flags += more
            if picked and picked[-1][1].strip() != stubs.get(picked[-1][0], None):
                attempted = True
            for cell in picked:
                if cell not in chosen:
                    chosen.append(cell)
        order = {label: i for i, (label, _, _) in enumerate(student)}
        chosen.sort(key=lambda cell: order.get(cell[0], 0))
        jobs.append(
            {
                "grade_id": gid,
                "points": float(release_meta.get("points", 0) or 0),
                "names": names,
                "setup": setup,
                "test": test,
                "cells": chosen,
                "flags": flags,
                "stub": not attempted,
            }
        )
    return jobs


def run_torch_jobs(
    jobs: Sequence[Mapping[str, Any]], *, limits: Limits = TORCH_LIMITS,
    isolate: bool | None = None, job_seconds: float = JOB_SECONDS,
) -> list[dict[str, Any]]:  # fmt: skip
    """Run the jobs in ONE sandbox; one ``{"passed", "message"}`` or ``{"fatal"}`` per job."""
    if not jobs:
        return []
    request = {
        "job_seconds": job_seconds,
        "jobs": [
            {k: job[k] for k in ("names", "setup", "test")}
            | {"cells": [[label, nc.python_source(src)] for label, src in job["cells"]]}
            for job in jobs
        ],
    }
    argv = [
        sys.executable,
        "-I",
        "-m",
        "relu_course.grading.verify_torch",
    ]
    wall = int(job_seconds * len(jobs) + 60)
    answers, why = runner.exchange_sandboxed(
        argv, request, limits=replace(limits, wall_seconds=wall), isolate=isolate
    )
    if answers is None:
        key = "grader_error" if why.startswith(runner.GRADER_ERROR) else "fatal"
        return [{key: why} for _ in jobs]
    return [a if isinstance(a, dict) else {"fatal": "gave no answer"} for a in answers]


def verify_torch_questions(
    release: Mapping[str, Any], submitted: Mapping[str, Any], source: Mapping[str, Any],
    *, skip: set[str], limits: Limits = TORCH_LIMITS, isolate: bool | None = None,
) -> list[tuple[dict[str, Any], bool, str]]:  # fmt: skip
    """``(job, passed, message)`` for every test cell that :func:`torch_jobs` finds."""
    jobs = torch_jobs(release, submitted, source, skip)
    todo = [job for job in jobs if not job["stub"]]
    answers = iter(run_torch_jobs(todo, limits=limits, isolate=isolate))
    out = []
    for job in jobs:
        if job["stub"]:
            out.append(
                (job, False, f"{', '.join(job['names'])}: the released stub (not attempted)")
            )
            continue
        answer = next(answers)
        if "grader_error" in answer:  # the verdict keeps nbgrader's score (verify._verdict)
            out.append((job, False, str(answer["grader_error"])))
        elif "fatal" in answer:
            out.append((job, False, f"the clean run {answer['fatal']}"))
        else:
            out.append((job, bool(answer["passed"]), str(answer.get("message", ""))))
    return out


if __name__ == "__main__":  # pragma: no cover - started in the sandbox by run_torch_jobs
    runner.serve(_judge, max_bytes=1 << 20, prepare=_prepare, run=_with_student)
