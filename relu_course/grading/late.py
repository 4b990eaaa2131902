"""The late policy: submission times, extensions on file, and nbgrader's late-penalty plugin.

Everything here reads files or an open gradebook session it is given; it never opens the
gradebook itself, so :mod:`.gradebook` can apply the policy while it merges, and
:mod:`.deadlines` (which does open the gradebook) builds on it.
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
    "apply_late_policy",
    "extensions_path",
    "late_plugin",
    "parse_when",
    "read_timestamp",
    "write_timestamp",
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


def extensions_path(course: Course) -> Path:
    return course.state_dir / "extensions.json"


def _extension_days(course: Course, assignment: str, student: str) -> float | None:
    path = extensions_path(course)
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
