"""Grades out of ``gradebook.db`` in the format an LMS imports.

- ``canvas``: Canvas's gradebook import CSV: ``Student`` ("Last, First"), ``ID`` (the
  Canvas user id: the roster's ``lms_id``), ``SIS User ID`` (the student id), ``SIS Login
  ID`` (the email), ``Section``, then one column per assignment headed ``Name (id)``
  when its Canvas id is given (``--lms-id ps1_activations=123``), else ``Name``; a
  ``Points Possible`` row follows the header.
- ``moodle``: Moodle's grade import CSV: an identifier column (``Email address``, also
  ``ID number`` = the student id), names, then one column per assignment.
- ``nbgrader``: the columns and values of ``nbgrader export`` plus ``needs_review`` and
  ``grading_mode`` (how the student's code ran: ``bubblewrap``, ``unsandboxed``, ...).

Every student of the gradebook (the roster, once ``collect --roster`` stored it) gets a
row; one who did not submit gets 0, or an empty cell with ``missing="blank"``. The score
is nbgrader's: autograded or manual score plus extra credit, minus the late penalty.
Rows are sorted by last name, first name and id.
"""

from __future__ import annotations

import csv
import io

from .course import Course, CourseError
from .gradebook import EXPORT_COLUMNS, course_id, export_rows

__all__ = ["FORMATS", "export_text"]

FORMATS = ("nbgrader", "canvas", "moodle")


def _table(course: Course, assignment: str | None, missing: str):
    """(assignments [(name, max score)], students [(student, {assignment: score})])."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(course.db_url, course_id(course)) as gb:
        found = [a for a in gb.assignments if assignment is None or a.name == assignment]
        if assignment is not None and not found:
            raise CourseError(
                f"{assignment} is not in {course.gradebook} yet: grade it first "
                f"(relu-course grade {assignment})"
            )
        heads = [(a.name, float(a.max_score)) for a in sorted(found, key=lambda a: a.name)]
        people = []
        for student in gb.students:
            scores: dict[str, str] = {}
            for name, _ in heads:
                try:
                    sub = gb.find_submission(name, student.id)
                except MissingEntry:
                    scores[name] = "" if missing == "blank" else "0"
                    continue
                score = max(0.0, sub.score - (sub.late_submission_penalty or 0.0))
                scores[name] = f"{score:g}"
            info = {
                "id": student.id,
                "first": student.first_name or "",
                "last": student.last_name or "",
                "email": student.email or "",
                "lms": student.lms_user_id or "",
            }
            people.append((info, scores))
    people.sort(key=lambda p: (p[0]["last"].lower(), p[0]["first"].lower(), p[0]["id"]))
    return heads, people


def export_text(
    course: Course,
    assignment: str | None = None,
    *,
    fmt: str = "nbgrader",
    missing: str = "zero",
    lms_ids: dict[str, str] | None = None,
) -> tuple[str, int]:
    """The CSV text of one export format and its number of student rows."""
    if fmt not in FORMATS:
        raise CourseError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if fmt == "nbgrader":
        rows = export_rows(course, assignment)
        for row in rows:
            if missing == "blank" and not row["timestamp"] and row["needs_review"] == "":
                row.update(raw_score="", score="")
        rows.sort(key=lambda r: (r["assignment"], r["student_id"]))
        columns = [*EXPORT_COLUMNS, "needs_review", "grading_mode"]
        dict_writer = csv.DictWriter(out, columns, lineterminator="\n")
        dict_writer.writeheader()
        dict_writer.writerows(rows)
        return out.getvalue(), len(rows)
    heads, people = _table(course, assignment, missing)
    lms_ids = lms_ids or {}
    if fmt == "canvas":
        names = [f"{n} ({lms_ids[n]})" if n in lms_ids else n for n, _ in heads]
        writer.writerow(["Student", "ID", "SIS User ID", "SIS Login ID", "Section", *names])
        writer.writerow(["Points Possible", "", "", "", "", *(f"{m:g}" for _, m in heads)])
        for info, scores in people:
            name = ", ".join(x for x in (info["last"], info["first"]) if x) or info["id"]
            row = [name, info["lms"], info["id"], info["email"], ""]
            writer.writerow([*row, *(scores[n] for n, _ in heads)])
    else:
        header = ["Email address", "ID number", "First name", "Last name"]
        writer.writerow([*header, *(n for n, _ in heads)])
        for info, scores in people:
            row = [info["email"], info["id"], info["first"], info["last"]]
            writer.writerow([*row, *(scores[n] for n, _ in heads)])
    return out.getvalue(), len(people)
