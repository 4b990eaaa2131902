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
import math
from pathlib import Path

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Enum, Float, Integer

from .course import Course, CourseError

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


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's late-penalty plugin with one more method, ``per_day``: each started
    day late costs ``percent_per_day`` percent of the score, and past ``max_days_late``
    days (0: no limit) the score is 0.

    >>> p = LatePenalty(penalty_method="per_day", percent_per_day=10, max_days_late=3)
    >>> p.late_submission_penalty("ada", 20.0, 3600), p.late_submission_penalty("ada", 20.0, 4e5)
    (2.0, 20.0)
    """

    penalty_method = Enum(
        ("none", "zero", "per_day"),
        default_value="none",
        help="'none': no penalty; 'zero': a late notebook scores 0; 'per_day': "
        "percent_per_day of the score per started day late",
    ).tag(config=True)
    percent_per_day = Float(10.0, help="percent of the score lost per started day").tag(config=True)
    max_days_late = Integer(0, help="days after which the score is 0 (0: never)").tag(config=True)

    def late_submission_penalty(
        self, student_id: str, score: float, total_seconds_late: float
    ) -> float | None:
        if total_seconds_late <= 0:
            return None
        if self.penalty_method != "per_day":
            return super().late_submission_penalty(student_id, score, total_seconds_late)
        days = math.ceil(total_seconds_late / 86400)
        if self.max_days_late and days > self.max_days_late:
            return score
        return min(score, score * self.percent_per_day / 100.0 * days)

    def describe(self) -> str:
        if self.penalty_method == "zero":
            return "a late submission scores 0"
        if self.penalty_method == "per_day":
            cap = f", 0 after {self.max_days_late} days" if self.max_days_late else ""
            return f"{self.percent_per_day:g}% of the score per started day late{cap}"
        return "no penalty (AssignLatePenalties is not configured)"


def late_plugin(course: Course) -> LateSubmissionPlugin:
    """The late-penalty plugin the course's ``nbgrader_config.py`` configures."""
    from traitlets.config.loader import PyFileConfigLoader
    from traitlets.utils.importstring import import_item

    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()
    cls = cfg.AssignLatePenalties.get("plugin_class", LateSubmissionPlugin)
    if isinstance(cls, str):
        cls = import_item(cls)
    return cls(config=cfg)


def parse_when(text: str) -> dt.datetime:
    """A date or date-time typed by an instructor, as naive UTC (nbgrader's convention).

    >>> parse_when("2026-10-05 23:59")
    datetime.datetime(2026, 10, 5, 23, 59)
    >>> parse_when("2026-10-05")
    datetime.datetime(2026, 10, 5, 23, 59, 59)
    """
    from nbgrader.utils import parse_utc

    try:
        when = parse_utc(text)
    except Exception:  # noqa: BLE001  (dateutil raises several types)
        raise CourseError(
            f"cannot read the date {text!r}: write it as YYYY-MM-DD or 'YYYY-MM-DD HH:MM' "
            "(UTC, or add a zone like +02:00)"
        ) from None
    if len(text.strip()) <= 10:  # a bare date means the end of that day
        when = when.replace(hour=23, minute=59, second=59)
    return when


def _timestamp_file(course: Course, assignment: str, student: str) -> Path:
    return course.submitted_notebook(assignment, student).parent / "timestamp.txt"


def write_timestamp(course: Course, assignment: str, student: str, when: dt.datetime) -> None:
    """Write nbgrader's ``timestamp.txt`` (UTC) next to a submitted notebook."""
    path = _timestamp_file(course, assignment, student)
    path.write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC"), encoding="utf-8")


def read_timestamp(course: Course, assignment: str, student: str) -> dt.datetime | None:
    """The submission time in ``timestamp.txt`` (naive UTC), or None."""
    from nbgrader.utils import parse_utc

    path = _timestamp_file(course, assignment, student)
    try:
        return parse_utc(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None


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


def _extensions_path(course: Course) -> Path:
    return course.state_dir / "extensions.json"


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
    path = _extensions_path(course)
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


def _extension_days(course: Course, assignment: str, student: str) -> float | None:
    path = _extensions_path(course)
    if not path.exists():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get(assignment, {}).get(student)


def apply_late_policy(course: Course, gb, submission, extension: float | None = None) -> None:  # noqa: ANN001
    """Set a submission's timestamp, extension and late penalty (per notebook, as
    nbgrader's AssignLatePenalties does) in an open nbgrader Gradebook session."""
    assignment, student = submission.assignment.name, submission.student.id
    when = read_timestamp(course, assignment, student)
    if when is not None:
        submission.timestamp = when
    days = extension if extension is not None else _extension_days(course, assignment, student)
    if days:
        submission.extension = dt.timedelta(days=days)
    elif days == 0:
        submission.extension = None
    due = submission.assignment.duedate
    late = 0.0
    if due is not None and submission.timestamp is not None:
        due = due + (submission.extension or dt.timedelta())
        late = max(0.0, (submission.timestamp - due).total_seconds())
    plugin = late_plugin(course) if late > 0 else None
    for nb in submission.notebooks:
        penalty = None
        if plugin is not None:
            score = sum(
                (g.manual_score if g.manual_score is not None else g.auto_score or 0.0)
                + (g.extra_credit or 0.0)
                for g in nb.grades
            )
            penalty = plugin.late_submission_penalty(student, score, late)
            penalty = None if penalty is None else max(0.0, min(penalty, score))
        nb.late_submission_penalty = penalty


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
