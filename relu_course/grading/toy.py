"""A two-question toy course, for tests of the grading pipeline that must run in seconds.

It follows the course's cell conventions (answer cell ``grade_id`` = function name, test
cell ``test_<name>`` with visible tests, then hidden tests) but imports only NumPy.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

__all__ = ["TOY_ANSWERS", "cell_metadata", "make_toy_course", "toy_source"]

TOY_ANSWERS = {
    "relu": "    return np.maximum(x, 0.0)",
    "sigmoid": "    return 0.5 * (1.0 + np.tanh(0.5 * x))",
}

_SIGNATURES = {
    "relu": 'def relu(x):\n    """relu(x) = max(x, 0), elementwise."""\n',
    "sigmoid": 'def sigmoid(x):\n    """sigmoid(x) = 1 / (1 + exp(-x)), elementwise."""\n',
}

_TESTS = {
    "relu": (
        "assert np.allclose(relu(np.array([-1.0, 0.0, 2.0])), [0, 0, 2]), 'relu of -1, 0, 2'",
        "assert relu(np.array([-3.0]))[0] == 0.0\nassert relu(np.array([5.0]))[0] == 5.0",
    ),
    "sigmoid": (
        "assert abs(sigmoid(np.array([0.0]))[0] - 0.5) < 1e-12, 'sigmoid(0) is 1/2'",
        "assert np.isfinite(sigmoid(np.array([-1000.0, 1000.0]))).all()\n"
        "assert abs(sigmoid(np.array([2.0]))[0] - 1 / (1 + np.exp(-2))) < 1e-12",
    ),
}


def cell_metadata(grade_id: str, *, solution: bool, grade: bool, points: int = 0) -> dict:
    """nbgrader metadata of a source cell (schema 3); test cells are locked and carry points."""
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": not solution,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def toy_source() -> nbformat.NotebookNode:
    """The instructor notebook (solutions and hidden tests included)."""
    cells = [
        new_markdown_cell(
            "# Toy assignment\nWrite `relu` and `sigmoid`.",
            metadata=cell_metadata("intro", solution=False, grade=False),
        ),
        new_code_cell(
            "import numpy as np", metadata=cell_metadata("setup", solution=False, grade=False)
        ),
    ]
    for name, points in (("relu", 2), ("sigmoid", 3)):
        body = (
            f"{_SIGNATURES[name]}    ### BEGIN SOLUTION\n{TOY_ANSWERS[name]}\n    ### END SOLUTION"
        )
        visible, hidden = _TESTS[name]
        test = f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS"
        cells += [
            new_markdown_cell(f"## {name}"),
            new_code_cell(body, metadata=cell_metadata(name, solution=True, grade=False)),
            new_code_cell(
                test,
                metadata=cell_metadata(f"test_{name}", solution=False, grade=True, points=points),
            ),
        ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def make_toy_course(root: Path, assignment: str = "toy") -> Path:
    """Write ``nbgrader_config.py`` and ``solutions/<assignment>/<assignment>.ipynb``
    under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        "c.CourseDirectory.course_id = 'toy-course'\n"
        "c.CourseDirectory.source_directory = 'solutions'\n"
        "c.CourseDirectory.release_directory = 'exercises'\n"
        f"c.CourseDirectory.db_assignments = [{{'name': {assignment!r}}}]\n"
        "c.ClearOutput.enabled = True\n",
        encoding="utf-8",
    )
    src = root / "solutions" / assignment / f"{assignment}.ipynb"
    src.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(toy_source(), src)
    return root
