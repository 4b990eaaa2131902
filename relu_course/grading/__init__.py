"""The instructor workflow behind the ``relu-course`` command (nbgrader underneath).

One module per step::

    course     where a course lives, calling nbgrader
    release    generate exercises/ from solutions/ and check them
    collect    LMS exports (Canvas, Moodle, folders) -> submitted/
    repair     match damaged submissions to the release, restore metadata
    run        autograde_one: the single place student code executes
    grade      parallel, resumable grading of a class
    gradebook  atomic merge into gradebook.db, export
    feedback   feedback HTML without hidden tests
    report     pass rates, histogram, who needs a human
    workflow   all steps in one call; demo: the shipped demo class; toy: a tiny course

Submodules are imported on use, so ``import relu_course.grading`` does not import
nbgrader.
"""

from __future__ import annotations

__all__ = [
    "collect",
    "course",
    "demo",
    "feedback",
    "grade",
    "gradebook",
    "release",
    "repair",
    "report",
    "run",
    "toy",
    "workflow",
]
