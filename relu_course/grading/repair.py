"""Repair damaged but honest submissions before nbgrader sees them.

nbgrader finds graded cells by the ``nbgrader`` metadata of each cell (``grade_id``).
Editors and students damage that metadata in honest ways: VS Code or Colab strip it, a
student duplicates a cell, turns a test cell into markdown, adds scratch cells, or hands
in a notebook in an older format. :func:`repair_notebook` matches every cell of the
submission to the released notebook, restores what was lost and records each repair::

    released cell  <-  submitted cell      matched by
    ------------------------------------------------------------
    grade_id "relu" <- cell with same id   "grade_id"
    grade_id "relu" <- cell, no metadata   "content" (its signature/docstring lines)
    test_relu       <- markdown cell       "content" (same test source), type restored

Matching runs in notebook order, so a match never jumps over a cell that was matched
before it ("position"). Nothing is ever deleted except exact copies of locked
(instructor) cells; answers and scratch cells stay where the student put them.
"""

from __future__ import annotations

import copy
import difflib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

__all__ = [
    "CorruptSubmission",
    "Repair",
    "read_submission",
    "repair_notebook",
    "repair_file",
]

# A locked cell (tests, instructions) matches when its text is this similar; an answer
# cell matches when this share of its contract lines (signature, docstring) is present.
LOCKED_SIMILARITY = 0.75
CONTRACT_SHARE = 0.6
_STUB_LINES = {"# YOUR CODE HERE", "raise NotImplementedError()", "YOUR ANSWER HERE"}


class CorruptSubmission(ValueError):
    """The file is not a readable notebook (truncated, not JSON, not a notebook)."""


@dataclass(frozen=True)
class Repair:
    """One change made to a submission.

    Attributes
    ----------
    kind : str
        ``format`` (old nbformat upgraded), ``metadata`` (nbgrader metadata restored),
        ``cell_type`` (a test cell typed as markdown turned back into code),
        ``duplicate`` (a second copy of a graded cell), ``unknown_id`` (a grade id that
        is not in the release), ``missing`` (a graded cell not found), ``extra`` (scratch
        cells kept, not graded) or ``renamed`` (the file had another name).
    cell : str
        The grade id concerned (or ``""`` for the whole notebook).
    how : str
        How the cell was matched or what was done, in words.
    review : bool
        Whether a person should look at it (``extra`` cells are routine: False).
    """

    kind: str
    cell: str
    how: str
    review: bool = True

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_submission(path: Path) -> tuple[NotebookNode, list[Repair]]:
    """Read a submitted notebook of any nbformat (v3, v4.0-4.5) as v4.5.

    Raises
    ------
    CorruptSubmission
        If the file is empty, truncated, not JSON or not a notebook; the message says
        where it broke.
    """
    raw = path.read_bytes()
    if not raw.strip():
        raise CorruptSubmission(f"{path.name} is empty (0 notebook bytes)")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as err:
        raise CorruptSubmission(f"{path.name} is not UTF-8 text (byte {err.start})") from err
    except json.JSONDecodeError as err:
        raise CorruptSubmission(
            f"{path.name} is not valid JSON ({err.msg} at line {err.lineno}, column "
            f"{err.colno} of {len(raw)} bytes): the file is truncated or damaged; ask the "
            "student to download it again from Jupyter/Colab"
        ) from err
    if not isinstance(data, dict) or "nbformat" not in data:
        raise CorruptSubmission(f"{path.name} is JSON but not a Jupyter notebook")
    major, minor = data.get("nbformat"), data.get("nbformat_minor", 0)
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
    except Exception as err:  # nbformat raises several types for malformed notebooks
        raise CorruptSubmission(f"{path.name} is not a readable notebook: {err}") from err
    repairs: list[Repair] = []
    if major != 4 or minor < 5:
        nb.nbformat_minor = 5
        for i, cell in enumerate(nb.cells):
            if not cell.get("id"):
                cell["id"] = f"cell-{i}"
        repairs.append(
            Repair(
                "format", "", f"nbformat {major}.{minor} upgraded to 4.5 (cell ids added)", False
            )
        )
    return nb, repairs


def _grade_id(cell: NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
        return meta["grade_id"]
    return None


def _lines(source: str) -> list[str]:
    return [line.strip() for line in source.splitlines() if line.strip()]


def _contract(source: str) -> list[str]:
    """The lines of a released cell that a filled-in answer keeps (signature, docstring)."""
    return [line for line in _lines(source) if line not in _STUB_LINES]


def _score(released: NotebookNode, submitted: NotebookNode) -> float:
    """How well ``submitted`` matches ``released`` (0 = not at all, 1 = exactly)."""
    meta = released.metadata["nbgrader"]
    if meta.get("locked") or (meta.get("grade") and not meta.get("solution")):
        a, b = "\n".join(_lines(released.source)), "\n".join(_lines(submitted.source))
        ratio = difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()
        return ratio if ratio >= LOCKED_SIMILARITY else 0.0
    if submitted.cell_type != released.cell_type:
        return 0.0
    contract = _contract(released.source)
    if not contract:
        return 0.0
    have = set(_lines(submitted.source))
    share = sum(line in have for line in contract) / len(contract)
    return share if share >= CONTRACT_SHARE else 0.0


def _has_answer(released: NotebookNode, submitted: NotebookNode) -> bool:
    return _lines(submitted.source) != _lines(released.source)


def repair_notebook(nb: NotebookNode, release: NotebookNode) -> tuple[NotebookNode, list[Repair]]:
    """Match the cells of a submission to the released notebook and restore nbgrader's
    metadata where it was lost.

    Parameters
    ----------
    nb : NotebookNode
        The submission (v4; see :func:`read_submission`). Not modified.
    release : NotebookNode
        The released (student) notebook the submission started from.

    Returns
    -------
    tuple of (NotebookNode, list of Repair)
        The repaired copy and the repairs made (empty when nothing was wrong).

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> meta = {"nbgrader": {"grade_id": "test_relu", "grade": True, "solution": False,
    ...                      "locked": True, "points": 1, "schema_version": 3}}
    >>> release = new_notebook(cells=[new_code_cell("assert relu(1) == 1", metadata=meta)])
    >>> stripped = new_notebook(cells=[new_code_cell("assert relu(1) == 1")])
    >>> fixed, repairs = repair_notebook(stripped, release)
    >>> fixed.cells[0].metadata["nbgrader"]["grade_id"], repairs[0].kind, repairs[0].how
    ('test_relu', 'metadata', 'matched by content at position 0')
    """
    nb = copy.deepcopy(nb)
    wanted = [c for c in release.cells if _grade_id(c)]
    by_id = {_grade_id(c): c for c in wanted}
    repairs: list[Repair] = []
    cells = list(nb.cells)

    # 1. Cells that carry a grade id: keep one copy per id, strip ids the release lacks.
    owner: dict[str, int] = {}
    drop: set[int] = set()
    for i, cell in enumerate(cells):
        gid = _grade_id(cell)
        if gid is None:
            continue
        if gid not in by_id:
            del cell.metadata["nbgrader"]
            repairs.append(
                Repair("unknown_id", gid, f"cell {i}: grade id not in the release, kept ungraded")
            )
            continue
        if gid not in owner:
            owner[gid] = i
            continue
        ref, first = by_id[gid], cells[owner[gid]]
        if by_id[gid].metadata["nbgrader"].get("locked"):
            drop.add(i)
            how = f"cell {i}: second copy of a locked cell removed (nbgrader restores it)"
        elif _has_answer(ref, cell) or not _has_answer(ref, first):
            del first.metadata["nbgrader"]
            how = (
                f"cells {owner[gid]} and {i}: kept the later answer, "
                "the earlier copy stays as a scratch cell"
            )
            owner[gid] = i
        else:
            del cell.metadata["nbgrader"]
            how = (
                f"cells {owner[gid]} and {i}: kept the first (answered) copy, "
                f"cell {i} stays as a scratch cell"
            )
        repairs.append(Repair("duplicate", gid, how))

    for gid, pos in owner.items():
        cell, ref = cells[pos], by_id[gid]
        if cell.cell_type != ref.cell_type:
            repairs.append(
                Repair(
                    "cell_type",
                    gid,
                    f"cell {pos} was {cell.cell_type}, "
                    f"turned back into {ref.cell_type} (matched by grade_id)",
                )
            )
            _retype(cell, ref.cell_type)

    # 2. Released graded cells without an owner: match by content, in notebook order.
    order = [_grade_id(c) for c in wanted]
    for gid in order:
        if gid in owner:
            continue
        ref = by_id[gid]
        k = order.index(gid)
        lo = max((owner[g] for g in order[:k] if g in owner), default=-1)
        hi = min((owner[g] for g in order[k + 1 :] if g in owner), default=len(cells))
        best, best_score = None, 0.0
        for i in range(lo + 1, hi):
            if i in drop or _grade_id(cells[i]) is not None:
                continue
            score = _score(ref, cells[i])
            if score > best_score:
                best, best_score = i, score
        if best is None:
            how = "not found in the submission"
            if ref.metadata["nbgrader"].get("locked"):
                how += "; nbgrader adds it back from the release"
            repairs.append(Repair("missing", gid, how))
            continue
        cell = cells[best]
        cell.metadata["nbgrader"] = copy.deepcopy(ref.metadata["nbgrader"])
        owner[gid] = best
        if cell.cell_type != ref.cell_type:
            repairs.append(
                Repair(
                    "cell_type",
                    gid,
                    f"cell {best} was {cell.cell_type}, turned back into {ref.cell_type}",
                )
            )
            _retype(cell, ref.cell_type)
        repairs.append(Repair("metadata", gid, f"matched by content at position {best}"))

    # 3. Everything else is a scratch cell: kept, executed, never graded.
    extra = [
        i
        for i, cell in enumerate(cells)
        if i not in drop and _grade_id(cell) is None and not _in_release(cell, release)
    ]
    if extra:
        repairs.append(Repair("extra", "", f"{len(extra)} scratch cell(s) kept at {extra}", False))
    nb.cells = [c for i, c in enumerate(cells) if i not in drop]
    return nb, repairs


def _retype(cell: NotebookNode, cell_type: str) -> None:
    cell.cell_type = cell_type
    if cell_type == "code":
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _in_release(cell: NotebookNode, release: NotebookNode) -> bool:
    text = _lines(cell.source)
    return any(_lines(c.source) == text for c in release.cells)


def repair_file(path: Path, release_path: Path, out: Path) -> list[Repair]:
    """Read ``path``, repair it against ``release_path`` and write the result to ``out``.

    ``path`` itself is never written. Raises :class:`CorruptSubmission` for an unreadable
    file.
    """
    nb, repairs = read_submission(path)
    release = nbformat.read(release_path, as_version=4)
    fixed, more = repair_notebook(nb, release)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(fixed, out)
    return repairs + more
