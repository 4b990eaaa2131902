"""Build the demo class of ps1_activations: an LMS export with honest, damaged and broken
submissions, a roster and the score each submission must get.

Run from the repository root after the ps1 notebooks change::

    python demo/make_demo.py

It writes (and the repository ships):

- ``demo/lms_export/``: Canvas-style files and Moodle-style folders, as an LMS exports
  them, including a renamed file, a stray notebook nobody owns and a non-notebook file;
- ``demo/roster.csv``: student ids, LMS ids and names;
- ``demo/expected.json``: for each student the score the answers earn (computed here
  from the points in the source notebook and the functions each student got right) and
  whether the submission must be flagged for review.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "demo"
AID = "ps1_activations"
_REGION = re.compile(r"[ \t]*### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n?", re.DOTALL)
_STUB = re.compile(r"[ \t]*# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)\n?")

# Plausible wrong answers: each must fail its test cell (the tests check that it does).
WRONG = {
    "relu": "    return np.abs(x)\n",
    "elu": "    return np.where(x > 0, x, np.exp(np.minimum(x, 0)) - 1.0).astype(x.dtype)\n",
    "sigmoid_grad": "    return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype)\n",
    "gelu": "    return (x / (1.0 + np.exp(-1.702 * x))).astype(x.dtype)\n",
}


def _answers(source: nbformat.NotebookNode) -> dict[str, str]:
    """grade id -> body of the instructor's solution."""
    found = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        m = _REGION.search(cell.source)
        if meta.get("solution") and m:
            found[meta["grade_id"]] = m.group(1)
    return found


def _points(source: nbformat.NotebookNode) -> dict[str, float]:
    """function name -> points of its test cell (test_<name>)."""
    pts = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and meta.get("grade_id", "").startswith("test_"):
            pts[meta["grade_id"][5:]] = float(meta["points"])
    return pts


def fill(release: nbformat.NotebookNode, bodies: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of the released notebook with the stubs of ``bodies`` filled in."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in bodies:
            cell.source = _STUB.sub(lambda _m, g=gid: bodies[g], cell.source, count=1)
    return nb


def _index(nb: nbformat.NotebookNode, gid: str) -> int:
    return next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid
    )


def _write(path: Path, nb: nbformat.NotebookNode) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def build() -> dict[str, dict[str, object]]:
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "exercises" / AID / f"{AID}.ipynb", as_version=4)
    right = _answers(source)
    points = _points(source)
    full = sum(points.values())
    out = HERE / "lms_export"
    shutil.rmtree(out, ignore_errors=True)
    expected: dict[str, dict[str, object]] = {}
    roster = [("student_id", "lms_id", "first_name", "last_name", "email")]

    def canvas(sid: str, first: str, last: str, uid: int, nb, *, late=False, name=None):
        lms = f"{last}{first}".lower()
        fname = f"{lms}{'_LATE' if late else ''}_{uid}_{uid + 500000}_{name or AID + '.ipynb'}"
        roster.append((sid, str(uid), first, last, f"{sid}@example.edu"))
        if nb is not None:
            _write(out / fname, nb)
        return out / fname

    def moodle(sid: str, first: str, last: str, uid: int, nb, name=None):
        folder = out / f"{first} {last}_{uid}_assignsubmission_file_"
        roster.append((sid, str(uid), first, last, f"{sid}@example.edu"))
        _write(folder / (name or f"{AID}.ipynb"), nb)

    def expect(sid: str, wrong=(), blank=(), review=False, note=""):
        lost = sum(points[f] for f in set(wrong) | set(blank))
        expected[sid] = {"score": full - lost, "max_score": full, "review": review, "note": note}

    perfect = fill(release, right)
    canvas("ada", "Ada", "Lovelace", 10001, perfect)
    expect("ada", note="perfect")

    canvas("blaise", "Blaise", "Pascal", 10002, release)
    expect("blaise", blank=list(points), note="blank: handed in the release unchanged")

    wrong = dict(right, **WRONG)
    for gone in ("gelu_grad",):
        wrong.pop(gone)
    canvas("carl", "Carl", "Gauss", 10003, fill(release, wrong), late=True)
    expect(
        "carl",
        wrong=list(WRONG),
        blank=["gelu_grad"],
        note="partial: 4 wrong answers, 1 left blank; the LMS marked it late",
    )

    stripped = copy.deepcopy(perfect)
    for cell in stripped.cells:
        cell.metadata = {}
    moodle("dorothy", "Dorothy", "Vaughan", 20004, stripped)
    expect("dorothy", review=True, note="VS Code stripped every cell's metadata")

    dup = copy.deepcopy(perfect)
    i = _index(dup, "relu")
    attempt = copy.deepcopy(fill(release, {"relu": WRONG["relu"]}).cells[i])
    attempt.id = "first-try"
    dup.cells.insert(i, attempt)  # an earlier wrong try above the final answer, same id
    j = _index(dup, "test_sigmoid")
    twin = copy.deepcopy(dup.cells[j])
    twin.id = "test-twice"
    dup.cells.insert(j + 1, twin)
    canvas("emmy", "Emmy", "Noether", 10005, dup)
    expect("emmy", review=True, note="relu answer cell and test_sigmoid cell duplicated")

    md = copy.deepcopy(perfect)
    k = _index(md, "test_relu_grad")
    md.cells[k] = new_markdown_cell(md.cells[k].source, metadata=md.cells[k].metadata)
    md.cells[k].id = "was-code"
    moodle("florence", "Florence", "Nightingale", 20006, md)
    expect("florence", review=True, note="test_relu_grad turned into a markdown cell")

    scratch = copy.deepcopy(perfect)
    scratch.cells.insert(_index(scratch, "relu") + 1, new_code_cell("relu(np.array([-1.0, 2.0]))"))
    scratch.cells.append(new_code_cell("print('scratch work')\n1 / 0"))
    canvas("grace", "Grace", "Hopper", 10007, scratch)
    expect("grace", note="extra scratch cells (one raises ZeroDivisionError)")

    old = json.loads(nbformat.writes(perfect))
    old["nbformat_minor"] = 4
    for cell in old["cells"]:
        cell.pop("id", None)
    path = canvas("hedy", "Hedy", "Lamarr", 10008, None)
    path.write_text(json.dumps(old, indent=1), encoding="utf-8")
    expect("hedy", note="nbformat 4.4 (no cell ids)")

    v3 = nbformat.convert(copy.deepcopy(perfect), 3)
    path = canvas("isaac", "Isaac", "Newton", 10009, None)
    path.write_text(nbformat.writes(v3, version=3), encoding="utf-8")
    expect("isaac", note="nbformat 3 (worksheets)")

    colab = fill(release, dict(right, gelu=WRONG["gelu"]))
    for cell in colab.cells:
        cell.metadata = {"id": cell.id} if cell.cell_type == "code" else {}
    colab.metadata = {
        "colab": {"provenance": []},
        "kernelspec": {"name": "python3", "display_name": "Python 3"},
    }
    moodle("johanna", "Johanna", "Kepler", 20010, colab, name=f"Copy of {AID} (1).ipynb")
    expect(
        "johanna",
        wrong=["gelu"],
        review=True,
        note="Colab: metadata stripped, file renamed, gelu wrong",
    )

    canvas("kurt", "Kurt", "Goedel", 10011, perfect, name="my_homework.ipynb")
    expect("kurt", review=True, note="own file name")

    path = canvas("lise", "Lise", "Meitner", 10012, None)
    path.write_text(nbformat.writes(perfect)[:4000], encoding="utf-8")
    expected["lise"] = {
        "score": 0.0,
        "max_score": full,
        "review": True,
        "note": "truncated file: 0 points, flagged",
    }

    _write(out / "stray_notebook.ipynb", perfect)  # nobody's: reported, not collected
    (out / "canvas_export_readme.txt").write_text("Downloaded from the LMS.\n", encoding="utf-8")
    with (HERE / "roster.csv").open("w", encoding="utf-8") as fh:
        fh.writelines(",".join(row) + "\n" for row in roster)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    return expected


if __name__ == "__main__":
    result = build()
    print(f"demo class: {len(result)} submissions in {HERE / 'lms_export'}")
