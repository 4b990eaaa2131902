"""Per-student feedback HTML that never shows hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook, test cells included,
and nbgrader restores the hidden tests into those cells before grading. So feedback is
rendered from sanitised copies: in each cell the ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS`` region is replaced by one comment line, and error tracebacks of
such cells are cut to their last line (a traceback quotes the failing source line). The
``autograded/`` notebooks themselves are left untouched for the formgrader. Every
rendered page is then searched for each hidden test line (:func:`hidden_lines`: the rule
is :mod:`relu_course.grading.notebook_cells`'s, which the tamper audit uses too); a page
that still contains one is deleted and reported.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool

from .course import Course, CourseError, run_nbgrader
from .notebook_cells import HIDDEN_BEGIN, HIDDEN_NOTE, strip_hidden_tests
from .notebook_cells import hidden_test_lines as hidden_lines

__all__ = [
    "HIDDEN_NOTE",
    "FEEDBACK_CONFIG",
    "StripHiddenTests",
    "strip_hidden",
    "hidden_lines",
    "generate_feedback",
    "FeedbackReport",
]

_TAG = re.compile(r"<[^>]+>")


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
        if HIDDEN_BEGIN not in cell.source:
            continue
        cell.source = strip_hidden_tests(cell.source)
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"]
        changed += 1
    return changed


class StripHiddenTests(Preprocessor):
    """nbconvert preprocessor for nbgrader's own ``GenerateFeedback`` (registered in the
    course's ``nbgrader_config.py``), so ``nbgrader generate_feedback`` and the
    formgrader's feedback button also render pages without hidden tests."""

    enabled = Bool(True).tag(config=True)  # nbconvert skips preprocessors that are not

    def preprocess(self, nb, resources):  # noqa: ANN001, ANN201
        strip_hidden(nb)
        return nb, resources


#: the lines of ``nbgrader_config.py`` that make every feedback route strip hidden tests
FEEDBACK_CONFIG = (
    "c.GenerateFeedback.preprocessors = [\n"
    '    "nbgrader.preprocessors.GetGrades",\n'
    '    "relu_course.grading.feedback.StripHiddenTests",\n'
    '    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",\n'
    "]\n"
)

_UNGRADED_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{assignment}: not graded</title></head>
<body><h1>{assignment}: your submission could not be graded</h1>
<p>Score: {score:g} / {max_score:g}.</p>
<p>Reason: {status}: {message}</p>
<p>What to do: download your notebook from the LMS and open it in Jupyter. If it does not
open or is empty, upload a complete copy of {assignment}.ipynb again; otherwise contact
your instructor, who has been told.</p></body></html>
"""


@dataclass
class FeedbackReport:
    written: list[Path] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    ungraded: list[str] = field(default_factory=list)  # a page that says why
    removed: list[Path] = field(default_factory=list)  # stale pages of no graded submission
    failed: list[str] = field(default_factory=list)  # nbgrader wrote no page
    log: str = ""


def _graded_students(course: Course, assignment: str) -> dict[str, object]:
    """Everyone with a graded submission of ``assignment`` in the gradebook -> the saved
    result (or None)."""
    from .gradebook import graded_keys
    from .results import load_results

    results = load_results(course, assignment)
    return {sid: results.get(sid) for sid in graded_keys(course, assignment)}


def generate_feedback(
    course: Course, assignment: str, students: list[str] | None = None
) -> FeedbackReport:
    """Render ``feedback/<student>/<assignment>/<assignment>.html`` for every graded
    submission (or only ``students``) with nbgrader, hidden tests removed.

    Every page is rendered again from the gradebook (so manual grades and regrades show),
    a submission that could not be graded gets a page saying why and what to do, and a
    page of a student with no graded submission is removed."""
    course.check_assignment(assignment)
    everyone = _graded_students(course, assignment)
    report = FeedbackReport()
    for page in sorted((course.root / "feedback").glob(f"*/{assignment}/{assignment}.html")):
        if page.parent.parent.name not in everyone:
            page.unlink()
            report.removed.append(page)
    wanted = sorted(everyone if not students else [s for s in everyone if s in students])
    if not wanted:
        raise CourseError(
            f"no graded submissions of {assignment}: run relu-course grade {assignment} first"
        )
    graded = [s for s in wanted if course.autograded_notebook(assignment, s).is_file()]
    for sid in wanted:
        (course.feedback_dir(assignment, sid) / f"{assignment}.html").unlink(missing_ok=True)
    source = nbformat.read(course.source_notebook(assignment), as_version=4)
    secrets = hidden_lines("\n".join(cell.source for cell in source.cells))
    proc = None
    if graded:
        with tempfile.TemporaryDirectory(prefix="relu-course-feedback-") as tmp:
            for sid in graded:
                src = course.autograded_notebook(assignment, sid)
                dest = Path(tmp) / sid / assignment
                # nbgrader leaves autograded files read-only (0444): copy the content
                # only, so that a grader who is not root can strip the copy
                shutil.copytree(src.parent, dest, copy_function=shutil.copyfile)
                nb = nbformat.read(dest / src.name, as_version=4)
                strip_hidden(nb)
                nbformat.write(nb, dest / src.name)
            # only the copies in tmp are rendered, so `students` needs no --student flag
            args = ["generate_feedback", assignment, "--force"]
            dirs = f"--CourseDirectory.autograded_directory={tmp}"
            proc = run_nbgrader([*args, dirs], course.root)
            report.log = proc.stdout + proc.stderr
    for sid in wanted:
        page = course.feedback_dir(assignment, sid) / f"{assignment}.html"
        if sid not in graded:
            _write_ungraded_page(course, assignment, sid, everyone.get(sid), page)
            report.ungraded.append(sid)
            continue
        if not page.exists():
            report.failed.append(sid)
            continue
        text = html.unescape(_TAG.sub("", page.read_text(encoding="utf-8")))
        if any(line in text for line in secrets):
            page.unlink()
            report.leaked.append(sid)
        else:
            report.written.append(page)
    if proc is not None and proc.returncode != 0 and report.failed:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no message"]
        raise CourseError(
            f"nbgrader generate_feedback wrote no page for {len(report.failed)} student(s) "
            f"({tail[0]}); nothing else was changed: fix that, then run relu-course "
            f"feedback {assignment} again (log: .relu-course/logs/feedback.log)"
        )
    return report


def _write_ungraded_page(course: Course, assignment: str, sid: str, res, page: Path) -> None:  # noqa: ANN001
    status = getattr(res, "status", "not graded")
    message = getattr(res, "message", "") or "no autograded notebook"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        _UNGRADED_PAGE.format(
            assignment=html.escape(assignment),
            score=getattr(res, "score", 0.0),
            max_score=getattr(res, "max_score", 0.0),
            status=html.escape(status),
            message=html.escape(message),
        ),
        encoding="utf-8",
    )
