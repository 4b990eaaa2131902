"""Due dates, extensions, submission times and the late policy.

- A due date per assignment is nbgrader's ``Assignment.duedate`` (``relu-course duedate``).
- An extension per student is nbgrader's ``SubmittedAssignment.extension``
  (``relu-course extend``); one given before the student's submission is graded is kept
  in ``.relu-course/extensions.json`` and written into the gradebook when it is.
- The submission time is ``submitted/<student>/<assignment>/timestamp.txt``, the file
  nbgrader's exchange writes; ``relu-course collect`` writes it from the LMS export
  (the time of the file in the zip or folder).
- The late policy is nbgrader's late-penalty plugin (``AssignLatePenalties.plugin_class``
  in ``nbgrader_config.py``); :class:`LatePenalty` adds a per-day percentage. The same
  plugin applies when nbgrader's own ``autograde`` runs on the course.
"""

from __future__ import annotations

import datetime as dt
import json

from .course import Course
from .late import (
    LatePenalty,
    apply_late_policy,
    extensions_path,
    late_plugin,
    parse_when,
    read_timestamp,
    write_timestamp,
)

__all__ = [
    "LatePenalty",
    "late_plugin",
    "parse_when",
    "read_timestamp",
    "write_timestamp",
    "set_extension",
    "set_duedate",
    "refresh_late",
    "apply_late_policy",
]


def set_duedate(course: Course, assignment: str, when: dt.datetime | None) -> None:
    """Set (or with None clear) nbgrader's due date of ``assignment`` in the gradebook."""
    from .gradebook import edit_gradebook, ensure_assignment

    ensure_assignment(course, assignment)
    with edit_gradebook(course) as gb:
        found = gb.find_assignment(assignment)
        found.duedate = when
        for submission in found.submissions:  # penalties follow the new date at once
            apply_late_policy(course, gb, submission)


def refresh_late(course: Course, assignment: str, students: list[str]) -> None:
    """Apply submission times (``timestamp.txt``) and the late policy to the graded
    submissions of ``students`` (after ``collect`` wrote new times)."""
    from .gradebook import edit_gradebook, graded_keys

    graded = [s for s in students if s in graded_keys(course, assignment)]
    if not graded:
        return
    with edit_gradebook(course) as gb:
        for sid in graded:
            apply_late_policy(course, gb, gb.find_submission(assignment, sid))


def set_extension(course: Course, assignment: str, student: str, days: float) -> bool:
    """Record an extension of ``days`` (0 removes it); written into the gradebook now when
    the submission is there (returns True), else when it is graded."""
    from .gradebook import edit_gradebook, graded_keys

    now = student in graded_keys(course, assignment)
    if now:
        with edit_gradebook(course) as gb:
            submission = gb.find_submission(assignment, student)
            submission.extension = dt.timedelta(days=days) if days else None
            apply_late_policy(course, gb, submission, extension=days)
    path = extensions_path(course)
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    per = data.setdefault(assignment, {})
    if days:
        per[student] = days
    else:
        per.pop(student, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    return now


def late_rows(course: Course, assignment: str) -> tuple[dt.datetime | None, list[dict]]:
    """The due date and, per late submission in the gradebook: student, submitted at,
    due (with extension), hours late, penalty."""
    from nbgrader.api import Gradebook, MissingEntry

    from .gradebook import course_id

    if not course.gradebook.exists():
        return None, []
    with Gradebook(course.db_url, course_id(course)) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            return None, []
        rows = []
        for sub in found.submissions:
            if found.duedate is None or sub.timestamp is None:
                continue
            due = found.duedate + (sub.extension or dt.timedelta())
            late = (sub.timestamp - due).total_seconds()
            if late > 0:
                rows.append(
                    {
                        "student": sub.student.id,
                        "submitted": f"{sub.timestamp:%Y-%m-%d %H:%M}",
                        "due": f"{due:%Y-%m-%d %H:%M}",
                        "hours_late": late / 3600,
                        "penalty": float(sub.late_submission_penalty or 0.0),
                    }
                )
        return found.duedate, sorted(rows, key=lambda r: r["student"])
