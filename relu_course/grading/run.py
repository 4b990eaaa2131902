"""Run nbgrader's autograder on ONE prepared submission: the only place a student's code
executes.

The pipeline (:mod:`relu_course.grading.grade`) prepares a private course folder per
submission (``workdir``: its own ``gradebook.db`` holding only this assignment, the
support files of the source folder but no solution notebook, and the repaired notebook
in ``submitted/<student>/<assignment>/``), then calls :func:`autograde_one` in a worker
process. To sandbox kernels (bubblewrap) or re-verify verdicts in a clean process, wrap
or replace :func:`autograde_one`: its inputs are folders and its output is a plain
:class:`Result`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Result", "GradeRecord", "autograde_one", "read_results"]


@dataclass
class GradeRecord:
    """One graded cell: ``score`` out of ``max_score`` (None when it needs a human)."""

    name: str
    score: float | None
    max_score: float
    needs_manual_grade: bool = False


@dataclass
class Result:
    """The outcome of grading one submission.

    ``status`` is ``graded``, ``corrupt`` (unreadable file: 0 points), ``timeout`` (a
    cell or the whole submission ran out of time), ``kernel_died``, ``grader_error`` (the
    sandbox or the kernel could not start: the grader's fault, nothing of the student's
    ran) or ``error`` (nbgrader failed: see ``message``). Every status but ``graded``
    needs a human. ``mode`` says how the student's code ran
    (:func:`relu_course.grading.sandbox.sandbox_mode`).
    """

    student: str
    assignment: str
    status: str = "graded"
    message: str = ""
    grades: list[GradeRecord] = field(default_factory=list)
    comments: dict[str, str] = field(default_factory=dict)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    flags: list[dict[str, Any]] = field(default_factory=list)  # grading.verify.Flag dicts
    key: str = ""  # hash of submission + release, for resuming
    seconds: float = 0.0
    autograded: str | None = None  # path of the autograded notebook, if any
    mode: str = ""  # how student code ran: relu_course.grading.sandbox.sandbox_mode()

    @property
    def score(self) -> float:
        return float(sum(g.score or 0.0 for g in self.grades))

    @property
    def max_score(self) -> float:
        return float(sum(g.max_score for g in self.grades))

    @property
    def needs_review(self) -> bool:
        return (
            self.status != "graded"
            or any(r.get("review", True) for r in self.repairs)
            or bool(self.flags)
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        data = dict(data)
        data["grades"] = [GradeRecord(**g) for g in data.get("grades", [])]
        return cls(**data)


def read_results(
    db_url: str, course_id: str, assignment: str, student: str
) -> tuple[list[GradeRecord], dict[str, str]]:
    """Grades and automatic comments of one submission in an nbgrader gradebook."""
    from nbgrader.api import Gradebook

    grades: list[GradeRecord] = []
    comments: dict[str, str] = {}
    with Gradebook(db_url, course_id) as gb:
        submission = gb.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                score = grade.manual_score if grade.manual_score is not None else grade.auto_score
                grades.append(
                    GradeRecord(grade.name, score, float(grade.max_score), grade.needs_manual_grade)
                )
            for comment in notebook.comments:
                if comment.auto_comment:
                    comments[comment.name] = comment.auto_comment
    grades.sort(key=lambda g: g.name)
    return grades, comments


def _errors(path: Path) -> list[str]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return [
        out.get("ename", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def autograde_one(
    course: Any,
    assignment: str,
    student: str,
    workdir: Path,
    *,
    course_id: str = "relu-course",
    source_directory: str = "solutions",
    cell_timeout: int = 60,
    sandbox: bool = True,
    isolate: bool | None = None,
) -> Result:
    """Autograde ``workdir/submitted/<student>/<assignment>`` with nbgrader, in this process.

    Parameters
    ----------
    course : Course
        The instructor's course (not written to; here for wrappers that need its paths).
    assignment, student : str
        Which submission.
    workdir : Path
        The private course folder prepared by the pipeline.
    cell_timeout : int
        Seconds each cell may run (nbgrader's ``ExecutePreprocessor.timeout``).
    sandbox : bool
        Run the kernel in :mod:`relu_course.grading.sandbox` (bubblewrap; rlimits only, with a
        loud warning, where it is unavailable) and re-verify the verdicts in clean
        processes (:func:`relu_course.grading.verify.check_submission`): each question scores
        the minimum of both, and every disagreement or tampering sign becomes a flag.
        ``False`` runs student code with the grader's rights (warns loudly).
    isolate : bool or None
        With ``sandbox``: ``None`` uses bubblewrap when it works here (as root or as any
        user with user namespaces); ``False`` (``--unsandboxed``) uses resource limits
        only, and the clean re-verification still runs, in plain processes each in its
        own scratch folder.

    Returns
    -------
    Result
        Grades read back from ``workdir/gradebook.db``; ``autograded`` points at
        ``workdir/autograded/<student>/<assignment>/<assignment>.ipynb``.
    """
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.utils import capture_log
    from traitlets.config import Config

    start = time.perf_counter()
    cfg = Config()
    cfg.CourseDirectory.root = str(workdir)
    cfg.CourseDirectory.course_id = course_id
    cfg.CourseDirectory.source_directory = source_directory
    cfg.Execute.timeout = cell_timeout
    cfg.ExecutePreprocessor.timeout = cell_timeout
    cfg.OverwriteCells.add_missing_cells = True
    from relu_course.grading.sandbox import sandbox_mode

    mode = sandbox_mode(isolate) if sandbox else "no-sandbox"
    if sandbox:
        from relu_course.grading.sandbox import configure_nbgrader

        configure_nbgrader(cfg, isolate=isolate is not False)
    else:
        logging.getLogger(__name__).warning(
            "GRADING WITHOUT A SANDBOX: %s's code runs with your rights and can read "
            "solutions/, rewrite gradebook.db and forge its verdicts",
            student,
        )
    coursedir = CourseDirectory(config=cfg)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    app = Autograde(coursedir=coursedir, config=cfg)
    app.force = True
    app.create_student = True
    app.log.setLevel(logging.INFO)
    os.environ["RELU_COURSE_PROGRESS"] = "0"
    outcome = capture_log(app)
    log = outcome.get("log", "") + outcome.get("error", "")
    result = Result(student, assignment, seconds=0.0, mode=mode)
    notebook = workdir / "autograded" / student / assignment / f"{assignment}.ipynb"
    try:
        result.grades, result.comments = read_results(
            f"sqlite:///{workdir / 'gradebook.db'}", course_id, assignment, student
        )
    except Exception as err:  # no submission row: nbgrader failed before grading
        result.status, result.message = "error", f"no grades recorded ({err})"
    errors = _errors(notebook) if notebook.exists() else []
    if notebook.exists():
        result.autograded = str(notebook)
    if not notebook.exists() and any(m in log for m in _KERNEL_START_FAILED):
        result.status = "grader_error"
        result.message = (
            "grader error: needs review: the kernel could not start in the sandbox, so no "
            "student code ran (see .relu-course/logs/workers.log; relu-course doctor)"
        )
    elif "DeadKernelError" in log or "Kernel died" in log or "DeadKernelError" in errors:
        result.status = "kernel_died"
        result.message = "the kernel died while running the notebook (memory? os._exit?)"
    elif "CellTimeoutError" in errors:
        result.status = "timeout"
        result.message = f"a cell ran longer than {cell_timeout} s and was stopped"
    elif not outcome["success"]:
        result.status = "error"
        last = [ln for ln in log.strip().splitlines() if ln.strip()][-3:]
        result.message = "nbgrader autograde failed: " + " | ".join(last)
        for grade in result.grades:
            grade.score = 0.0
    if sandbox and result.status != "grader_error":
        try:
            _verify(course, assignment, student, workdir, notebook, result, isolate, cell_timeout)
        except Exception as err:  # noqa: BLE001 - a grader bug is not the student's fault
            result.flags.append(
                {
                    "kind": "grader-error",
                    "cell": assignment,
                    "reason": f"grader error: needs review: the re-verification failed "
                    f"({type(err).__name__}: {err}); nbgrader's scores stand",
                    "tampering": False,
                }
            )
    result.seconds = time.perf_counter() - start
    return result


# what nbgrader/jupyter_client log when a kernel never came up (nothing of the student's ran)
_KERNEL_START_FAILED = (
    "Kernel didn't respond",
    "Kernel died before replying to kernel_info",
    "failed to start",
    "in launch_kernel",  # the kernel's command could not be executed
)


def _verify(
    course: Any, assignment: str, student: str, workdir: Path, notebook: Path, result: Result,
    isolate: bool | None = None, cell_timeout: float | None = None,
) -> None:  # fmt: skip
    """Re-verify in clean processes: scores become min(nbgrader, clean); flags recorded."""
    from relu_course.grading.verify import check_submission

    # verdicts from the repaired notebook (repairs only restore what an editor damaged);
    # tampering checks on the file as handed in, when it is a readable nbformat-4 file
    # (repairs would hide deleted or retagged test cells)
    repaired = workdir / "submitted" / student / assignment / f"{assignment}.ipynb"
    handed_in: Path | dict = repaired
    try:
        original = json.loads(
            Path(course.submitted_notebook(assignment, student)).read_text(encoding="utf-8")
        )
        if isinstance(original, dict) and isinstance(original.get("cells"), list):
            handed_in = original
    except (OSError, ValueError):
        pass
    release = course.release_notebook(assignment)
    scores = {g.name: g.score or 0.0 for g in result.grades}
    audit = check_submission(
        release,
        repaired,
        assignment,
        scores=scores,
        autograded_nb=notebook,
        source_nb=course.source_notebook(assignment),
        handed_in_nb=handed_in,
        cell_timeout=cell_timeout,
        isolate=isolate,
    )
    final = audit.scores()
    for grade in result.grades:
        if grade.name in final and final[grade.name] is not None and grade.score is not None:
            grade.score = min(grade.score, float(final[grade.name]))
    result.flags = [
        {"kind": f.kind, "cell": f.cell, "reason": f.reason, "tampering": f.tampering}
        for f in audit.all_flags
    ]
