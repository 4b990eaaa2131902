"""``relu-course demo``: the whole instructor workflow on the shipped demo class.

Copies ps1_activations (source and release) and the demo LMS export (``demo/`` of the
repository, built by ``demo/make_demo.py``) into a fresh course folder, then runs
collect, grade, feedback, export and report, and compares every score with
``demo/expected.json``. It grades with the best sandbox the machine gives and, where
there is none, prints a warning and grades unsandboxed (resource limits only).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .course import Course, CourseError, find_course
from .workflow import run_all

__all__ = ["DEMO_ASSIGNMENT", "demo_dir", "make_demo_course", "run_demo"]

DEMO_ASSIGNMENT = "ps1_activations"


def demo_dir() -> Path:
    """The repository's ``demo/`` folder (shipped with the source tree)."""
    here = Path(__file__).resolve().parents[2] / "demo"
    if not (here / "lms_export").is_dir():
        raise CourseError(
            f"the demo class is missing ({here}/lms_export): run relu-course demo from a "
            "clone of the relu-course repository, or python demo/make_demo.py"
        )
    return here


def make_demo_course(folder: Path) -> Course:
    """A new course in ``folder`` with ps1_activations released (exercises/ copied)."""
    repo = demo_dir().parent
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise CourseError(f"{folder} is not empty: give a new or empty folder for the demo")
    shutil.copy2(repo / "nbgrader_config.py", folder / "nbgrader_config.py")
    for sub in ("solutions", "exercises"):
        shutil.copytree(repo / sub / DEMO_ASSIGNMENT, folder / sub / DEMO_ASSIGNMENT)
    return find_course(folder)


def run_demo(folder: Path | None = None, *, jobs: int | None = None) -> int:
    """Build the demo course and run the workflow; returns 0 when every score matches."""
    from relu_course.grading.sandbox import INSTALL_HINT, isolation

    folder = folder or Path(tempfile.mkdtemp(prefix="relu-course-demo-"))
    course = make_demo_course(folder)
    here = demo_dir()
    print(f"demo course: {course.root}")
    found = isolation()
    if found.isolated:
        print(f"sandbox: {found.mode} (relu-course doctor lists each protection)")
    else:
        print(
            f"WARNING: no sandbox on this machine ({found.why_not}): the demo grades "
            "UNSANDBOXED, with resource limits only (fine for the shipped demo class, not "
            f"for real students); to grade real classes, {INSTALL_HINT}"
        )
    outputs = run_all(course, DEMO_ASSIGNMENT, here / "lms_export", here / "roster.csv", jobs=jobs)
    expected = json.loads((here / "expected.json").read_text(encoding="utf-8"))
    bad = 0
    print("\nstudent      score  expected  review  note")
    for sid, want in sorted(expected.items()):
        res = outputs.results.get(sid)
        got = res.score if res else None
        ok = res is not None and abs(got - want["score"]) < 1e-9
        ok = ok and res.needs_review == want["review"]
        bad += not ok
        flag = "ok" if ok else "MISMATCH"
        print(
            f"{sid:10s} {got!s:>7} {want['score']:9g}  {str(res and res.needs_review):6s}  "
            f"{flag}: {want['note']}"
        )
    print("\noutputs:")
    for label, path in outputs.paths.items():
        print(f"  {label:10s} {path}")
    print("all scores as expected" if not bad else f"{bad} score(s) differ from expected.json")
    return 0 if not bad else 1
