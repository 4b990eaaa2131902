"""Build ``solutions/<id>/<id>.ipynb`` from the assignment's text source, byte for byte.

Each assignment is written once, as a MyST markdown notebook (jupytext), in
``assignments/<id>.md`` next to ``solutions/`` (never inside it: nbgrader copies every
file of ``solutions/<id>/`` into the release). Open the source in Jupyter (jupytext opens
``.md`` files as notebooks), run the solutions and the tests there, and review its diffs.
Each cell's nbgrader metadata (``grade``, ``grade_id``, ``points``, ``solution``,
``locked``, ``schema_version``, ``task``) sits in its ``code-cell`` options::

    ```{code-cell}
    ---
    nbgrader:
      grade: true
      grade_id: test_relu
      locked: true
      points: 2
      ...
    ---
    ```

The build is deterministic: the same source gives the same bytes on every run and every
machine. Outputs and execution counts are dropped, jupytext's own metadata is dropped,
and each cell gets a stable id: its ``grade_id`` when it has one, else the id of the
nearest named cell above it plus a counter (``setup-1``, ``test_relu-2``; ``intro-1``
before the first). Inserting a question renames no graded cell, and only the ungraded
cells between it and the next graded cell.

``relu-course build [ASSIGNMENT]`` writes the notebooks; ``--check`` only reports the
stale ones. ``relu-course release`` then generates ``exercises/`` with nbgrader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = ["CONVERT", "SOURCE_FOLDER", "BuildError", "Built", "build", "build_notebook", "sources"]

#: where the text sources live, relative to the course root
SOURCE_FOLDER = "assignments"
_CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # nbformat 4.5's rule for cell ids
_SOLUTION_REGION = "### BEGIN SOLUTION"
_HIDDEN_REGION = "### BEGIN HIDDEN TESTS"


class BuildError(ValueError):
    """A source that would give a broken or leaky nbgrader notebook."""


@dataclass(frozen=True)
class Built:
    """One assignment: its source, its notebook, and whether the notebook was stale."""

    assignment: str
    source: Path
    notebook: Path
    stale: bool


#: turn an nbgrader notebook into a text source (the command that made the shipped ones);
#: the ipython3 lexer is what Jupyter writes after running a kernel, so a save adds no noise
CONVERT = (
    'jupytext --to md:myst --update-metadata \'{{"jupytext":{{"notebook_metadata_filter":'
    '"-jupytext.text_representation.jupytext_version"}},"language_info":'
    '{{"name":"python","pygments_lexer":"ipython3"}}}}\' '
    "-o assignments/{id}.md solutions/{id}/{id}.ipynb"
)


def _newer(notebook: Path, source: Path) -> bool:
    return notebook.is_file() and notebook.stat().st_mtime > source.stat().st_mtime


def sources(root: Path) -> dict[str, Path]:
    """``{assignment id: source}`` for every ``assignments/<id>.md`` under ``root``."""
    folder = Path(root) / SOURCE_FOLDER
    return {p.stem: p for p in sorted(folder.glob("*.md"))} if folder.is_dir() else {}


def _stable_ids(cells: list[nbformat.NotebookNode], where: str) -> None:
    anchor, count, seen = "intro", 0, set()
    for cell in cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id:
            anchor, count, cell_id = str(grade_id), 0, str(grade_id)
        else:
            count += 1
            cell_id = f"{anchor}-{count}"
        if not _CELL_ID.match(cell_id) or cell_id in seen:
            problem = "is used twice" if cell_id in seen else "is not [a-zA-Z0-9_-]{1,64}"
            raise BuildError(f"{where}: cell id {cell_id!r} (from grade_id) {problem}")
        seen.add(cell_id)
        cell["id"] = cell_id


def _check_regions(cells: list[nbformat.NotebookNode], where: str) -> None:
    """Solution and hidden-test regions only where nbgrader removes them on release."""
    for i, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader", {})
        if _SOLUTION_REGION in cell.source and not meta.get("solution"):
            raise BuildError(f"{where} cell {i}: a solution region outside a solution cell")
        if _HIDDEN_REGION in cell.source and not meta.get("grade"):
            raise BuildError(f"{where} cell {i}: hidden tests outside a graded test cell")


def build_notebook(source: Path) -> str:
    """The nbgrader source notebook of ``source`` (MyST markdown), as the bytes to write."""
    import jupytext  # the book extra brings it; only instructors building assignments need it

    where = Path(source).name
    nb = jupytext.read(source, fmt="md:myst")
    nb.metadata.pop("jupytext", None)
    language = nb.metadata.get("kernelspec", {}).get("language", "python")
    nb.metadata["language_info"] = {"name": language}
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    _check_regions(nb.cells, where)
    _stable_ids(nb.cells, where)
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nbformat.writes(nb) + "\n"


def build(
    root: Path,
    assignments: list[str] | None = None,
    *,
    check: bool = False,
    force: bool = False,
    solutions: str = "solutions",
) -> list[Built]:
    """Write ``<solutions>/<id>/<id>.ipynb`` for each source (only those that changed).

    With ``check`` nothing is written: the result says which notebooks are stale. A
    notebook that differs from its source and is newer than it was edited by hand (or
    merged): the build refuses to overwrite it unless ``force``, so no edit is lost.
    """
    found = sources(root)
    wanted = list(found) if assignments is None else assignments
    unknown = [a for a in wanted if a not in found]
    if unknown:
        raise BuildError(
            f"no {SOURCE_FOLDER}/<id>.md for {', '.join(unknown)}; "
            f"sources found: {', '.join(found) or 'none'}"
        )
    results = []
    for assignment in wanted:
        data = build_notebook(found[assignment]).encode("utf-8")  # "\n" line ends everywhere
        notebook = Path(root) / solutions / assignment / f"{assignment}.ipynb"
        stale = not notebook.is_file() or notebook.read_bytes() != data
        if stale and not (check or force) and _newer(notebook, found[assignment]):
            raise BuildError(
                f"{solutions}/{assignment}/{assignment}.ipynb differs from its source and is "
                f"newer than {SOURCE_FOLDER}/{assignment}.md: was it edited by hand? Move the "
                "edit into the source (or make the notebook the source: "
                + CONVERT.format(id=assignment)
                + "), or pass --force to overwrite it"
            )
        if stale and not check:
            notebook.parent.mkdir(parents=True, exist_ok=True)
            notebook.write_bytes(data)
        results.append(Built(assignment, found[assignment], notebook, stale))
    return results
