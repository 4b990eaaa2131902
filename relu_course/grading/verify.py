"""Re-verify autograded verdicts in clean processes (the tamper audit is in ``audit.py``).

nbgrader decides a test cell's score inside the student's own kernel, after the student's
code ran there: a notebook can patch ``np.allclose`` or ``relu_course.checks``, swallow the
test's exception, or return an object that equals everything. This module recomputes
every verdict whose check is a :mod:`relu_course.checks` battery without trusting that
process:

1. the student's **solution cell** for the function (matched to the release by grade id;
   by the ``def`` it contains when an editor stripped the metadata) is extracted, with
   only the student cells that define names it needs (e.g. ``sigmoid`` for
   ``sigmoid_grad``); the setup, test and scratch cells never run;
2. it runs in a **fresh sandboxed Python process**, :mod:`relu_course.grading.runner`,
   which captured ``type``, ``np.ndarray`` and the NumPy functions it needs *before* the
   student's code ran; the runner calls the function on the battery's inputs
   (``observe``) and sends back plain data only (:mod:`relu_course.grading.codec`: type
   name, dtype, shape, the result and the input after the call), never pickle;
3. this (grader) process rebuilds each :class:`relu_course.checks.Observation` and
   ``judge``-s it against the reference.

Every other graded test cell (the torch questions of ps2-ps4) is re-verified by
:mod:`relu_course.grading.verify_torch`: the instructor's test cell runs in a judge process that
never runs student code, and the student's cells answer its calls from a second process,
as plain data over a pipe.

The question's final score is ``min(nbgrader's score, clean verdict)``; a question that
nbgrader passed and the clean verdict fails is flagged as suspected tampering, with the
reason. :func:`check_submission` adds the flags of the tamper audit
(:func:`relu_course.grading.audit.audit_notebook`: test cells deleted, edited, retagged or
re-pointed; student code that patches the grader; test cells that never ran; ...).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from relu_course import checks
from relu_course.grading import runner, verify_torch
from relu_course.grading.audit import audit_notebook, scan_source
from relu_course.grading.limits import VERIFY_JOB_SECONDS, VERIFY_LIMITS, Limits
from relu_course.grading.notebook_cells import (
    Flag,
    cell_source,
    cells_by_grade_id,
    cells_for,
    load_notebook,
    nbgrader_meta,
    parse_cell,
    python_source,
    student_cells,
)
from relu_course.grading.runner import GRADER_ERROR, exchange_sandboxed, started_line

__all__ = [
    "GRADER_ERROR",
    "VERIFY_LIMITS",
    "Audit",
    "Flag",
    "Verdict",
    "audit_notebook",
    "batteries_in_tests",
    "check_submission",
    "exchange_sandboxed",
    "observe_clean_batch",
    "scan_source",
    "started_line",
    "verify_submission",
]

#: Seconds one question's clean run may take inside the batch (read at each call).
JOB_SECONDS = VERIFY_JOB_SECONDS


@dataclass
class Verdict:
    """One graded question: nbgrader's score, the clean re-verification and the final score.

    ``clean_passed`` is ``None`` when the question has no :mod:`relu_course.checks`
    battery (then ``final_score`` is nbgrader's). ``cells`` lists the submitted cells that
    ran in the clean process.
    """

    grade_id: str
    function: str
    max_score: float
    nbgrader_score: float | None
    clean_passed: bool | None
    final_score: float | None
    message: str = ""
    flags: list[Flag] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Audit:
    """Everything :func:`check_submission` found: per-question verdicts and notebook flags."""

    verdicts: list[Verdict]
    flags: list[Flag]

    @property
    def all_flags(self) -> list[Flag]:
        return self.flags + [f for v in self.verdicts for f in v.flags]

    @property
    def tampering(self) -> bool:
        return any(f.tampering for f in self.all_flags)

    def scores(self) -> dict[str, float | None]:
        """``{test grade id: final score}``."""
        return {v.grade_id: v.final_score for v in self.verdicts}


# ----------------------------------------------------------------------------- batteries


def batteries_in_tests(nb: Any) -> dict[str, tuple[str, list[checks.Case]]]:
    """``{test grade id: (function, cases)}`` from the check calls in a notebook's test cells.

    A test cell ``test_<fn>`` that calls ``check_activation(fn, "name", grad=..., level=...,
    **params)`` or ``check_numerical_grad(fn, level=...)`` (literal arguments) is graded by
    those batteries; the cases of all its calls are re-verified. Pass the instructor's
    source notebook to include the hidden tests. Cells without such calls are left out
    (their nbgrader score stands).

    Examples
    --------
    >>> cell = {"cell_type": "code", "source": 'check_activation(relu, "relu", level="full")',
    ...         "metadata": {"nbgrader": {"grade": True, "grade_id": "test_relu"}}}
    >>> fn, cases = batteries_in_tests({"cells": [cell]})["test_relu"]
    >>> fn, len(cases) == len(checks.battery("relu", level="full"))
    ('relu', True)
    """
    found: dict[str, tuple[str, list[checks.Case]]] = {}
    for cell in load_notebook(nb).get("cells", []):
        meta = nbgrader_meta(cell)
        if not meta.get("grade") or cell.get("cell_type") != "code":
            continue
        tree = parse_cell(cell_source(cell))
        for node in ast.walk(tree) if tree is not None else []:
            cases = _call_battery(node)
            if cases is None:
                continue
            fn, new = cases
            old = found.get(meta["grade_id"], (fn, []))[1]
            found[meta["grade_id"]] = (fn, old + new)
    return found


def _call_battery(node: ast.AST) -> tuple[str, list[checks.Case]] | None:
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Name):
        return None
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    try:
        kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        if name == "check_numerical_grad":
            return node.args[0].id, checks.battery("numerical_grad", level=kw.get("level", "basic"))
        if name == "check_activation" and len(node.args) >= 2:
            ref = ast.literal_eval(node.args[1])
            grad, level = bool(kw.pop("grad", False)), kw.pop("level", "basic")
            cases = checks.battery(ref, grad=grad, level=level, params=kw or None)
            return node.args[0].id, cases
    except (ValueError, TypeError, SyntaxError):
        return None
    return None


# ----------------------------------------------------------------------------- clean runs


def _case(case: checks.Case) -> dict[str, Any]:
    """What the runner needs of a case (wire data: the input is an array)."""
    return {"name": case.name, "params": dict(case.params), "x": case.x}


def _observation(case: checks.Case, rec: Mapping[str, Any]) -> checks.Observation:
    """Rebuild an Observation from the runner's record, checking it as untrusted."""
    if rec.get("error") is not None:
        return checks.Observation(error=str(rec["error"])[:500])
    data = rec.get("data")
    if data is not None and (type(data) is not np.ndarray or data.dtype.kind not in "biuf"):
        raise ValueError(f"the runner sent {type(data).__name__} data of {rec.get('dtype')}")
    after = rec.get("x_after")
    if type(after) is not np.ndarray:
        raise ValueError("the runner sent no input after the call")
    mutated = (
        after.dtype != case.x.dtype
        or after.shape != case.x.shape
        or not np.array_equal(after, case.x, equal_nan=True)
    )
    shape = rec.get("shape")
    return checks.Observation(
        type_name=str(rec.get("type_name", "")),
        dtype=None if rec.get("dtype") is None else str(rec["dtype"]),
        shape=None if shape is None else tuple(int(s) for s in shape),
        data=data,
        mutated=mutated,
        n_warnings=int(rec.get("n_warnings", 0)),
    )


def observe_clean_batch(
    jobs: Sequence[tuple[str, Sequence[str], Sequence[checks.Case]]],
    *,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> list[tuple[list[checks.Observation] | None, str]]:
    """Run each job's cells in a clean process and observe its function on its cases,
    with ONE sandbox start for all of them.

    Each job ``(function, cells, cases)`` runs in its own process, forked from a runner
    (:mod:`relu_course.grading.runner`) that never runs student code, so no question sees
    another question's cells; the sandbox (bubblewrap, numpy import) is paid once per
    submission instead of once per question. Returns one ``(observations, note)`` per job,
    in order; ``observations`` is ``None`` when the process gave no usable answer (it
    died, timed out or sent garbage) and ``note`` says why.

    Examples
    --------
    >>> cases = checks.battery("relu", level="full")
    >>> source = "def relu(x):\\n    return np.where(x > 0, x, 0.0).astype(x.dtype)"
    >>> [(obs, note)] = observe_clean_batch([("relu", [source], cases)])
    >>> [checks.judge(c, o) for c, o in zip(cases, obs, strict=True)] == [None] * len(cases), note
    (True, '')
    """
    if not jobs:
        return []
    request = {
        "job_seconds": JOB_SECONDS,
        "jobs": [
            {"function": fn, "cells": list(sources), "cases": [_case(c) for c in cases]}
            for fn, sources, cases in jobs
        ],
    }
    wall = min(limits.wall_seconds, JOB_SECONDS) * len(jobs) + 30
    answers, why = exchange_sandboxed(
        list(runner.COMMAND), request, limits=replace(limits, wall_seconds=wall), isolate=isolate
    )
    if answers is None:
        note = why if why.startswith(GRADER_ERROR) else f"the clean process {why}"
        return [(None, note) for _ in jobs]
    out: list[tuple[list[checks.Observation] | None, str]] = []
    for (_, _, cases), rec in zip(jobs, answers, strict=True):
        try:
            if not isinstance(rec, dict) or "fatal" in rec:
                fatal = rec.get("fatal") if isinstance(rec, dict) else "no answer"
                raise ValueError(f"the clean run {fatal}")
            recs = rec["observations"]
            if len(recs) != len(cases):
                raise ValueError("answer does not match the request")
            out.append(([_observation(c, r) for c, r in zip(cases, recs, strict=True)], ""))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            out.append((None, f"the clean process gave no valid answer ({err})"))
    return out


# ----------------------------------------------------------------------------- verdicts


def _graded_functions(release: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """(test grade id, function, points) for every release test cell ``test_<function>``."""
    ids = cells_by_grade_id(release)
    out = []
    for gid, cells in ids.items():
        meta = nbgrader_meta(cells[0][1])
        fn = gid.removeprefix("test_")
        if meta.get("grade") and gid.startswith("test_") and fn in ids:
            out.append((gid, fn, float(meta.get("points", 0))))
    return out


def verify_submission(
    release_nb: Any,
    submitted_nb: Any,
    assignment: str,
    *,
    scores: Mapping[str, float | None] | None = None,
    source_nb: Any = None,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> list[Verdict]:
    """Re-verify every graded question of a submission in clean processes.

    Parameters
    ----------
    release_nb, submitted_nb
        The released notebook and the student's submission (path, JSON dict or nbformat
        node). The submission is matched to the release by grade id.
    assignment
        The assignment id (for messages).
    scores
        nbgrader's score per test grade id (e.g. ``{"test_relu": 1.0}``); when given, the
        final score is ``min(nbgrader, clean)`` and disagreements are flagged.
    source_nb
        The instructor's notebook: its test cells' check calls (hidden ones included)
        define what is re-verified (:func:`batteries_in_tests`); without it, the visible
        calls of the release.
    limits, isolate
        Sandbox limits of the clean run (one sandbox per submission, one forked process
        per question) and whether to use bubblewrap (``None``: when available).

    Returns
    -------
    list[Verdict]
        One per test cell ``test_<function>`` whose tests call a checks battery, then one
        per other graded test cell that uses the student's names (torch questions,
        :mod:`relu_course.grading.verify_torch`; ``function`` lists those names).
    """
    release, submitted = load_notebook(release_nb), load_notebook(submitted_nb)
    student = student_cells(release, submitted)
    stubs = {
        gid: cell_source(cells[0][1]).strip()
        for gid, cells in cells_by_grade_id(release).items()
        if nbgrader_meta(cells[0][1]).get("solution")
    }
    points = {gid: pts for gid, _, pts in _graded_functions(release)}
    todo = [
        (gid, fn, points[gid], cases)
        for gid, (fn, cases) in batteries_in_tests(
            source_nb if source_nb is not None else release
        ).items()
        if gid in points and cases
    ]

    # which questions have something to run, then one sandbox for all of them
    prepared = []
    for gid, fn, pts, cases in todo:
        cells, flags = cells_for(fn, student)
        if not cells:
            skip = f"no cell of the submission defines {fn}()"
        elif cells[-1][1].strip() == stubs.get(fn):
            skip = f"{fn}() is the released stub (not attempted)"  # it raises NotImplementedError
        else:
            skip = None
        prepared.append((gid, fn, pts, cases, cells, flags, skip))
    runs = observe_clean_batch(
        [
            (fn, [python_source(src) for _, src in cells], cases)
            for _, fn, _, cases, cells, _, skip in prepared
            if skip is None
        ],
        limits=limits,
        isolate=isolate,
    )
    ran = iter(runs)
    verdicts = []
    for gid, fn, pts, cases, cells, flags, skip in prepared:
        if skip is not None:
            passed, message = False, skip
        else:
            obs, note = next(ran)
            if obs is None:
                passed, message = False, note
            else:
                failures = [m for m in map(checks.judge, cases, obs) if m is not None]
                passed = not failures
                message = failures[0] if failures else ""
        given = None if scores is None else scores.get(gid)
        verdicts.append(
            _verdict(gid, fn, pts, given, passed, message, flags, [c for c, _ in cells], assignment)
        )

    # every other graded test cell (ps2-ps4: torch questions): judged by the instructor's
    # test cell in a process that never runs student code (relu_course.grading.verify_torch).
    # A question nbgrader scored 0 stays 0 whatever the clean run says: not re-run.
    source = load_notebook(source_nb) if source_nb is not None else release
    done = {v.grade_id for v in verdicts}
    done |= {g for g, sc in (scores or {}).items() if sc is not None and float(sc) <= 0}
    if any(
        nbgrader_meta(c).get("grade")
        and not nbgrader_meta(c).get("solution")
        and nbgrader_meta(c).get("grade_id") not in done
        for c in source.get("cells", [])
    ):
        for job, passed, message in verify_torch.verify_torch_questions(
            release, submitted, source, skip=done, isolate=isolate
        ):
            gid = job["grade_id"]
            given = None if scores is None else scores.get(gid)
            verdicts.append(
                _verdict(
                    gid, ", ".join(job["names"]), job["points"], given, passed, message,
                    list(job["flags"]), [label for label, _ in job["cells"]], assignment,
                )
            )  # fmt: skip
    return verdicts


def _verdict(
    gid: str, fn: str, pts: float, given: float | None, passed: bool, message: str,
    flags: list[Flag], cells: list[str], assignment: str,
) -> Verdict:  # fmt: skip
    """The final score min(nbgrader, clean) of one question, and flags where they disagree.

    When the clean run failed for the grader's own reason (``message`` starts with
    :data:`GRADER_ERROR`), the question keeps nbgrader's score and gets a "grader error:
    needs review" flag, never a tampering flag.
    """
    if message.startswith(GRADER_ERROR):
        reason = message.removeprefix(GRADER_ERROR)
        flags.append(
            Flag(
                "grader-error",
                gid,
                f"grader error: needs review ({fn}): {reason}; nbgrader's score stands",
                tampering=False,
            )
        )
        return Verdict(gid, fn, pts, given, None, given, message, flags, cells)
    clean = pts if passed else 0.0
    final = clean if given is None else min(float(given), clean)
    if given is not None and float(given) > clean:
        first = message.strip().splitlines()
        flags.append(
            Flag(
                "verdict-mismatch",
                gid,
                f"SUSPECTED TAMPERING: nbgrader gave {given:g}/{pts:g} in {assignment}, "
                f"but {fn} fails when re-tested in a clean process: " + " / ".join(first[:3]),
            )
        )
    elif given is not None and float(given) < clean:
        flags.append(
            Flag(
                "verdict-mismatch",
                gid,
                f"nbgrader gave {given:g}/{pts:g} but {fn} passes in a clean process: the "
                "notebook broke it later, wrote to stderr, timed out or killed its kernel; "
                "the lower score stands",
                tampering=False,
            )
        )
    return Verdict(gid, fn, pts, given, passed, final, message, flags, cells)


def check_submission(
    release_nb: Any,
    submitted_nb: Any,
    assignment: str,
    *,
    scores: Mapping[str, float | None] | None = None,
    autograded_nb: Any = None,
    source_nb: Any = None,
    handed_in_nb: Any = None,
    cell_timeout: float | None = None,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> Audit:
    """:func:`verify_submission` and :func:`audit_notebook` together (what a grader calls).

    ``submitted_nb`` is re-verified; the audit reads ``handed_in_nb``, the file as the
    student handed it in (default: ``submitted_nb``), because repairs of a damaged file
    would hide deleted or retagged test cells. ``cell_timeout`` is nbgrader's per-cell
    limit (for the audit's timeout flag).
    """
    verdicts = verify_submission(
        release_nb,
        submitted_nb,
        assignment,
        scores=scores,
        source_nb=source_nb,
        limits=limits,
        isolate=isolate,
    )
    flags = audit_notebook(
        release_nb,
        submitted_nb if handed_in_nb is None else handed_in_nb,
        autograded_nb=autograded_nb,
        source_nb=source_nb,
        cell_timeout=cell_timeout,
    )
    return Audit(verdicts, flags)
