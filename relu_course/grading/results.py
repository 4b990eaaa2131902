"""Where grading keeps its merged results, and reading them back.

``.relu-course/state/<assignment>.json`` holds every student's last merged
:class:`.run.Result`; ``<assignment>.recheck.json`` the manual grades to look at again.
:mod:`.grade` writes them; the gradebook, feedback and report steps read them here, so no
step needs to import the grading loop.
"""

from __future__ import annotations

import json
from pathlib import Path

from .course import Course
from .run import Result

__all__ = ["load_results", "recheck_path", "state_path"]


def state_path(course: Course, assignment: str) -> Path:
    """The file of every student's merged result for ``assignment``."""
    return course.state_dir / "state" / f"{assignment}.json"


def recheck_path(course: Course, assignment: str) -> Path:
    """The file of the manual grades to look at again for ``assignment``."""
    return course.state_dir / "state" / f"{assignment}.recheck.json"


def load_results(course: Course, assignment: str) -> dict[str, Result]:
    """The merged result of every student (as last graded), by student id."""
    path = state_path(course, assignment)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {sid: Result.from_dict(r) for sid, r in data.items()}
