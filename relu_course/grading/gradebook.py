"""The course's nbgrader gradebook: make sure an assignment is in it, merge graded
results into it atomically, and export grades.

Merging never half-writes ``gradebook.db``: the database is first backed up to
``.relu-course/backups/`` (SQLite's online backup), then updated in place with nbgrader's
own models in ONE transaction, so a crash or a full disk leaves it as it was and a
formgrader that has it open keeps writing to the same file. Only the autograded part of
a submission is rewritten; manual scores, extra credit and comments are kept. What was
graded (a key per submission, a hash per graded cell) is stored in the database itself
(table ``relu_course_graded``, which nbgrader ignores), so the gradebook is the truth of
what needs grading. ``nbgrader export`` and the formgrader read the result as if
nbgrader had graded every submission itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .course import Course, CourseError, run_nbgrader
from .run import Result

__all__ = [
    "course_id",
    "ensure_assignment",
    "grade_cells",
    "merge_results",
    "graded_keys",
    "roster_rows",
    "store_students",
    "edit_gradebook",
    "check_gradebook",
    "cell_hashes",
    "Recheck",
    "RETRY_STATUSES",
    "backup",
    "export_rows",
    "export_csv",
    "EXPORT_COLUMNS",
]

EXPORT_COLUMNS = [
    "assignment",
    "duedate",
    "timestamp",
    "student_id",
    "last_name",
    "first_name",
    "email",
    "raw_score",
    "late_submission_penalty",
    "score",
    "max_score",
]
KEEP_BACKUPS = 20


def course_id(course: Course) -> str:
    """The ``CourseDirectory.course_id`` of the course's nbgrader_config.py."""
    config = (course.root / "nbgrader_config.py").read_text(encoding="utf-8")
    match = re.search(r"CourseDirectory\.course_id\s*=\s*['\"]([^'\"]+)['\"]", config)
    return match.group(1) if match else "default_course"


def grade_cells(db_url: str, cid: str, assignment: str) -> dict[str, float]:
    """Grade cell name -> max score of ``assignment`` in a gradebook ({} if absent)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, cid) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            return {}
        return {g.name: float(g.max_score) for nb in found.notebooks for g in nb.grade_cells}


def ensure_assignment(course: Course, assignment: str, *, update: bool = False) -> dict[str, float]:
    """Make sure ``gradebook.db`` knows ``assignment`` and its graded cells (with
    ``update``: as the source has them now, after tests or points changed).

    When it does not, runs ``nbgrader generate_assignment`` with the release folder
    pointed at a temporary folder, so ``exercises/`` is left as it is.
    """
    cells = grade_cells(course.db_url, course_id(course), assignment)
    if cells and not update:
        return cells
    if course.gradebook.exists():
        backup(course)
    with tempfile.TemporaryDirectory(prefix="relu-course-release-") as tmp:
        proc = run_nbgrader(
            [
                "generate_assignment",
                assignment,
                "--force",
                f"--CourseDirectory.release_directory={tmp}",
            ],
            course.root,
        )
    cells = grade_cells(course.db_url, course_id(course), assignment)
    if proc.returncode != 0 or not cells:
        raise CourseError(
            f"could not add {assignment} to {course.gradebook}: nbgrader generate_assignment "
            f"said:\n{proc.stderr.strip()[-2000:]}\nFix the source notebook, then run "
            f"relu-course release {assignment}"
        )
    return cells


def backup(course: Course) -> Path | None:
    """Copy ``gradebook.db`` to ``.relu-course/backups/gradebook-<time>.db`` (SQLite's
    online backup, safe while nbgrader has it open); keeps the newest 20."""
    if not course.gradebook.exists():
        return None
    folder = course.state_dir / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"gradebook-{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**6:06d}.db"
    sqlite_copy(course.gradebook, dest)
    for old in sorted(folder.glob("gradebook-*.db"))[:-KEEP_BACKUPS]:
        old.unlink()
    return dest


def sqlite_copy(src: Path, dest: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)
    a.close()
    b.close()


TABLE = "relu_course_graded"  # our own table in gradebook.db (nbgrader ignores it)
RETRY_STATUSES = {"error"}  # failures of the grader, not of the submission: always retried


@dataclass
class Recheck:
    """Manual work (score, extra credit or comment) kept on a cell that changed."""

    student: str
    cell: str
    what: str
    why: str

    def line(self) -> str:
        return f"{self.student} {self.cell}: {self.what} kept, but {self.why}: check it"


def check_gradebook(course: Course) -> None:
    """Raise :class:`CourseError` (pointing to the backups) when ``gradebook.db`` is not a
    readable SQLite database."""
    if not course.gradebook.exists():
        return
    try:
        with sqlite3.connect(f"file:{course.gradebook}?mode=ro", uri=True) as db:
            ok = db.execute("PRAGMA quick_check").fetchone()[0]
        db.close()
    except sqlite3.DatabaseError as err:
        ok = str(err)
    if ok != "ok":
        raise CourseError(
            f"{course.gradebook} is damaged ({ok}); nothing was changed: run "
            "relu-course restore to list the backups, then relu-course restore BACKUP"
        )


def graded_keys(course: Course, assignment: str) -> dict[str, dict[str, str]]:
    """What ``gradebook.db`` says was graded: student -> {key, status, cells (JSON)}."""
    if not course.gradebook.exists():
        return {}
    with sqlite3.connect(course.gradebook) as db:
        rows = _graded_rows(db, assignment)
    db.close()
    return rows


def _graded_rows(db: sqlite3.Connection, assignment: str) -> dict[str, dict[str, str]]:
    have = db.execute("SELECT name FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone()
    if not have:
        return {}
    rows = db.execute(
        f"SELECT student, key, status, cells FROM {TABLE} WHERE assignment = ?", (assignment,)
    )
    return {s: {"key": k, "status": st, "cells": c} for s, k, st, c in rows}


def cell_hashes(notebook: Path | None, names: Iterable[str]) -> dict[str, str]:
    """Per graded cell, a hash of what its grade depends on in a submission: the cell
    itself and the answer cell it tests (``test_relu`` -> ``relu``). {} without a file."""
    import nbformat

    if notebook is None or not Path(notebook).exists():
        return {}
    try:
        nb = nbformat.read(notebook, as_version=4)
    except Exception:  # noqa: BLE001  (an unreadable notebook has no cells to compare)
        return {}
    by_id = {}
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid:
            by_id[gid] = cell.source
    out = {}
    for name in names:
        parts = [by_id.get(name, ""), by_id.get(name.removeprefix("test_"), "")]
        out[name] = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return out


def _ensure_rows(gb, submission) -> None:  # noqa: ANN001
    """Add the grade and comment rows a submission lacks (cells added to the source
    after it was first graded)."""
    from nbgrader.api import Comment, Grade, SubmittedNotebook

    have = {nb.name: nb for nb in submission.notebooks}
    for notebook in submission.assignment.notebooks:
        nb = have.get(notebook.name)
        if nb is None:
            nb = SubmittedNotebook(notebook=notebook, assignment=submission)
            gb.db.add(nb)
        grades = {g.name for g in nb.grades}
        comments = {c.name for c in nb.comments}
        for cell in notebook.grade_cells:
            if cell.name not in grades:
                gb.db.add(Grade(cell_id=cell.id, notebook=nb))
        for cell in [*notebook.solution_cells, *notebook.task_cells]:
            if cell.name not in comments:
                gb.db.add(Comment(cell_id=cell.id, notebook=nb))
    gb.db.flush()


def _manual_work(grade, comment) -> str:  # noqa: ANN001
    parts = []
    if grade is not None and grade.manual_score is not None:
        parts.append(f"manual score {grade.manual_score:g}")
    if grade is not None and grade.extra_credit:
        parts.append(f"extra credit {grade.extra_credit:g}")
    if comment is not None and comment.manual_comment:
        parts.append("comment")
    return ", ".join(parts)


def _merge_one(gb, submission, res: Result, before: dict[str, str], stored: list) -> list:  # noqa: ANN001
    """Write one result's autograded part into ``submission``; returns the manual grades
    to look at again."""
    names = [g.name for nb in submission.notebooks for g in nb.grades]
    cells = cell_hashes(Path(res.autograded) if res.autograded else None, names)
    old_cells = json.loads(before.get("cells") or "{}")
    scores = {g.name: g for g in res.grades}
    recheck = []
    for notebook in submission.notebooks:
        comments = {c.name: c for c in notebook.comments}
        for comment in notebook.comments:
            comment.auto_comment = res.comments.get(comment.name)
        second = []
        for grade in notebook.grades:
            got = scores.get(grade.name)
            grade.auto_score = got.score if got is not None else 0.0
            auto_manual = bool(got and got.needs_manual_grade)
            grade.needs_manual_grade = auto_manual and grade.manual_score is None
            comment = comments.get(grade.name) or comments.get(grade.name.removeprefix("test_"))
            what = _manual_work(grade, comment)
            if not what:
                continue
            if not cells:
                why = f"the submission could not be graded ({res.status})"
            elif grade.name in old_cells and old_cells[grade.name] != cells.get(grade.name):
                why = "the cell changed since it was given"
            else:
                continue
            second.append(Recheck(res.student, grade.name, what, why))
        notebook.flagged = res.needs_review or bool(second)
        recheck += second
    stored.append(
        {
            "assignment": submission.assignment.name,
            "student": res.student,
            "key": res.key,
            "status": res.status,
            "cells": json.dumps(cells),
        }
    )
    return recheck


def merge_results(
    course: Course,
    assignment: str,
    results: Iterable[Result],
    *,
    recheck: list[Recheck] | None = None,
) -> Path | None:
    """Write graded results into ``gradebook.db`` all at once (one transaction, after a
    backup to ``.relu-course/backups/``).

    Only what the autograder owns is rewritten: each grade's ``auto_score``, each
    comment's ``auto_comment``, the flag and the timestamp. Manual scores, extra credit
    and comments entered in the formgrader are kept; where the cell they belong to
    changed since the last grading, they are appended to ``recheck``. Submissions that
    need a human are flagged (nbgrader's formgrader shows the flag). What was graded
    (submission + release key, per-cell hashes) is stored in the same database, so a
    restored or deleted database is regraded where it differs. Returns the backup's path.
    """
    from nbgrader.api import Gradebook, MissingEntry, Student, SubmittedAssignment
    from sqlalchemy import text

    from .late import apply_late_policy

    results = list(results)
    if not results:
        return None
    ensure_assignment(course, assignment)
    saved = backup(course)
    recheck = recheck if recheck is not None else []
    before = graded_keys(course, assignment)
    stored: list[dict[str, str]] = []
    # one SQLite transaction in place (nbgrader's helpers that commit are not used), so
    # a crash or a full disk changes nothing, and a formgrader that has the database
    # open keeps writing to the same file
    with warnings.catch_warnings(), Gradebook(course.db_url, course_id(course)) as gb:
        warnings.simplefilter("ignore")  # nbgrader's models trip SQLAlchemy warnings
        try:
            found = gb.find_assignment(assignment)
            for res in results:
                student = gb.db.get(Student, res.student)
                if student is None:
                    student = Student(id=res.student)
                    gb.db.add(student)
                try:
                    submission = gb.find_submission(assignment, res.student)
                except MissingEntry:
                    submission = SubmittedAssignment(assignment=found, student=student)
                    gb.db.add(submission)
                _ensure_rows(gb, submission)
                recheck += _merge_one(gb, submission, res, before.get(res.student, {}), stored)
                apply_late_policy(course, gb, submission)
            gb.db.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (assignment TEXT, student TEXT, "
                    "key TEXT, status TEXT, cells TEXT, PRIMARY KEY (assignment, student))"
                )
            )
            gb.db.execute(
                text(
                    f"INSERT OR REPLACE INTO {TABLE} VALUES "
                    "(:assignment, :student, :key, :status, :cells)"
                ),
                stored,
            )
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
    return saved


ROSTER_FIELDS = ("first_name", "last_name", "email", "lms_id")


def roster_rows(course: Course) -> list[dict[str, str]]:
    """Every student of ``gradebook.db`` as a roster row (student_id, first_name,
    last_name, email, lms_id)."""
    if not course.gradebook.exists():
        return []
    with sqlite3.connect(course.gradebook) as db:
        rows = db.execute(
            "SELECT id, first_name, last_name, email, lms_user_id FROM student ORDER BY id"
        ).fetchall()
    db.close()
    return [
        dict(zip(("student_id", *ROSTER_FIELDS), (v or "" for v in row), strict=True))
        for row in rows
    ]


def store_students(course: Course, rows: Iterable[dict[str, str]]) -> None:
    """Write a roster (student_id, first_name, last_name, email, lms_id) into nbgrader's
    Student table, atomically (backup, copy, replace)."""
    rows = [r for r in rows if r.get("student_id", "").strip()]
    if not rows:
        return None
    from nbgrader.api import Student

    with edit_gradebook(course) as gb:
        for row in rows:
            sid = row["student_id"].strip()
            student = gb.db.get(Student, sid)
            if student is None:
                student = Student(id=sid)
                gb.db.add(student)
            info = {k: (row.get(k) or "").strip() or None for k in ROSTER_FIELDS}
            student.first_name, student.last_name = info["first_name"], info["last_name"]
            student.email, student.lms_user_id = info["email"], info["lms_id"]


@contextmanager
def edit_gradebook(course: Course) -> Iterator[Any]:
    """An nbgrader ``Gradebook`` on ``gradebook.db`` (after a backup) whose changes are
    committed in one transaction when the block ends without an error; on an error
    nothing is changed. Use only helpers that do not commit on their own."""
    from nbgrader.api import Gradebook

    backup(course)
    with Gradebook(course.db_url, course_id(course)) as gb:
        try:
            yield gb
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise


def export_rows(course: Course, assignment: str | None = None) -> list[dict[str, str]]:
    """Grades as ``nbgrader export`` writes them (same columns, same values, all students
    of the gradebook, 0 for a missing submission), plus ``needs_review`` and
    ``grading_mode`` (how the student's code ran: ``bubblewrap``, ``unsandboxed``, ...)."""
    from nbgrader.api import Gradebook, MissingEntry

    from .results import load_results

    rows = []
    with Gradebook(course.db_url, course_id(course)) as gb:
        names = [a.name for a in gb.assignments]
        if assignment is not None and assignment not in names:
            raise CourseError(
                f"{assignment} is not in {course.gradebook} yet: grade it first "
                f"(relu-course grade {assignment})"
            )
        for found in gb.assignments:
            if assignment is not None and found.name != assignment:
                continue
            modes = {sid: r.mode for sid, r in load_results(course, found.name).items()}
            for student in gb.students:
                row: dict[str, object] = {
                    "assignment": found.name,
                    "duedate": found.duedate,
                    "student_id": student.id,
                    "last_name": student.last_name,
                    "first_name": student.first_name,
                    "email": student.email,
                    "max_score": found.max_score,
                }
                try:
                    sub = gb.find_submission(found.name, student.id)
                except MissingEntry:
                    row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0)
                    row.update(score=0.0, needs_review="", grading_mode="")
                else:
                    penalty = sub.late_submission_penalty
                    row.update(timestamp=sub.timestamp, raw_score=sub.score)
                    row.update(late_submission_penalty=penalty)
                    row.update(score=max(0.0, sub.score - penalty))
                    row["needs_review"] = str(any(nb.flagged for nb in sub.notebooks))
                    row["grading_mode"] = modes.get(student.id, "")
                rows.append({k: "" if v is None else str(v) for k, v in row.items()})
    return rows


def export_csv(course: Course, assignment: str | None = None) -> str:
    """:func:`export_rows` as CSV text (nbgrader's columns first, then ``needs_review`` and
    ``grading_mode``)."""
    out = io.StringIO()
    columns = [*EXPORT_COLUMNS, "needs_review", "grading_mode"]
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(export_rows(course, assignment))
    return out.getvalue()
