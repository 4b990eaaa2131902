"""Release an assignment: ``nbgrader generate_assignment --force``, then check the result.

Checks on the released notebook (``exercises/<id>/<id>.ipynb``):

- no nbgrader markers left (``BEGIN SOLUTION``, ``BEGIN HIDDEN TESTS``, ...);
- no line of a solution or of a hidden test (lines shared with the rest of the
  notebook, such as ``return x``, excepted);
- no outputs;
- ``nbgrader validate`` of the source notebook (the instructor's solution) passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import nbformat

from .course import Course, CourseError, run_nbgrader

__all__ = ["ReleaseReport", "release", "leaked_lines"]

_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)(.*?)### END \1", re.DOTALL)


@dataclass
class ReleaseReport:
    assignment: str
    problems: list[str] = field(default_factory=list)
    validate_output: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def leaked_lines(source: nbformat.NotebookNode, released: nbformat.NotebookNode) -> list[str]:
    """Solution and hidden-test lines of ``source`` that appear in ``released``.

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> src = new_notebook(cells=[new_code_cell(
    ...     "def f(x):\\n    ### BEGIN SOLUTION\\n    return x * 2 + 1\\n    ### END SOLUTION")])
    >>> leaked_lines(src, new_notebook(cells=[new_code_cell("def f(x):\\n    pass")]))
    []
    >>> leaked_lines(src, src)
    ['return x * 2 + 1']
    """
    secret: set[str] = set()
    public: set[str] = set()
    for cell in source.cells:
        inside = {ln.strip() for m in _REGION.finditer(cell.source) for ln in m[2].splitlines()}
        outside = {ln.strip() for ln in _REGION.sub("", cell.source).splitlines()}
        secret |= {ln for ln in inside if len(ln) >= 6}
        public |= outside
    secret -= public
    shown = {ln.strip() for cell in released.cells for ln in cell.source.splitlines()}
    return sorted(secret & shown)


def release(course: Course, assignment: str) -> ReleaseReport:
    """Generate ``exercises/<assignment>`` from ``solutions/<assignment>`` and check it."""
    course.check_assignment(assignment)
    proc = run_nbgrader(["generate_assignment", assignment, "--force"], course.root)
    if proc.returncode != 0:
        raise CourseError(
            f"nbgrader generate_assignment {assignment} failed:\n{proc.stderr.strip()[-3000:]}"
        )
    report = ReleaseReport(assignment)
    released_path = course.release_notebook(assignment)
    released = nbformat.read(released_path, as_version=4)
    source = nbformat.read(course.source_notebook(assignment), as_version=4)
    text = "\n".join(cell.source for cell in released.cells)
    for marker in _MARKERS:
        if marker in text:
            report.problems.append(f"{released_path.name} still contains '### {marker}'")
    for line in leaked_lines(source, released):
        report.problems.append(f"{released_path.name} shows a solution/hidden line: {line!r}")
    if any(cell.get("outputs") for cell in released.cells if cell.cell_type == "code"):
        report.problems.append(f"{released_path.name} has outputs: enable ClearOutput")
    check = run_nbgrader(["validate", str(course.source_notebook(assignment))], course.root)
    report.validate_output = check.stdout.strip()
    if check.returncode != 0 or "Success!" not in check.stdout:
        report.problems.append(
            f"nbgrader validate of the solution notebook failed:\n{check.stdout[-2000:]}"
            f"{check.stderr[-1000:]}"
        )
    return report
