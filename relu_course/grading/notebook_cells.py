"""Reading nbgrader notebooks: cells, their metadata, the student's cells and what they define.

Shared by the clean re-verification (:mod:`relu_course.grading.verify`,
:mod:`relu_course.grading.verify_torch`) and the tamper audit
(:mod:`relu_course.grading.audit`). Notebooks are plain JSON dicts (or nbformat nodes, or
paths); nothing here runs a cell.

The hidden-test rule is stated here once: a hidden test is a line between nbgrader's
``BEGIN HIDDEN TESTS`` and ``END HIDDEN TESTS`` marker lines, and a hidden line of at least
:data:`MIN_HIDDEN_LINE` characters is a secret that feedback and outputs must never show
(shorter lines, such as ``model.eval()``, are code any student may write).

Examples
--------
>>> cell = {"cell_type": "code", "source": ["def relu(x):\\n", "    return x"],
...         "metadata": {"nbgrader": {"grade_id": "relu", "solution": True}}}
>>> nbgrader_meta(cell)["grade_id"], sorted(defined_names(parse_cell(cell_source(cell))))
('relu', ['relu'])
"""

from __future__ import annotations

import ast
import builtins
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_NAMES",
    "HIDDEN_BEGIN",
    "HIDDEN_END",
    "HIDDEN_NOTE",
    "MIN_HIDDEN_LINE",
    "Flag",
    "cell_source",
    "cells_by_grade_id",
    "cells_for",
    "defined_names",
    "free_names",
    "hidden_test_lines",
    "load_notebook",
    "nbgrader_meta",
    "parse_cell",
    "python_source",
    "strip_hidden_tests",
    "student_cells",
]

# The setup cell's names that a solution cell may use without defining them.
BASE_NAMES = frozenset({"np", "numpy", "math", "torch"})

#: nbgrader's hidden-test markers (a line that contains one starts or ends a region).
HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
#: Hidden lines at least this long are secrets; shorter ones are everyday code.
MIN_HIDDEN_LINE = 20
#: What a hidden-test region becomes in a copy a student may see.
HIDDEN_NOTE = "# (hidden tests ran here; they are not shown)"


# ----------------------------------------------------------------------------- flags


@dataclass
class Flag:
    """Something about a submission a human should look at.

    ``kind`` is a short tag (``"deleted-test-cell"``, ``"patches-grader"``, ...), ``cell``
    the grade id or position, ``reason`` the explanation; ``tampering`` marks attempts to
    gain points or hurt others (as opposed to honest damage such as stripped metadata).
    """

    kind: str
    cell: str
    reason: str
    tampering: bool = True

    def __str__(self) -> str:
        return f"[{self.kind}] {self.cell}: {self.reason}"


# ----------------------------------------------------------------------------- cells


def load_notebook(nb: Any) -> dict[str, Any]:
    """The notebook ``nb`` as JSON data: read from a path, or ``nb`` itself."""
    if isinstance(nb, (str, Path)):
        return json.loads(Path(nb).read_text(encoding="utf-8"))
    return nb


def cell_source(cell: Mapping[str, Any]) -> str:
    """A cell's source as one string (notebook JSON may hold it as a list of lines)."""
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def nbgrader_meta(cell: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the cell's ``metadata.nbgrader`` (empty when it has none)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def cells_by_grade_id(nb: Mapping[str, Any]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    """``{grade id: [(position, cell), ...]}`` (a list: a submission may repeat an id)."""
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, cell in enumerate(nb.get("cells", [])):
        gid = nbgrader_meta(cell).get("grade_id")
        if gid:
            out.setdefault(gid, []).append((i, cell))
    return out


def defined_names(tree: ast.AST) -> set[str]:
    """Names a cell binds at top level (def, class, assignment, import)."""
    names: set[str] = set()
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def free_names(tree: ast.AST) -> set[str]:
    """Names a cell reads that it never binds anywhere (a conservative approximation)."""
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    bound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return loaded - bound - set(dir(builtins)) - BASE_NAMES


_IPYTHON = None


def python_source(source: str) -> str:
    """A notebook cell as plain Python: IPython's own transformer rewrites ``!cmd``,
    ``%magic`` and ``%%cell`` lines into ``get_ipython()`` calls (text only; nothing runs).

    Examples
    --------
    >>> python_source("!nvidia-smi -L\\nx = 1")
    "get_ipython().system('nvidia-smi -L')\\nx = 1\\n"
    """
    global _IPYTHON
    if "!" not in source and "%" not in source:
        return source
    try:
        if _IPYTHON is None:
            from IPython.core.inputtransformer2 import TransformerManager

            _IPYTHON = TransformerManager()
        return _IPYTHON.transform_cell(source)
    except Exception:  # noqa: BLE001 - no IPython, or text it cannot read: leave as it is
        return source


# CPython 3.11's AST construction is not safe to run in two threads at once ("SystemError:
# AST constructor recursion depth mismatch" under load): one parse at a time per process.
_PARSE_LOCK = threading.RLock()


def parse_cell(source: str) -> ast.AST | None:
    """The syntax tree of a cell (magics and ``!`` lines rewritten), ``None`` if it has
    a syntax error."""
    with _PARSE_LOCK:
        try:
            return ast.parse(python_source(source))
        except SyntaxError:
            return None


def student_cells(
    release: Mapping[str, Any], submitted: Mapping[str, Any]
) -> list[tuple[str, str, ast.AST | None]]:
    """(label, source, tree) of every code cell the student wrote or may have changed.

    Cells identical to a release cell that is not a solution cell (setup, tests, demo)
    are the instructor's and left out; locked/test cells never count as student code.
    """
    release_sources = {
        cell_source(c).strip()
        for c in release.get("cells", [])
        if c.get("cell_type") == "code" and not nbgrader_meta(c).get("solution")
    }
    cells = []
    for i, cell in enumerate(submitted.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        meta, src = nbgrader_meta(cell), cell_source(cell)
        if meta.get("grade") or meta.get("locked") and not meta.get("solution"):
            continue
        if not meta.get("solution") and src.strip() in release_sources:
            continue
        cells.append((meta.get("grade_id") or f"cell {i}", src, parse_cell(src)))
    return cells


def cells_for(
    function: str, student: list[tuple[str, str, ast.AST | None]]
) -> tuple[list[tuple[str, str]], list[Flag]]:
    """The cells to run for ``function``: its solution cell last, needed definitions first."""
    flags: list[Flag] = []
    target = [c for c in student if c[0] == function]
    if len(target) > 1:
        flags.append(
            Flag("duplicate-cell", function, f"{len(target)} cells share grade id {function}")
        )
    if not target:
        target = [c for c in student if c[2] is not None and function in defined_names(c[2])][-1:]
        if not target:
            return [], flags
        flags.append(
            Flag(
                "metadata-missing",
                function,
                f"no solution cell with grade id {function!r}; used {target[0][0]}, "
                f"which defines {function}()",
                tampering=False,
            )
        )
    chosen = [target[0]]
    wanted = free_names(target[0][2]) if target[0][2] is not None else set()
    seen: set[str] = set()
    while wanted - seen:
        name = sorted(wanted - seen)[0]
        seen.add(name)
        for cell in reversed(student):
            if cell[2] is not None and cell not in chosen and name in defined_names(cell[2]):
                chosen.append(cell)
                wanted |= free_names(cell[2])
                break
    order = {id(c): i for i, c in enumerate(student)}
    deps = sorted(chosen[1:], key=lambda c: order[id(c)])
    return [(c[0], c[1]) for c in [*deps, chosen[0]]], flags


# ----------------------------------------------------------------------------- hidden tests


def _hidden_regions(source: str) -> list[tuple[int, int]]:
    """``(first, last)`` line index of each hidden-test region, marker lines included.

    A region left open runs to the end of the cell (nbgrader refuses such a notebook, and
    feedback must still not show it).
    """
    regions, start = [], None
    lines = source.splitlines()
    for i, line in enumerate(lines):
        if start is None and HIDDEN_BEGIN in line:
            start = i
        elif start is not None and HIDDEN_END in line:
            regions.append((start, i))
            start = None
    if start is not None:
        regions.append((start, len(lines) - 1))
    return regions


def hidden_test_lines(source: str) -> list[str]:
    """The secret lines (stripped, at least :data:`MIN_HIDDEN_LINE` long) of the hidden
    tests in ``source`` (a cell, or cells joined by newlines).

    Examples
    --------
    >>> hidden_test_lines("a = 1\\n### BEGIN HIDDEN TESTS\\nassert f(2) == 4, 'f doubles'\\n"
    ...                   "model.eval()\\n### END HIDDEN TESTS")
    ["assert f(2) == 4, 'f doubles'"]
    """
    lines = source.splitlines()
    return [
        line.strip()
        for first, last in _hidden_regions(source)
        for line in lines[first + 1 : last + 1]
        if len(line.strip()) >= MIN_HIDDEN_LINE and HIDDEN_END not in line
    ]


def strip_hidden_tests(source: str) -> str:
    """``source`` with each hidden-test region (markers included) replaced by
    :data:`HIDDEN_NOTE`, indented as the region's first marker.

    Examples
    --------
    >>> strip_hidden_tests("x\\n  ### BEGIN HIDDEN TESTS\\n  secret\\n  ### END HIDDEN TESTS\\ny")
    'x\\n  # (hidden tests ran here; they are not shown)\\ny'
    """
    regions = _hidden_regions(source)
    if not regions:
        return source
    lines = source.splitlines()
    out, i = [], 0
    for first, last in regions:
        out += lines[i:first]
        indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
        out.append(indent + HIDDEN_NOTE)
        i = last + 1
    out += lines[i:]
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")
