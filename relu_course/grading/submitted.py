"""Account for every folder under ``submitted/``: graded, repaired, or listed with a reason.

``nbgrader``'s layout is ``submitted/<student>/<assignment>/<assignment>.ipynb``. A
notebook that arrived under another name (nbgrader's exchange keeps the student's file
name; a TA may copy one in by hand) is renamed to ``<assignment>.ipynb`` with the rule
``collect`` uses (:func:`relu_course.grading.collect.pick_notebook`), and the rename is
recorded for review. Every other folder is listed with the reason it was not graded, in
``.relu-course/state/<assignment>.not_graded.json``, which the class report reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .collect import pick_notebook
from .course import Course

__all__ = ["Sweep", "load_not_graded", "sweep_submitted"]


@dataclass
class Sweep:
    """What :func:`sweep_submitted` found: renames done and folders left ungraded."""

    renamed: dict[str, str] = field(default_factory=dict)  # student -> original file name
    not_graded: list[tuple[str, str]] = field(default_factory=list)  # (folder, why)


def _not_graded_path(course: Course, assignment: str) -> Path:
    return course.state_dir / "state" / f"{assignment}.not_graded.json"


def load_not_graded(course: Course, assignment: str) -> list[tuple[str, str]]:
    """The folders the last ``grade`` run could not grade, with the reason."""
    path = _not_graded_path(course, assignment)
    if not path.exists():
        return []
    return [(who, why) for who, why in json.loads(path.read_text(encoding="utf-8"))]


def sweep_submitted(course: Course, assignment: str, *, dry_run: bool = False) -> Sweep:
    """Rename misnamed notebooks in ``submitted/*/<assignment>/`` and list the folders
    that cannot be graded; writes the list (unless ``dry_run``) for the class report.

    Examples
    --------
    >>> import tempfile
    >>> from relu_course.grading.course import Course
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "submitted/ada/ps1").mkdir(parents=True)
    >>> _ = (root / "submitted/ada/ps1/Copy of ps1 (2).ipynb").write_text("{}")
    >>> (root / "submitted/bob").mkdir()
    >>> sweep = sweep_submitted(Course(root), "ps1")
    >>> sweep.renamed, sweep.not_graded
    ({'ada': 'Copy of ps1 (2).ipynb'}, [('bob', 'no ps1/ folder in submitted/bob')])
    >>> (root / "submitted/ada/ps1/ps1.ipynb").is_file()
    True
    """
    sweep = Sweep()
    top = course.root / "submitted"
    for folder in sorted(top.iterdir()) if top.is_dir() else []:
        who = folder.name
        if who.startswith("."):
            continue
        if not folder.is_dir():
            sweep.not_graded.append((who, "a file, not a student folder, in submitted/"))
            continue
        target = course.submitted_notebook(assignment, who)
        if target.is_file():
            continue
        if not target.parent.is_dir():
            sweep.not_graded.append((who, f"no {assignment}/ folder in submitted/{who}"))
            continue
        found = sorted(
            p
            for p in target.parent.iterdir()
            if p.is_file() and p.name.lower().endswith(".ipynb") and not p.name.startswith(".")
        )
        index = pick_notebook(assignment, [(p.name, p.read_bytes()) for p in found])
        if index is None:
            names = ", ".join(p.name for p in found) or "no notebook"
            sweep.not_graded.append(
                (
                    who,
                    f"submitted/{who}/{assignment}/ holds {names}: relu-course cannot tell "
                    f"which is {assignment}.ipynb; rename the right one and grade again",
                )
            )
            continue
        if not dry_run:
            os.replace(found[index], target)
        sweep.renamed[who] = found[index].name
    if not dry_run:
        path = _not_graded_path(course, assignment)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sweep.not_graded, indent=1), encoding="utf-8")
    return sweep
