"""Grade ONE submission: the only place a student's code executes.

The unit of work of every executor (:mod:`relu_course.grading.executors`) is
:func:`grade_submission`, a function of plain values: a :class:`Job` (the submitted
notebook's bytes and the settings) and the release template (a folder, or the same folder
packed as bytes by :func:`pack_template` for a machine that does not share the course's
disk) in, a :class:`Verdict` (the :class:`Result` and the autograded notebook's bytes)
out. It writes only below a private scratch folder, which it deletes; the coordinator
writes ``autograded/``, the saved results and ``gradebook.db``.

Inside, it builds a private course folder (``workdir``: its own ``gradebook.db`` holding
only this assignment, the support files of the source folder but no solution notebook,
and the repaired notebook in ``submitted/<student>/<assignment>/``) and calls
:func:`autograde_one`, which runs nbgrader's autograder in the sandbox and re-verifies the
verdicts in clean processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "INFRA_ERROR",
    "GradeRecord",
    "Job",
    "Result",
    "Verdict",
    "autograde_one",
    "grade_submission",
    "infra_error",
    "pack_template",
    "read_results",
    "zero_result",
]

#: status of a submission that the grading machinery failed to grade (a worker died, the
#: cluster went away): never scored, never written to the gradebook, retried next run
INFRA_ERROR = "infra_error"


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
    needs a human. ``infra_error`` (:data:`INFRA_ERROR`: the worker grading it died, or
    the cluster was lost) is no verdict at all: it is reported, never merged, and the
    next run grades the submission again. ``mode`` says how the student's code ran
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
    from relu_course.grading.verify import Audit, audit_notebook, verify_submission

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
    audit = Audit(
        verify_submission(
            release,
            repaired,
            assignment,
            scores=scores,
            source_nb=course.source_notebook(assignment),
            isolate=isolate,
        ),
        audit_notebook(
            release,
            handed_in,
            autograded_nb=notebook,
            source_nb=course.source_notebook(assignment),
            cell_timeout=cell_timeout,
        ),
    )
    final = audit.scores()
    for grade in result.grades:
        if grade.name in final and final[grade.name] is not None and grade.score is not None:
            grade.score = min(grade.score, float(final[grade.name]))
    result.flags = [
        {"kind": f.kind, "cell": f.cell, "reason": f.reason, "tampering": f.tampering}
        for f in audit.all_flags
    ]


# ---------------------------------------------------------------- the unit of work


@dataclass(frozen=True)
class Job:
    """One submission to grade, as plain values: no path of the coordinator's machine, so
    it can be pickled to a worker anywhere.

    ``release`` is the release key (:func:`relu_course.grading.grade.release_key`) of the
    template the job must be graded against; ``key`` hashes submission + release (resume).
    """

    assignment: str
    student: str
    key: str
    release: str
    submission: bytes
    max_scores: dict[str, float]
    course_id: str = "relu-course"
    source_directory: str = "solutions"
    release_directory: str = "exercises"
    cell_timeout: int = 60
    renamed_from: str | None = None
    sandbox: bool = True
    isolate: bool | None = None


@dataclass
class Verdict:
    """What grading one :class:`Job` gives back: the result (``result.autograded`` is
    None: paths are the coordinator's business) and the autograded notebook's bytes."""

    result: Result
    notebook: bytes | None = None


def zero_result(job: Job, status: str, message: str) -> Result:
    """Every question of ``job`` at 0, with ``status`` (a corrupt file, a timeout)."""
    grades = [GradeRecord(n, 0.0, m) for n, m in sorted(job.max_scores.items())]
    return Result(job.student, job.assignment, status, message, grades, key=job.key)


def infra_error(job: Job, message: str) -> Verdict:
    """The machinery failed on ``job`` (not the student): no grades, retried next run."""
    return Verdict(Result(job.student, job.assignment, INFRA_ERROR, message, key=job.key))


def pack_template(folder: Path) -> bytes:
    """The release template folder as gzipped tar bytes, for workers without the course's
    disk (:func:`grade_submission` unpacks it once per machine)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.name != "ok":
                tar.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return buf.getvalue()


def _unpack_template(bundle: bytes) -> Path:
    """Unpack a :func:`pack_template` bundle into this machine's cache (once per bundle)."""
    digest = hashlib.sha256(bundle).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"relu-course-{os.getuid()}" / f"template-{digest}"
    if cache.is_dir():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="unpack-", dir=cache.parent))
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        # the coordinator packed it; the "data" filter (Python >= 3.11.4) guards anyway
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp, **safe)  # noqa: S202
    try:
        tmp.rename(cache)  # atomic: another thread or process may have won the race
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return cache


def grade_submission(job: Job, template: Path | bytes, workroot: Path | None = None) -> Verdict:
    """Grade one submission: copy the template's gradebook and support files into a
    private folder below ``workroot`` (default: the system's temporary folder), repair the
    notebook against the released one (:mod:`.repair`), run :func:`autograde_one` (the
    sandbox and the clean re-verification), and delete the folder.

    Never raises for a bad submission or a grader bug: a corrupt file scores 0
    (``corrupt``), an exception scores 0 (``error``, retried by the next run).
    """
    start = time.perf_counter()
    if workroot is not None:
        workroot.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"grade-{job.student}-", dir=workroot))
    try:
        folder = template if isinstance(template, Path) else _unpack_template(template)
        verdict = _grade_in(job, folder, scratch)
    except Exception as err:  # noqa: BLE001 - a bug or an nbgrader crash must not stop the class
        verdict = Verdict(zero_result(job, "error", f"{type(err).__name__}: {err}"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    verdict.result.seconds = time.perf_counter() - start
    return verdict


def _grade_in(job: Job, template: Path, scratch: Path) -> Verdict:
    from .course import Course
    from .repair import CorruptSubmission, Repair, repair_file

    a, sid = job.assignment, job.student
    # the course as autograde_one reads it: source, release and the file as handed in
    course = Course(scratch / "course", job.source_directory, job.release_directory)
    for sub in (job.source_directory, job.release_directory):
        shutil.copytree(template / sub / a, course.root / sub / a)
    handed_in = course.submitted_notebook(a, sid)
    handed_in.parent.mkdir(parents=True)
    handed_in.write_bytes(job.submission)
    # the private nbgrader course: this assignment's gradebook, support files, no solutions
    work = scratch / "work"
    work.mkdir()
    shutil.copy2(template / "gradebook.db", work / "gradebook.db")
    shutil.copytree(
        template / job.source_directory / a,
        work / job.source_directory / a,
        ignore=shutil.ignore_patterns("*.ipynb"),
    )
    target = work / "submitted" / sid / a / f"{a}.ipynb"
    repairs: list[Repair] = []
    if job.renamed_from:
        repairs.append(Repair("renamed", "", f"handed in as {job.renamed_from!r}"))
    notebook = None
    try:
        repairs += repair_file(handed_in, course.release_notebook(a), target)
    except CorruptSubmission as err:
        result = zero_result(job, "corrupt", str(err))
    else:
        result = autograde_one(
            course,
            a,
            sid,
            work,
            course_id=job.course_id,
            source_directory=job.source_directory,
            cell_timeout=job.cell_timeout,
            sandbox=job.sandbox,
            isolate=job.isolate,
        )
        result.key = job.key
        if not result.grades:
            result.grades = zero_result(job, "", "").grades
        if result.autograded:
            notebook = Path(result.autograded).read_bytes()
            result.autograded = None
    result.repairs = [r.as_dict() for r in repairs]
    return Verdict(result, notebook)
