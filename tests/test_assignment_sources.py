"""The assignments' text sources (``assignments/<id>.md``) and the notebooks built from them.

* every assignment in ``solutions/`` has exactly one source, and the committed notebook is
  byte for byte what ``relu-course build`` makes from it now;
* the build is deterministic, its cell ids stable (a new question renames no graded cell);
* the build refuses sources that would leak (solution or hidden-test regions in cells
  nbgrader does not strip) and notebooks edited by hand;
* nothing from the sources reaches the release or the site: they live outside
  ``solutions/`` (nbgrader copies every file there), the book excludes them, and no
  released notebook carries their jupytext metadata.

When the first comparison fails: ``make assignments`` (or ``relu-course build``), then
``make release``, and commit ``solutions/`` and ``exercises/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import jupytext
import nbformat
import nbgrader_harness as harness
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from relu_course.grading.build import SOURCE_FOLDER, BuildError, build, build_notebook, sources
from relu_course.grading.cli import main

ROOT = harness.REPO_ROOT
SOURCES = sources(ROOT)
FIX = "run `make assignments` (relu-course build), then `make release`, and commit"


def _meta(grade_id: str, *, solution: bool = False, points: int = 0) -> dict:
    meta = {"grade": points > 0, "grade_id": grade_id, "locked": not solution}
    meta |= {"schema_version": 3, "solution": solution, "task": False}
    return {"nbgrader": meta | ({"points": points} if points else {})}


def _question(name: str, points: int = 1) -> list[nbformat.NotebookNode]:
    return [
        new_markdown_cell(f"Write `{name}`."),
        new_code_cell(
            f"def {name}(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION",
            metadata=_meta(name, solution=True),
        ),
        new_code_cell(
            f"assert {name}(1) == 1\n### BEGIN HIDDEN TESTS\nassert {name}(2) == 2\n"
            "### END HIDDEN TESTS",
            metadata=_meta(f"test_{name}", points=points),
        ),
    ]


def _write_source(root: Path, assignment: str, cells: list) -> Path:
    kernel = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb = new_notebook(cells=cells, metadata={"kernelspec": kernel})
    path = root / SOURCE_FOLDER / f"{assignment}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, path, fmt="md:myst")
    return path


def _ids(notebook: Path) -> list[str]:
    return [c["id"] for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]]


# --------------------------------------------------------------- sources and solutions agree


def test_every_assignment_has_one_text_source() -> None:
    assert set(SOURCES) == set(harness.assignment_ids()), (
        f"sources {sorted(SOURCES)} vs solutions/ {harness.assignment_ids()}: each "
        f"solutions/<id>/<id>.ipynb is built from {SOURCE_FOLDER}/<id>.md"
    )
    assert "ps1_activations" in SOURCES


@pytest.mark.parametrize("assignment", sorted(SOURCES))
def test_committed_solutions_are_a_fresh_build(assignment: str) -> None:
    committed = harness.SOLUTIONS_DIR / assignment / f"{assignment}.ipynb"
    fresh = build_notebook(SOURCES[assignment])
    assert committed.read_text(encoding="utf-8") == fresh, (
        f"solutions/{assignment} differs from a build of {SOURCE_FOLDER}/{assignment}.md: "
        f"{FIX}. An edit made in the .ipynb belongs in the .md source."
    )


def test_check_command_reports_the_repository_up_to_date(capsys) -> None:
    assert main(["--course", str(ROOT), "build", "--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("assignment", sorted(SOURCES))
def test_every_graded_cell_is_named_by_its_grade_id(assignment: str) -> None:
    nb = nbformat.reads(build_notebook(SOURCES[assignment]), as_version=4)
    named = [c for c in nb.cells if "nbgrader" in c.metadata]
    assert named and all(c.id == c.metadata.nbgrader.grade_id for c in named)
    assert not [c for c in nb.cells if c.cell_type == "code" and c.outputs]


@pytest.mark.parametrize("assignment", sorted(SOURCES))
def test_saving_a_source_from_jupyter_changes_nothing(assignment: str) -> None:
    """After a kernel ran (Jupyter adds its language_info), jupytext writes the same text."""
    text = SOURCES[assignment].read_text(encoding="utf-8")
    nb = jupytext.reads(text, fmt="md:myst")
    nb.metadata["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": "3.11.9",
    }
    assert jupytext.writes(nb, fmt="md:myst") == text, (
        f"{SOURCE_FOLDER}/{assignment}.md is not in the form Jupyter saves: normalise it with "
        f"`.venv/bin/jupytext --to md:myst {SOURCE_FOLDER}/{assignment}.md` (or save it in Jupyter)"
    )


# ------------------------------------------------------------------- the build itself


def test_build_is_deterministic_and_ids_follow_grade_ids(tmp_path: Path) -> None:
    intro = [new_markdown_cell("# A problem set"), new_code_cell("import math")]
    outro = [new_markdown_cell("The end.")]
    source = _write_source(tmp_path, "psx", [*intro, *_question("double"), *outro])
    first = build(tmp_path)
    notebook = first[0].notebook
    text = notebook.read_text(encoding="utf-8")
    assert first[0].stale
    assert _ids(notebook) == [
        "intro-1",
        "intro-2",
        "intro-3",
        "double",
        "test_double",
        "test_double-1",
    ]
    os.utime(source)  # a save without changes
    again = build(tmp_path)
    assert not again[0].stale and notebook.read_text(encoding="utf-8") == text
    assert build_notebook(source) == text  # jupytext's random ids never reach the bytes

    # a question inserted at the top: every graded cell, and what follows it, keeps its id
    _write_source(tmp_path, "psx", [*_question("halve"), *intro, *_question("double"), *outro])
    build(tmp_path)
    assert _ids(notebook) == [
        "intro-1",
        "halve",
        "test_halve",
        "test_halve-1",
        "test_halve-2",
        "test_halve-3",
        "double",
        "test_double",
        "test_double-1",
    ]


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda cells: cells[1].metadata.clear(), "solution region outside a solution cell"),
        (lambda cells: cells[2].metadata.clear(), "hidden tests outside a graded test cell"),
        (
            lambda cells: cells[2].metadata.nbgrader.update(grade_id="double"),
            "'double' (from grade_id) is used twice",
        ),
        (
            lambda cells: cells[1].metadata.nbgrader.update(grade_id="a b"),
            "is not [a-zA-Z0-9_-]",
        ),
    ],
    ids=["solution-outside", "hidden-outside", "duplicate-id", "bad-id"],
)
def test_build_refuses_a_source_that_would_leak_or_break(tmp_path, broken, message) -> None:
    cells = _question("double")
    broken(cells)
    _write_source(tmp_path, "psx", cells)
    with pytest.raises(BuildError, match=re.escape(message)):
        build(tmp_path)
    assert not (tmp_path / "solutions").exists()


def test_build_keeps_a_notebook_edited_by_hand(tmp_path: Path, capsys) -> None:
    source = _write_source(tmp_path, "psx", _question("double"))
    config = 'c = get_config()\nc.CourseDirectory.source_directory = "solutions"\n'
    (tmp_path / "nbgrader_config.py").write_text(config)
    (notebook,) = (b.notebook for b in build(tmp_path))
    edited = notebook.read_text(encoding="utf-8").replace("return x", "return x + 0")
    notebook.write_text(edited, encoding="utf-8")
    stamp = source.stat().st_mtime
    os.utime(notebook, (stamp + 10, stamp + 10))
    with pytest.raises(BuildError, match="edited by hand"):
        build(tmp_path)
    assert notebook.read_text(encoding="utf-8") == edited
    assert main(["--course", str(tmp_path), "build", "--check"]) == 1
    assert "STALE" in capsys.readouterr().out
    assert main(["--course", str(tmp_path), "build"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["--course", str(tmp_path), "build", "--force"]) == 0
    assert notebook.read_text(encoding="utf-8") == build_notebook(source)
    assert main(["--course", str(tmp_path), "build", "psy"]) == 2
    assert "no assignments/<id>.md for psy" in capsys.readouterr().err


def test_shipped_source_builds_the_same_anywhere(tmp_path: Path) -> None:
    """Only the source is needed: a copy elsewhere builds the committed bytes."""
    shutil.copy(SOURCES["ps1_activations"], tmp_path / "copy.md")
    built = (ROOT / "solutions" / "ps1_activations" / "ps1_activations.ipynb").read_text()
    assert build_notebook(tmp_path / "copy.md") == built


# ------------------------------------------------ nothing from the sources is published


def test_sources_live_outside_what_nbgrader_and_the_book_read() -> None:
    assert (ROOT / SOURCE_FOLDER).resolve() != harness.SOLUTIONS_DIR.resolve()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf8"))
    assert SOURCE_FOLDER in config["exclude_patterns"], "the book would read the sources"
    toc = (ROOT / "_toc.yml").read_text(encoding="utf8")
    assert f"{SOURCE_FOLDER}/" not in toc
    # nbgrader copies every file of solutions/<id>/ into the release: notebooks only there
    for folder in (harness.SOLUTIONS_DIR, harness.EXERCISES_DIR):
        extra = sorted(
            str(p.relative_to(ROOT))
            for p in folder.rglob("*")
            if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts
        )
        assert not extra, f"files beside the notebooks reach the release: {extra}"


def test_no_built_or_released_notebook_carries_the_source_metadata() -> None:
    for folder in (harness.SOLUTIONS_DIR, harness.EXERCISES_DIR):
        for path in sorted(folder.glob("*/*.ipynb")):
            nb = json.loads(path.read_text(encoding="utf-8"))
            assert "jupytext" not in nb["metadata"], f"{path.relative_to(ROOT)}: jupytext metadata"
            assert all("jupytext" not in c.get("metadata", {}) for c in nb["cells"]), path
