"""Per-student feedback HTML that never shows hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook, test cells included,
and nbgrader restores the hidden tests into those cells before grading. So feedback is
rendered from sanitised copies: in each cell the ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS`` region is replaced by one comment line, and error tracebacks of
such cells are cut to their last line (a traceback quotes the failing source line). The
``autograded/`` notebooks themselves are left untouched for the formgrader. Every
rendered page is then searched for each hidden test line; a page that still contains
one is deleted and reported.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import Course, CourseError, run_nbgrader

__all__ = ["HIDDEN_NOTE", "strip_hidden", "hidden_lines", "generate_feedback", "FeedbackReport"]

HIDDEN_NOTE = "# (hidden tests ran here; they are not shown)"
_TAG = re.compile(r"<[^>]+>")
_HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*", re.DOTALL)


def hidden_lines(source: str) -> list[str]:
    """The non-trivial lines inside hidden-test regions of ``source``.

    >>> hidden_lines("a = 1\\n### BEGIN HIDDEN TESTS\\nassert f(2) == 4\\n### END HIDDEN TESTS")
    ['assert f(2) == 4']
    """
    found = []
    for block in _HIDDEN.findall(source):
        for line in block.splitlines()[1:-1]:
            if len(line.strip()) >= 8:
                found.append(line.strip())
    return found


def strip_hidden(nb: nbformat.NotebookNode) -> int:
    """Remove hidden-test regions (and the tracebacks of their cells) in place; returns
    how many cells were changed.

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> nb = new_notebook(cells=[new_code_cell("x\\n### BEGIN HIDDEN TESTS\\nsecret\\n"
    ...                                          "### END HIDDEN TESTS")])
    >>> strip_hidden(nb), nb.cells[0].source
    (1, 'x\\n# (hidden tests ran here; they are not shown)')
    """
    changed = 0
    for cell in nb.cells:
        if "### BEGIN HIDDEN TESTS" not in cell.source:
            continue
        cell.source = _HIDDEN.sub(HIDDEN_NOTE, cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        changed += 1
    return changed


@dataclass
class FeedbackReport:
    written: list[Path] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    log: str = ""


def generate_feedback(
    course: Course, assignment: str, students: list[str] | None = None
) -> FeedbackReport:
    """Render ``feedback/<student>/<assignment>/<assignment>.html`` for every autograded
    submission (or only ``students``) with nbgrader, hidden tests removed."""
    course.check_assignment(assignment)
    graded = sorted(
        p.name
        for p in (course.root / "autograded").glob("*")
        if course.autograded_notebook(assignment, p.name).is_file()
    )
    if students:
        graded = [s for s in graded if s in students]
    if not graded:
        raise CourseError(
            f"no autograded submissions of {assignment}: run relu-course grade {assignment} first"
        )
    source = nbformat.read(course.source_notebook(assignment), as_version=4)
    secrets = hidden_lines("\n".join(cell.source for cell in source.cells))
    report = FeedbackReport()
    with tempfile.TemporaryDirectory(prefix="relu-course-feedback-") as tmp:
        for sid in graded:
            src = course.autograded_notebook(assignment, sid)
            dest = Path(tmp) / sid / assignment
            # nbgrader leaves autograded files read-only (0444): copy the content only,
            # so that a grader who is not root can strip the copy
            shutil.copytree(src.parent, dest, copy_function=shutil.copyfile)
            nb = nbformat.read(dest / src.name, as_version=4)
            strip_hidden(nb)
            nbformat.write(nb, dest / src.name)
        # only the copies in tmp are rendered, so `students` needs no --student flag
        args = ["generate_feedback", assignment, "--force"]
        proc = run_nbgrader([*args, f"--CourseDirectory.autograded_directory={tmp}"], course.root)
        report.log = proc.stdout + proc.stderr
    for sid in graded:
        page = course.feedback_dir(assignment, sid) / f"{assignment}.html"
        if not page.exists():
            continue
        text = html.unescape(_TAG.sub("", page.read_text(encoding="utf-8")))
        if any(line in text for line in secrets):
            page.unlink()
            report.leaked.append(sid)
        else:
            report.written.append(page)
    if proc.returncode != 0 and not report.written:
        raise CourseError(f"nbgrader generate_feedback failed:\n{proc.stderr.strip()[-2000:]}")
    return report
