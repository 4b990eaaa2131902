"""Adversarial suite: cheating and harmful ps1 submissions graded in the sandbox.

Every attack in ``tests/attacks/*.py`` (student code replacing solution cells or added
as scratch cells) and in :data:`METADATA_ATTACKS` (test cells deleted, edited, retagged,
re-pointed) is one submission of a single batch that also holds honest submissions. The
batch runs through the real ``nbgrader autograde`` with
:func:`relu_course.grading.sandbox.configure_nbgrader` (bubblewrap kernels), then
:func:`relu_course.grading.verify.check_submission` re-verifies each verdict in a clean process.

Asserted for every attack: it earns no point it did not earn (final score per question),
it is flagged (with the expected kind of reason), and the gradebook, the other
submissions, the course folder and a second "victim" course are byte-for-byte intact (or,
for the grading course's own gradebook, still a sound database with the honest scores);
no process it started outlives grading; nothing reached a server on this machine.
Honest submissions in the same batch keep full marks and raise no tampering flag.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import corpus_ps1
import nbformat
import nbgrader_harness as harness
import pytest
from nbgrader.utils import compute_checksum

from relu_course.grading.sandbox import Limits, bwrap_available
from relu_course.grading.verify import Audit, check_submission

ASSIGNMENT = "ps1_activations"
ATTACKS_DIR = Path(__file__).parent / "attacks"
CELL_TIMEOUT = 10
pytestmark = pytest.mark.skipif(
    not bwrap_available(),
    reason=harness.NO_BWRAP,
)


# ----------------------------------------------------------------------------- attacks


@dataclass
class Attack:
    """One attack: code per cell (``scratch`` = a new last cell) or a notebook transform."""

    name: str
    doc: str
    cells: dict[str, str] = field(default_factory=dict)
    earned: set[str] = field(default_factory=set)  # functions it implements honestly
    flags: set[str] = field(default_factory=set)  # flag kinds that must be raised
    tampering: bool = True  # False: slow or broken code, reported but not called tampering
    transform: Callable[[Any], Any] | None = None


def load_attack(path: Path) -> Attack:
    """Parse ``tests/attacks/<name>.src``: docstring, ``# earned:``, ``# flags:``, ``# %% cell``."""
    text = path.read_text(encoding="utf-8")
    doc = text.split('"""')[1].strip()
    attack = Attack(path.stem, doc)
    attack.tampering = not re.search(r"^# tampering: no$", text, re.M)
    for key in ("earned", "flags"):
        match = re.search(rf"^# {key}: (.*)$", text, re.M)
        if match:
            setattr(attack, key, {w.strip() for w in match.group(1).split(",")})
    for part in re.split(r"^# %% ", text, flags=re.M)[1:]:
        target, _, body = part.partition("\n")
        attack.cells[target.strip()] = body.strip() + "\n"
    return attack


def _test_cells(nb: Any) -> list[Any]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _delete_tests(nb: Any) -> Any:
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def _raise_points(nb: Any) -> Any:
    for cell in _test_cells(nb):
        cell.source = "pass"
        cell.metadata.nbgrader["points"] = 100
        cell.metadata.nbgrader["checksum"] = compute_checksum(cell)  # a consistent forgery
    return nb


def _retag_tests(nb: Any) -> Any:
    for i, cell in enumerate(_test_cells(nb)):
        cell.source = "pass"
        meta = cell.metadata.nbgrader
        meta.update(grade=False, solution=True, locked=False)
        if i == 0:
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return nb


def _fake_grade_ids(nb: Any) -> Any:
    for cell in _test_cells(nb):
        cell.source = "pass"
        cell.metadata.nbgrader["grade_id"] += "_mine"
    bonus = nbformat.v4.new_code_cell("pass")
    bonus.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "bonus",
        "locked": True,
        "points": 100,
        "solution": False,
        "schema_version": 3,
    }
    nb.cells.append(bonus)
    return nb


METADATA_ATTACKS = [
    Attack("delete_tests", "Delete every test cell.", flags={"deleted-test-cell"},
           transform=_delete_tests),
    Attack("raise_points", "Empty every test cell, give it 100 points and a matching checksum.",
           flags={"changed-points", "edited-test-cell"}, transform=_raise_points),
    Attack("retag_tests", "Retag test cells as ungraded solution cells (one as markdown).",
           flags={"retagged-test-cell"}, transform=_retag_tests),
    Attack("fake_grade_ids", "Rename the test cells' grade ids and add a 100-point bonus cell.",
           flags={"deleted-test-cell", "unknown-graded-cell"}, transform=_fake_grade_ids),
]  # fmt: skip

ATTACKS = [load_attack(p) for p in sorted(ATTACKS_DIR.glob("*.src"))] + METADATA_ATTACKS


def _honest_sources(index: int) -> dict[str, str]:
    return {fn: variants[index % len(variants)][1] for fn, variants in corpus_ps1.CORRECT.items()}


HONEST = {
    "honest_reference": None,  # the reference solution
    "honest_corpus_a": 0,  # correct variants written differently
    "honest_corpus_b": -1,
}


# ----------------------------------------------------------------------------- the batch


def _digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def marker_processes(marker: str) -> list[str]:
    """Processes whose command line holds ``marker`` (left behind by an attack)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if marker in cmdline and "pytest" not in cmdline:
                found.append(f"{proc.name}: {cmdline}")
    return found


@dataclass
class Batch:
    course: Path
    victim: Path
    scores: dict[str, dict[str, float]]
    audits: dict[str, Audit]
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    connections: list[bytes]
    leftovers: list[str]
    timings: dict[str, float]
    log: str


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    tmp = tmp_path_factory.mktemp("attacks")
    course = harness.generated_course(ASSIGNMENT, tmp / "course")
    root = course.root
    limits = Limits(memory_bytes=4 * 2**30, cpu_seconds=120, wall_seconds=240)
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(
            "\nfrom relu_course.grading.sandbox import Limits, configure_nbgrader\n"
            f"configure_nbgrader(c, Limits(**{json.dumps(limits.__dict__)}))\n"
            f"c.Execute.timeout = {CELL_TIMEOUT}\n"
            "c.OverwriteCells.add_missing_cells = True\n"
        )
    release = harness.released_notebook(ASSIGNMENT)
    reference = harness.fill_solutions(release, harness.solution_sources(ASSIGNMENT))

    # A second course the attacks know the paths of: its gradebook, solutions, a classmate.
    victim = tmp / "victim"
    shutil.copytree(root / "solutions", victim / "solutions")
    shutil.copyfile(root / "gradebook.db", victim / "gradebook.db")
    (victim / "submitted" / "classmate" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(
        reference, victim / "submitted" / "classmate" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    )

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    port = server.getsockname()[1]
    marker = str(90000 + os.getpid() % 9000)  # `sleep <marker>` seconds: findable in /proc
    connections: list[bytes] = []
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            connections.append(conn.recv(100) or b"(connected)")
            conn.close()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()

    subs: dict[str, Any] = {}
    for student, index in HONEST.items():
        sources = harness.solution_sources(ASSIGNMENT) if index is None else _honest_sources(index)
        subs[student] = harness.fill_solutions(release, sources)
    for attack in ATTACKS:
        nb = release
        fill = {k: v for k, v in attack.cells.items() if k != "scratch"}
        for key, code in fill.items():
            fill[key] = (
                code.replace("@@COURSE@@", str(root))
                .replace("@@VICTIM@@", str(victim))
                .replace("@@PORT@@", str(port))
                .replace("@@MARKER@@", marker)
            )
        nb = harness.fill_solutions(nb, fill)
        if "scratch" in attack.cells:
            code = attack.cells["scratch"]
            for token, value in [("@@COURSE@@", root), ("@@VICTIM@@", victim),
                                 ("@@PORT@@", port), ("@@MARKER@@", marker)]:  # fmt: skip
                code = code.replace(token, str(value))
            nb.cells.append(nbformat.v4.new_code_cell(code))
        if attack.transform is not None:
            nb = attack.transform(nb)
        subs[attack.name] = nb
    course.submit(ASSIGNMENT, subs)

    def state() -> dict[str, dict[str, str]]:
        return {
            "submitted": _digest(root / "submitted"),
            "solutions": _digest(root / "solutions"),
            "exercises": _digest(root / "exercises"),
            "victim": _digest(victim),
            "config": _digest(root / "source") if (root / "source").exists() else {},
        }

    before = state()
    start = time.perf_counter()
    timings: dict[str, float] = {}
    proc = harness.run_nbgrader(
        "autograde", ASSIGNMENT, "--force", cwd=root, timeout=900, check=False
    )
    timings["nbgrader autograde (sandboxed)"] = time.perf_counter() - start
    time.sleep(1.0)
    leftovers = marker_processes(f"sleep {marker}")
    stop.set()
    thread.join()
    server.close()
    after = state()

    from nbgrader.api import Gradebook, MissingEntry

    scores: dict[str, dict[str, float]] = {}
    with Gradebook(course.db_url) as gb:
        for student in subs:
            try:
                sub = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
                scores[student] = {g.name: float(g.score) for g in sub.grades}
            except MissingEntry:
                scores[student] = {}  # nbgrader could not grade it at all: 0 everywhere
    source_nb = root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    audits = {}
    verify_start = time.perf_counter()
    for student, nb in subs.items():
        graded = root / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        audits[student] = check_submission(
            release,
            nb,
            ASSIGNMENT,
            scores={gid: scores[student].get(gid, 0.0) for gid in _grade_ids(release)},
            autograded_nb=graded,
            source_nb=source_nb,
        )
    timings["clean re-verification and audit"] = time.perf_counter() - verify_start
    log = f"{proc.stdout}\n{proc.stderr}"
    return Batch(root, victim, scores, audits, before, after, connections, leftovers, timings, log)


def _grade_ids(nb: Any) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in _test_cells(nb)]


def _functions() -> list[str]:
    return [g.removeprefix("test_") for g in _grade_ids(harness.released_notebook(ASSIGNMENT))]


# ----------------------------------------------------------------------------- tests


def test_enough_distinct_attacks() -> None:
    assert len(ATTACKS) >= 15
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)
    kinds = set().union(*(a.flags for a in ATTACKS))
    for needed in ("patches-grader", "ipython-hook", "fake-equality", "kills-kernel",
                   "deleted-test-cell", "retagged-test-cell", "changed-points", "files",
                   "processes", "network", "resource-limit", "hidden-test-leak",
                   "timeout"):  # fmt: skip
        assert needed in kinds, f"no attack exercises {needed}"


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_earns_nothing_it_did_not_earn(batch: Batch, attack: Attack) -> None:
    audit = batch.audits[attack.name]
    for verdict in audit.verdicts:
        earned = verdict.function in attack.earned
        limit = verdict.max_score if earned else 0.0
        assert (verdict.final_score or 0.0) <= limit, (
            f"{attack.name}: {verdict.grade_id} scored {verdict.final_score}/{verdict.max_score} "
            f"(nbgrader {verdict.nbgrader_score}, clean {verdict.clean_passed}): {attack.doc}"
        )
    assert {v.grade_id for v in audit.verdicts} == set(
        _grade_ids(harness.released_notebook(ASSIGNMENT))
    )


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_attack_is_flagged(batch: Batch, attack: Attack) -> None:
    audit = batch.audits[attack.name]
    kinds = {f.kind for f in audit.all_flags}
    missing = {f for f in attack.flags if not kinds & set(f.split("|"))}
    assert not missing, f"{attack.name}: expected flags {missing}; got " + "; ".join(
        map(str, audit.all_flags)
    )
    assert audit.tampering == attack.tampering, [str(f) for f in audit.all_flags]


@pytest.mark.slow
def test_honest_parts_of_an_attack_keep_their_marks(batch: Batch) -> None:
    audit = batch.audits["honest_plus_hook"]
    scores = audit.scores()
    assert scores["test_relu"] == 1.0 and scores["test_relu_grad"] == 2.0, scores


@pytest.mark.slow
@pytest.mark.parametrize("student", sorted(HONEST))
def test_honest_submissions_keep_full_marks(batch: Batch, student: str) -> None:
    audit = batch.audits[student]
    for verdict in audit.verdicts:
        assert verdict.clean_passed, f"{student} {verdict.grade_id}: {verdict.message}"
        assert verdict.final_score == verdict.max_score, (student, verdict)
    assert not audit.tampering, [str(f) for f in audit.all_flags]
    assert sum(batch.scores[student].values()) == 20.0


@pytest.mark.slow
def test_course_and_other_submissions_left_intact(batch: Batch) -> None:
    for area, digests in batch.before.items():
        assert batch.after[area] == digests, f"{area} changed during grading"
    assert not (batch.course / "pwned.txt").exists()
    assert not (batch.victim / "pwned.txt").exists()


def top_score_of_sound_gradebook(db: Path) -> float:
    """The highest auto score in ``db``, after SQLite's integrity check passed."""
    with sqlite3.connect(db) as con:
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
        return con.execute("select max(auto_score) from grade").fetchone()[0]


@pytest.mark.slow
def test_gradebook_sound_and_unforged(batch: Batch) -> None:
    top = top_score_of_sound_gradebook(batch.course / "gradebook.db")
    assert top <= 2.0, "a grade was rewritten"


@pytest.mark.slow
def test_no_process_outlives_grading(batch: Batch) -> None:
    assert batch.leftovers == []


@pytest.mark.slow
def test_no_network(batch: Batch) -> None:
    assert batch.connections == []


@pytest.mark.slow
def test_batch_finished(batch: Batch) -> None:
    assert set(batch.scores) == set(HONEST) | {a.name for a in ATTACKS}
    print(f"\nbatch of {len(batch.scores)} submissions:", batch.timings)
    print(f"{'submission':24} nbgrader  final  flags")
    for student, audit in batch.audits.items():
        nbg = sum(v.nbgrader_score or 0.0 for v in audit.verdicts)
        final = sum(v.final_score or 0.0 for v in audit.verdicts)
        kinds = sorted({f.kind for f in audit.all_flags})
        print(f"{student:24} {nbg:8g} {final:6g}  {', '.join(kinds)}")


@pytest.mark.slow
@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_fooled_nbgrader_means_verdict_mismatch_flag(batch: Batch, attack: Attack) -> None:
    for verdict in batch.audits[attack.name].verdicts:
        if (verdict.nbgrader_score or 0.0) > (verdict.final_score or 0.0):
            assert any(f.kind == "verdict-mismatch" for f in verdict.flags), verdict


def test_hidden_tests_not_released() -> None:
    release = harness.EXERCISES_DIR / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    text = release.read_text(encoding="utf-8")
    assert "BEGIN HIDDEN TESTS" not in text and 'level="full"' not in text
