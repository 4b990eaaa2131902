"""The course's nbgrader gradebook: make sure an assignment is in it, merge graded
results into it atomically, and export grades.

Merging never half-writes ``gradebook.db``: the database is first backed up to
``.relu-course/backups/``, then copied (SQLite's online backup), the copy is updated
with nbgrader's own :class:`nbgrader.api.Gradebook`, and the copy replaces the original
with one ``os.replace``. ``nbgrader export`` and the formgrader read the result as if
nbgrader had graded every submission itself.
"""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

from .course import Course, CourseError, run_nbgrader
from .run import Result

__all__ = [
    "course_id",
    "ensure_assignment",
    "grade_cells",
    "merge_results",
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


def ensure_assignment(course: Course, assignment: str) -> dict[str, float]:
    """Make sure ``gradebook.db`` knows ``assignment`` and its graded cells.

    When it does not, runs ``nbgrader generate_assignment`` with the release folder
    pointed at a temporary folder, so ``exercises/`` is left as it is.
    """
    cells = grade_cells(course.db_url, course_id(course), assignment)
    if cells:
        return cells
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
    _sqlite_copy(course.gradebook, dest)
    for old in sorted(folder.glob("gradebook-*.db"))[:-KEEP_BACKUPS]:
        old.unlink()
    return dest


def _sqlite_copy(src: Path, dest: Path) -> None:
    with sqlite3.connect(src) as a, sqlite3.connect(dest) as b:
        a.backup(b)
    a.close()
    b.close()


def merge_results(course: Course, assignment: str, results: Iterable[Result]) -> Path | None:
    """Write graded results into ``gradebook.db`` all at once.

    Each student's earlier submission row (if any) is replaced. Submissions that need a
    human are flagged (nbgrader's formgrader shows the flag). Returns the backup's path.
    """
    from nbgrader.api import Gradebook, MissingEntry

    results = list(results)
    if not results:
        return None
    ensure_assignment(course, assignment)
    saved = backup(course)
    work = course.gradebook.with_name("gradebook.db.merging")
    work.unlink(missing_ok=True)
    _sqlite_copy(course.gradebook, work)
    with warnings.catch_warnings(), Gradebook(f"sqlite:///{work}", course_id(course)) as gb:
        warnings.simplefilter("ignore")  # nbgrader's add_submission trips SQLAlchemy warnings
        for res in results:
            gb.update_or_create_student(res.student)
            try:
                gb.remove_submission(assignment, res.student)
            except MissingEntry:
                pass
            submission = gb.add_submission(assignment, res.student)
            scores = {g.name: g for g in res.grades}
            for notebook in submission.notebooks:
                notebook.flagged = res.needs_review
                for grade in notebook.grades:
                    got = scores.get(grade.name)
                    grade.auto_score = got.score if got is not None else 0.0
                    grade.needs_manual_grade = bool(got and got.needs_manual_grade)
                for comment in notebook.comments:
                    comment.auto_comment = res.comments.get(comment.name)
        gb.db.commit()
    work.replace(course.gradebook)
    return saved


def export_rows(course: Course, assignment: str | None = None) -> list[dict[str, str]]:
    """Grades as ``nbgrader export`` writes them (same columns, same values, all students
    of the gradebook, 0 for a missing submission), plus ``needs_review`` and
    ``grading_mode`` (how the student's code ran: ``bubblewrap``, ``unsandboxed``, ...)."""
    from nbgrader.api import Gradebook, MissingEntry

    from .grade import load_results

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
