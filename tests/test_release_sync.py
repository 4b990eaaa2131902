"""The committed student notebooks are exactly what nbgrader makes from solutions/.

* ``exercises/<id>/`` is regenerated with the real ``nbgrader generate_assignment`` in a
  temporary course for EVERY assignment in ``solutions/`` and compared with the committed
  copy: same files, and per notebook the same cells (type, source, nbgrader metadata);
* no tracked notebook anywhere carries outputs or execution counts;
* no released file contains solution or hidden-test text.

When a comparison fails, regenerate and commit the release from the repository root::

    PATH=.venv/bin:$PATH nbgrader generate_assignment <id> --force
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import nbgrader_harness as harness
import pytest

ASSIGNMENTS = harness.assignment_ids()
FORBIDDEN = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
COURSE_NOTEBOOK_DIRS = {"solutions", "exercises", "notebooks", "chapters"}
REGENERATE = "PATH=.venv/bin:$PATH nbgrader generate_assignment {id} --force"


def tracked(*patterns: str) -> list[Path]:
    """Files git tracks that match ``patterns`` (all files, when this is no git checkout)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--", *patterns],
            cwd=harness.REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):  # an unpacked archive, say
        skip = {".venv", "_build", ".git", ".ipynb_checkpoints", ".jupyter_cache"}
        files = [
            p
            for p in harness.REPO_ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(harness.REPO_ROOT).parts)
        ]
        return [
            p
            for p in files
            if any(  # git pathspec semantics: "*" also matches "/"; a folder means its files
                fnmatch.fnmatchcase(rel := p.relative_to(harness.REPO_ROOT).as_posix(), pat)
                or rel.startswith(pat.rstrip("/") + "/")
                for pat in patterns
            )
        ]
    return [harness.REPO_ROOT / p for p in out.split("\0") if p]


def files_under(folder: Path) -> set[str]:
    skip = {".ipynb_checkpoints", "__pycache__"}
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and not skip & set(p.parts)
    }


def cell_summary(nb: nbformat.NotebookNode) -> list[tuple[str, str, dict]]:
    return [(c.cell_type, c.source, dict(c.metadata.get("nbgrader", {}))) for c in nb.cells]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``exercises/`` as the real nbgrader generates it now, for every assignment.

    Each assignment is generated in its own temporary course (the harness runs
    ``nbgrader generate_assignment`` once per process and source version).
    """
    root = tmp_path_factory.mktemp("release")
    out = root / "exercises"
    for assignment_id in ASSIGNMENTS:
        course = harness.generated_course(assignment_id, root / "courses" / assignment_id)
        shutil.copytree(course.root / "exercises" / assignment_id, out / assignment_id)
    return out


def test_every_assignment_is_found() -> None:
    assert "ps1_activations" in ASSIGNMENTS, f"assignments found in solutions/: {ASSIGNMENTS}"


@pytest.mark.slow
@pytest.mark.parametrize("assignment_id", ASSIGNMENTS)
def test_committed_release_matches_nbgrader(regenerated: Path, assignment_id: str) -> None:
    committed = harness.EXERCISES_DIR / assignment_id
    hint = f"regenerate it: {REGENERATE.format(id=assignment_id)}, then commit exercises/"
    assert committed.is_dir(), f"exercises/{assignment_id} is missing; {hint}"
    fresh = regenerated / assignment_id
    assert files_under(committed) == files_under(fresh), f"files differ; {hint}"
    for name in sorted(files_under(fresh)):
        if not name.endswith(".ipynb"):
            assert (committed / name).read_bytes() == (fresh / name).read_bytes(), (
                f"exercises/{assignment_id}/{name} differs; {hint}"
            )
            continue
        want = cell_summary(nbformat.read(fresh / name, as_version=4))
        got = cell_summary(nbformat.read(committed / name, as_version=4))
        assert len(got) == len(want), (
            f"{name}: {len(got)} cells, nbgrader makes {len(want)}; {hint}"
        )
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g == w, (
                f"{name} cell {i} differs from nbgrader's release; {hint}\n"
                f"committed: {g}\nnbgrader:  {w}"
            )


def test_no_release_without_a_source() -> None:
    released = {p.parent.name for p in tracked("exercises/*.ipynb")}
    orphans = sorted(released - set(ASSIGNMENTS))
    assert not orphans, f"exercises/ has assignments with no solutions/ source: {orphans}"


def test_no_tracked_notebook_has_outputs() -> None:
    """Every tracked notebook that parses is committed clean; course notebooks must parse.

    A tracked ``.ipynb`` that is not JSON at all (a deliberately corrupt submission used
    as test data, say) cannot carry outputs and is skipped, unless it sits in a folder of
    course notebooks (solutions/, exercises/, notebooks/, chapters/).
    """
    dirty, broken = [], []
    for path in tracked("*.ipynb"):
        rel = path.relative_to(harness.REPO_ROOT)
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if rel.parts[0] in COURSE_NOTEBOOK_DIRS:
                broken.append(f"{rel}: {exc}")
            continue
        for i, cell in enumerate(nb.get("cells", [])):
            if cell.get("cell_type") != "code":
                continue
            if cell.get("outputs") or cell.get("execution_count") is not None:
                dirty.append(f"{rel} cell {i}")
    assert not broken, "course notebooks that are not valid JSON:\n" + "\n".join(broken)
    assert not dirty, "notebooks committed with outputs or execution counts:\n" + "\n".join(dirty)


def test_exercises_hold_no_solutions_or_hidden_tests() -> None:
    leaks = [
        f"{path.relative_to(harness.REPO_ROOT)}: {marker}"
        for path in tracked("exercises")
        for marker in FORBIDDEN
        if marker in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert not leaks, "released files contain instructor-only text:\n" + "\n".join(leaks)
