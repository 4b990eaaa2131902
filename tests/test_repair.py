"""Repair of damaged but honest submissions, one test per kind of damage.

Works on the real ps1 release (exercises/) filled with the instructor's answers, so the
matching is tested on cells as long and as similar as the real ones.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell

from relu_course.grading.repair import (
    CorruptSubmission,
    read_submission,
    repair_file,
    repair_notebook,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demo"))
import make_demo  # noqa: E402  (the demo generator's fill() builds answered notebooks)

AID = "ps1_activations"
RELEASE = nbformat.read(ROOT / "exercises" / AID / f"{AID}.ipynb", as_version=4)
SOURCE = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
GRADED = [c.metadata["nbgrader"]["grade_id"] for c in RELEASE.cells if "nbgrader" in c.metadata]


def gid(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def perfect() -> nbformat.NotebookNode:
    return make_demo.fill(RELEASE, make_demo._answers(SOURCE))


def ids_in_order(nb: nbformat.NotebookNode) -> list[str]:
    return [g for g in map(gid, nb.cells) if g]


def kinds(repairs) -> list[str]:
    return sorted(r.kind for r in repairs)


def test_intact_submission_needs_no_repair():
    nb = perfect()
    fixed, repairs = repair_notebook(nb, RELEASE)
    assert repairs == []
    assert fixed == nb


def test_stripped_metadata_is_restored_by_content():
    nb = perfect()
    for cell in nb.cells:
        cell.metadata = {}
    fixed, repairs = repair_notebook(nb, RELEASE)
    assert ids_in_order(fixed) == GRADED
    assert kinds(repairs) == ["metadata"] * len(GRADED)
    for cell, ref in zip(fixed.cells, perfect().cells, strict=True):
        assert cell.source == ref.source  # answers untouched
        assert cell.metadata.get("nbgrader") == ref.metadata.get("nbgrader")


def test_stripped_metadata_with_a_filled_answer_still_matches_its_function():
    nb = make_demo.fill(
        RELEASE, {"relu": "    y = np.maximum(x, 0)\n    return y.astype(x.dtype)\n"}
    )
    for cell in nb.cells:
        cell.metadata = {}
    fixed, _ = repair_notebook(nb, RELEASE)
    relu = next(c for c in fixed.cells if gid(c) == "relu")
    assert "y = np.maximum(x, 0)" in relu.source


def test_duplicated_answer_cell_keeps_the_later_answer():
    nb = perfect()
    i = next(k for k, c in enumerate(nb.cells) if gid(c) == "relu")
    stub = copy.deepcopy(RELEASE.cells[i])
    stub.id = "copy"
    nb.cells.insert(i, stub)  # unanswered copy above the answer
    fixed, repairs = repair_notebook(nb, RELEASE)
    assert kinds(repairs) == ["duplicate"]
    assert repairs[0].cell == "relu"
    owners = [c for c in fixed.cells if gid(c) == "relu"]
    assert len(owners) == 1 and "NotImplementedError" not in owners[0].source
    assert len(fixed.cells) == len(nb.cells)  # the copy stays, as an ungraded scratch cell


def test_duplicated_test_cell_is_dropped():
    nb = perfect()
    j = next(k for k, c in enumerate(nb.cells) if gid(c) == "test_sigmoid")
    twin = copy.deepcopy(nb.cells[j])
    twin.id = "twin"
    nb.cells.insert(j, twin)
    fixed, repairs = repair_notebook(nb, RELEASE)
    assert kinds(repairs) == ["duplicate"]
    assert ids_in_order(fixed) == GRADED
    assert len(fixed.cells) == len(nb.cells) - 1


def test_test_cell_turned_into_markdown_becomes_code_again():
    for keep_metadata in (True, False):
        nb = perfect()
        k = next(i for i, c in enumerate(nb.cells) if gid(c) == "test_relu_grad")
        meta = nb.cells[k].metadata if keep_metadata else {}
        nb.cells[k] = new_markdown_cell(nb.cells[k].source, metadata=meta)
        fixed, repairs = repair_notebook(nb, RELEASE)
        assert fixed.cells[k].cell_type == "code"
        assert fixed.cells[k].outputs == []
        assert "cell_type" in kinds(repairs)
        assert ids_in_order(fixed) == GRADED


def test_scratch_cells_are_kept_and_not_flagged():
    nb = perfect()
    nb.cells.insert(5, new_code_cell("relu(np.array([1.0]))"))
    nb.cells.append(new_code_cell("1 / 0"))
    fixed, repairs = repair_notebook(nb, RELEASE)
    assert kinds(repairs) == ["extra"]
    assert repairs[0].review is False
    assert len(fixed.cells) == len(nb.cells)


def test_unknown_grade_id_is_made_ungraded():
    nb = perfect()
    nb.cells.append(new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "from_ps9"}}))
    fixed, repairs = repair_notebook(nb, RELEASE)
    assert "unknown_id" in kinds(repairs)
    assert "nbgrader" not in fixed.cells[-1].metadata


def test_deleted_answer_cell_is_reported_missing():
    nb = perfect()
    nb.cells = [c for c in nb.cells if gid(c) != "gelu"]
    _, repairs = repair_notebook(nb, RELEASE)
    assert [(r.kind, r.cell) for r in repairs] == [("missing", "gelu")]


def test_position_keeps_a_scratch_copy_from_stealing_a_match():
    # a scratch copy of the relu test far below must not be taken for test_relu
    nb = perfect()
    k = next(i for i, c in enumerate(nb.cells) if gid(c) == "test_relu")
    copy_cell = new_code_cell(nb.cells[k].source)
    for cell in nb.cells:
        if gid(cell) == "test_relu":
            cell.metadata = {}
    nb.cells.append(copy_cell)
    fixed, _ = repair_notebook(nb, RELEASE)
    assert gid(fixed.cells[k]) == "test_relu"
    assert gid(fixed.cells[-1]) is None


def test_nbformat_44_without_ids_is_upgraded(tmp_path):
    data = json.loads(nbformat.writes(perfect()))
    data["nbformat_minor"] = 4
    for cell in data["cells"]:
        cell.pop("id")
    path = tmp_path / "old.ipynb"
    path.write_text(json.dumps(data))
    nb, repairs = read_submission(path)
    assert nb.nbformat_minor == 5 and all(c.get("id") for c in nb.cells)
    assert kinds(repairs) == ["format"] and repairs[0].review is False
    nbformat.validate(nb)


def test_nbformat_3_is_upgraded(tmp_path):
    path = tmp_path / "v3.ipynb"
    path.write_text(nbformat.writes(nbformat.convert(perfect(), 3), version=3))
    nb, repairs = read_submission(path)
    fixed, more = repair_notebook(nb, RELEASE)
    assert nb.nbformat == 4 and kinds(repairs) == ["format"]
    assert ids_in_order(fixed) == GRADED and more == []


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b'{"cells": [ {"cell_type": "code", "sour', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'{"hello": 1}', "not a Jupyter notebook"),
        (b"[1, 2]", "not a Jupyter notebook"),
    ],
)
def test_corrupt_files_raise_a_clear_error(tmp_path, content, words):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(CorruptSubmission, match=words):
        read_submission(path)


def test_repair_file_never_writes_the_submission(tmp_path):
    nb = perfect()
    for cell in nb.cells:
        cell.metadata = {}
    src = tmp_path / "in.ipynb"
    nbformat.write(nb, src)
    before = src.read_bytes()
    repairs = repair_file(src, ROOT / "exercises" / AID / f"{AID}.ipynb", tmp_path / "out.ipynb")
    assert src.read_bytes() == before
    assert repairs and (tmp_path / "out.ipynb").exists()
