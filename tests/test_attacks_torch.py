"""Adversarial suite for the torch assignments (ps2, ps3, ps4), graded in the sandbox.

Every attack in ``tests/attacks_torch/*.src`` is one submission (same format as
``tests/attacks``, plus a ``# assignment:`` line) in one batch per assignment that also
holds honest submissions: the reference solution, and the first correct variant of every
answer cell from tests/corpus_ps234.py. Each batch runs through the real ``nbgrader autograde`` with
:func:`relu_course.grading.sandbox.configure_nbgrader` (bubblewrap kernels); then
:func:`relu_course.grading.verify.check_submission` re-verifies every verdict, the torch
questions by a judge process that never runs student code
(:mod:`relu_course.grading.verify_torch`).

Header lines of an attack, besides ``# earned:`` and ``# flags:``:

* ``# keeps: fn, ...``: honest answers whose full marks must survive the attack (e.g. the
  questions a clean-run hang does not touch);
* ``# xfail: earns, flagged, keeps: reason``: tests of this attack that are expected to
  fail (strictly), for a known limitation or a reported weakness;
* ``@@REFERENCE@@`` in a cell stands for the reference solution of that cell,
  ``@@MARKER@@`` for a number whose ``sleep`` process must not outlive grading and
  ``@@COURSE@@`` for the grading course's folder.

A question nbgrader scored 0 is not re-run (its final score is 0 anyway), so an attack on
the clean run itself (a hang, a kill, a forged channel, a flood) first earns nbgrader's
points: it behaves correctly in the notebook and turns hostile where there is no IPython.

Asserted for every attack: the final score of each question (min of nbgrader and the
clean verdict) holds no point it did not honestly earn; it is flagged (the expected kind
of flag, and as tampering); when nbgrader was fooled, the question carries a
``verdict-mismatch`` flag; the course folder and every submitted file are byte-for-byte
intact and the gradebook sound; no process it started outlives grading. Honest
submissions keep full marks and raise no tampering flag.

A clean-run question may take :data:`JOB_SECONDS` here (240 s in production) so that the
hang attack fits in the suite's time; every honest question here takes a few seconds.
The three batches run at once (nbgrader in one thread each, verifications two at a time):
about 2.5 minutes on 2 cores.
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import nbgrader_harness as harness
import pytest
from test_attacks import (
    Attack,
    _digest,
    load_attack,
    marker_processes,
    top_score_of_sound_gradebook,
)

from relu_course.grading import verify_torch
from relu_course.grading.sandbox import Limits, bwrap_available
from relu_course.grading.verify import Audit, check_submission
from tests import corpus_ps234 as corpus

ASSIGNMENTS = (corpus.PS2, corpus.PS3, corpus.PS4)
ATTACKS_DIR = Path(__file__).parent / "attacks_torch"
CELL_TIMEOUT = 60  # nbgrader, per cell: an honest ps2 test trains two 20-layer nets
JOB_SECONDS = 30  # clean run, per question (verify_torch.JOB_SECONDS in production)
KERNEL_LIMITS = Limits(memory_bytes=4 * 2**30, cpu_seconds=300, wall_seconds=300)
XFAIL_KINDS = ("earns", "flagged", "keeps")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not bwrap_available(),
        reason=harness.NO_BWRAP,
    ),
]


# ----------------------------------------------------------------------------- attacks


@dataclass
class TorchAttack(Attack):
    """An :class:`Attack` on one torch assignment."""

    assignment: str = ""
    keeps: set[str] = field(default_factory=set)  # honest answers that must keep full marks
    xfail: dict[str, str] = field(default_factory=dict)  # test kind -> why it fails


def load_torch_attack(path: Path) -> TorchAttack:
    """Parse ``tests/attacks_torch/<name>.src`` (see the module docstring)."""
    text = path.read_text(encoding="utf-8")
    attack = TorchAttack(**vars(load_attack(path)))
    match = re.search(r"^# assignment: (\S+)$", text, re.M)
    assert match and match.group(1) in ASSIGNMENTS, f"{path.name}: no known # assignment:"
    attack.assignment = match.group(1)
    match = re.search(r"^# keeps: (.*)$", text, re.M)
    if match:
        attack.keeps = {w.strip() for w in match.group(1).split(",")}
    match = re.search(r"^# xfail: ([a-z, ]+): (.*)$", text, re.M)
    if match:
        kinds = {w.strip() for w in match.group(1).split(",")}
        assert kinds <= set(XFAIL_KINDS), f"{path.name}: unknown xfail kinds {kinds}"
        attack.xfail = dict.fromkeys(kinds, match.group(2).strip())
    return attack


ATTACKS = [load_torch_attack(p) for p in sorted(ATTACKS_DIR.glob("*.src"))]


def _params(kind: str, attacks: list[TorchAttack] = ATTACKS) -> list[Any]:
    """One pytest param per attack; strict xfail where the attack declares this kind."""
    return [
        pytest.param(
            a,
            id=a.name,
            marks=[pytest.mark.xfail(strict=True, reason=a.xfail[kind])] if kind in a.xfail else [],
        )
        for a in attacks
    ]


def _honest(assignment: str) -> dict[str, dict[str, str]]:
    """``{student: {grade id: source}}``: the reference, and the first correct corpus variant
    of every answer cell (tests/test_verify_torch.py checks every other one)."""
    reference = harness.solution_sources(assignment)
    variants = corpus.variants(assignment, correct=True)
    mixed = dict(reference)
    for grade_id in reference:
        mine = [v for v in variants if v.grade_id == grade_id]
        if mine:
            mixed[grade_id] = mine[0].source
    return {"honest_reference": reference, "honest_corpus": mixed}


def _attack_notebook(attack: TorchAttack, release: Any, tokens: dict[str, str]) -> Any:
    """The release with the attack's cells typed in (``@@...@@`` tokens replaced)."""
    reference = harness.solution_sources(attack.assignment)
    cells = {}
    for grade_id, code in attack.cells.items():
        code = code.replace("@@REFERENCE@@", reference.get(grade_id, "").strip())
        for token, value in tokens.items():
            code = code.replace(token, value)
        cells[grade_id] = code
    nb = harness.fill_solutions(release, {k: v for k, v in cells.items() if k != "scratch"})
    if "scratch" in cells:
        nb.cells.append(nbformat.v4.new_code_cell(cells["scratch"]))
    return nb


# ----------------------------------------------------------------------------- batches


@dataclass
class Batch:
    """One assignment's submissions after nbgrader and the clean re-verification."""

    assignment: str
    course: Path
    scores: dict[str, dict[str, float]]
    audits: dict[str, Audit]
    verify_seconds: dict[str, float]
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]
    timings: dict[str, float]
    log: str


def _state(root: Path) -> dict[str, dict[str, str]]:
    return {area: _digest(root / area) for area in ("submitted", "solutions", "exercises")}


def _grade_ids(nb: Any) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")]  # fmt: skip


def grade_batch(assignment: str, tmp: Path, marker: str, pool: ThreadPoolExecutor) -> Batch:
    """Submit honest and attack notebooks, autograde them in the sandbox, verify each.

    The clean re-verifications go to ``pool`` (shared by the batches, so that one batch is
    verified while nbgrader still grades another).
    """
    course = harness.generated_course(assignment, tmp / assignment)
    root = course.root
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(
            "\nfrom relu_course.grading.sandbox import Limits, configure_nbgrader\n"
            f"configure_nbgrader(c, Limits(**{json.dumps(KERNEL_LIMITS.__dict__)}))\n"
            f"c.Execute.timeout = {CELL_TIMEOUT}\n"
            "c.OverwriteCells.add_missing_cells = True\n"
        )
    release = harness.released_notebook(assignment)
    subs = {s: harness.fill_solutions(release, src) for s, src in _honest(assignment).items()}
    for attack in ATTACKS:
        if attack.assignment == assignment:
            tokens = {"@@MARKER@@": marker, "@@COURSE@@": str(root)}
            subs[attack.name] = _attack_notebook(attack, release, tokens)
    course.submit(assignment, subs)

    before = _state(root)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    proc = harness.run_nbgrader(
        "autograde", assignment, "--force", cwd=root, timeout=1200, check=False
    )
    timings["nbgrader autograde (sandboxed)"] = time.perf_counter() - start

    from nbgrader.api import Gradebook, MissingEntry

    scores: dict[str, dict[str, float]] = {}
    with Gradebook(course.db_url) as gb:
        for student in subs:
            try:
                sub = gb.find_submission_notebook(assignment, assignment, student)
                scores[student] = {g.name: float(g.score) for g in sub.grades}
            except MissingEntry:
                scores[student] = {}  # nbgrader could not grade it at all: 0 everywhere
    source_nb = root / "solutions" / assignment / f"{assignment}.ipynb"

    def verify(student: str) -> tuple[Audit, float]:
        # the file as handed in, read back from disk: what a grader verifies
        folder = Path(assignment) / f"{assignment}.ipynb"
        start = time.perf_counter()
        audit = check_submission(
            release,
            root / "submitted" / student / folder,
            assignment,
            scores={gid: scores[student].get(gid, 0.0) for gid in _grade_ids(release)},
            autograded_nb=root / "autograded" / student / folder,
            source_nb=source_nb,
        )
        return audit, time.perf_counter() - start

    start = time.perf_counter()
    done = {student: pool.submit(verify, student) for student in subs}
    audits = {student: f.result()[0] for student, f in done.items()}
    seconds = {student: f.result()[1] for student, f in done.items()}
    timings["clean re-verification and audit"] = time.perf_counter() - start
    log = f"{proc.stdout}\n{proc.stderr}"
    return Batch(assignment, root, scores, audits, seconds, before, _state(root), timings, log)


@dataclass
class Graded:
    """Every batch, the processes carrying the marker that survived, the wall time."""

    batches: dict[str, Batch]
    leftovers: list[str]
    seconds: float


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """The three batches, graded at once; clean runs limited to :data:`JOB_SECONDS`."""
    tmp = tmp_path_factory.mktemp("attacks_torch")
    marker = str(80000 + os.getpid() % 9000)  # `sleep <marker>` seconds: findable in /proc
    start = time.perf_counter()
    for assignment in ASSIGNMENTS:  # nbgrader generate_assignment, once, before the threads
        harness.released_notebook(assignment)
    with pytest.MonkeyPatch.context() as mp:
        short = functools.partial(verify_torch.run_torch_jobs, job_seconds=JOB_SECONDS)
        mp.setattr(verify_torch, "run_torch_jobs", short)
        with (
            ThreadPoolExecutor(max_workers=2) as verifiers,
            ThreadPoolExecutor(max_workers=len(ASSIGNMENTS)) as graders,
        ):
            futures = {a: graders.submit(grade_batch, a, tmp, marker, verifiers)
                       for a in ASSIGNMENTS}  # fmt: skip
            batches = {a: f.result() for a, f in futures.items()}
    time.sleep(1.0)
    leftovers = marker_processes(f"sleep {marker}")
    return Graded(batches, leftovers, time.perf_counter() - start)


def _finals(batch: Batch, student: str) -> dict[str, tuple[float, float, Any]]:
    """``{question: (nbgrader score, final score, verdict)}`` for every question.

    A question that nbgrader scored 0 is not re-run (its final score is 0): no verdict.
    """
    verdicts = {v.grade_id: v for v in batch.audits[student].verdicts}
    out = {}
    for gid in _questions(batch.assignment):
        given = batch.scores[student].get(gid, 0.0)
        verdict = verdicts.get(gid)
        if verdict is None:
            assert given == 0.0, f"{student}: {gid} scored {given} by nbgrader, not re-verified"
            out[gid] = (given, 0.0, None)
        else:
            assert verdict.nbgrader_score == given, (student, verdict)
            out[gid] = (given, verdict.final_score or 0.0, verdict)
    return out


def _questions(assignment: str) -> set[str]:
    return set(_grade_ids(harness.released_notebook(assignment)))


# ----------------------------------------------------------------------------- tests


def test_enough_distinct_attacks() -> None:
    assert len(ATTACKS) >= 14
    assert len({a.name for a in ATTACKS}) == len(ATTACKS)
    for assignment in ASSIGNMENTS:
        assert sum(a.assignment == assignment for a in ATTACKS) >= 4, assignment
    kinds = set().union(*(a.flags for a in ATTACKS))
    for needed in ("patches-grader", "ipython-hook", "fake-equality", "kills-kernel",
                   "verdict-mismatch", "processes", "introspection"):  # fmt: skip
        assert any(needed in k.split("|") for k in kinds), f"no attack exercises {needed}"
    for attack in ATTACKS:
        functions = {q.removeprefix("test_") for q in _questions(attack.assignment)}
        unknown = (attack.earned | attack.keeps | set(attack.cells) - {"scratch"}) - functions
        assert not unknown, f"{attack.name}: {unknown} are not answer cells"
        assert attack.keeps <= attack.earned, attack.name


@pytest.mark.parametrize("attack", _params("earns"))
def test_attack_earns_nothing_it_did_not_earn(graded: Graded, attack: TorchAttack) -> None:
    batch = graded.batches[attack.assignment]
    for gid, (given, final, verdict) in _finals(batch, attack.name).items():
        earned = gid.removeprefix("test_") in attack.earned
        top = 0.0 if verdict is None else verdict.max_score
        assert final <= (top if earned else 0.0), (
            f"{attack.name}: {gid} scored {final}/{top} (nbgrader {given}, clean "
            f"{verdict.clean_passed}: {verdict.message}): {attack.doc}"
        )


@pytest.mark.parametrize("attack", _params("flagged"))
def test_attack_is_flagged(graded: Graded, attack: TorchAttack) -> None:
    audit = graded.batches[attack.assignment].audits[attack.name]
    kinds = {f.kind for f in audit.all_flags}
    shown = "; ".join(map(str, audit.all_flags)) or "no flag"
    if not attack.flags:  # an honest submission with harmless extras
        assert not audit.tampering, f"{attack.name}: {shown}"
        return
    missing = {f for f in attack.flags if not kinds & set(f.split("|"))}
    assert not missing, f"{attack.name}: expected flags {missing}; got {shown}"
    assert audit.tampering, shown


@pytest.mark.parametrize("attack", _params("keeps", [a for a in ATTACKS if a.keeps]))
def test_honest_parts_of_an_attack_keep_their_marks(graded: Graded, attack: TorchAttack) -> None:
    batch = graded.batches[attack.assignment]
    for gid, (given, final, verdict) in _finals(batch, attack.name).items():
        if gid.removeprefix("test_") in attack.keeps:
            assert verdict is not None, f"{attack.name}: nbgrader scored {gid} {given}"
            assert verdict.clean_passed, f"{attack.name} {gid}: {verdict.message}"
            assert final == verdict.max_score, (attack.name, verdict)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
def test_fooled_nbgrader_means_verdict_mismatch_flag(graded: Graded, attack: TorchAttack) -> None:
    for given, final, verdict in _finals(graded.batches[attack.assignment], attack.name).values():
        if given > final:
            assert any(f.kind == "verdict-mismatch" and f.tampering for f in verdict.flags), verdict


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_submissions_keep_full_marks(graded: Graded, assignment: str) -> None:
    batch = graded.batches[assignment]
    for student in _honest(assignment):
        for gid, (given, final, verdict) in _finals(batch, student).items():
            assert verdict is not None, f"{student}: nbgrader scored {gid} {given}\n{batch.log}"
            assert verdict.clean_passed, f"{student} {gid}: {verdict.message}"
            assert given == final == verdict.max_score, (student, verdict)
        audit = batch.audits[student]
        assert not audit.tampering, [str(f) for f in audit.all_flags]


def test_hang_in_the_clean_run_fails_that_question_only_and_in_time(graded: Graded) -> None:
    batch = graded.batches[corpus.PS2]
    finals = _finals(batch, "ps2_hang_clean")
    verdict = finals["test_grad_norm_per_layer"][2]
    assert verdict is not None and not verdict.clean_passed
    assert f"longer than {JOB_SECONDS:g} s" in verdict.message, verdict.message
    assert batch.verify_seconds["ps2_hang_clean"] < JOB_SECONDS + 60


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_course_and_submissions_left_intact(graded: Graded, assignment: str) -> None:
    batch = graded.batches[assignment]
    for area, digests in batch.before.items():
        assert batch.after[area] == digests, f"{assignment}: {area} changed during grading"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_gradebook_sound_and_unforged(graded: Graded, assignment: str) -> None:
    top = top_score_of_sound_gradebook(graded.batches[assignment].course / "gradebook.db")
    assert top <= 4.0, "a grade was rewritten"


def test_no_process_outlives_grading(graded: Graded) -> None:
    assert graded.leftovers == []


def test_batches_finished(graded: Graded) -> None:
    print(f"\nall batches: {graded.seconds:.0f} s")
    print(f"{'submission':26} nbgrader  final  verify  flags")
    for assignment, batch in graded.batches.items():
        assert set(batch.scores) == set(_honest(assignment)) | {
            a.name for a in ATTACKS if a.assignment == assignment
        }
        print(assignment, {k: round(v, 1) for k, v in batch.timings.items()})
        for student, audit in batch.audits.items():
            finals = _finals(batch, student)
            nbg = sum(given for given, _, _ in finals.values())
            final = sum(final for _, final, _ in finals.values())
            kinds = sorted({f.kind for f in audit.all_flags})
            seconds = batch.verify_seconds[student]
            print(f"  {student:24} {nbg:8g} {final:6g} {seconds:6.1f}  {', '.join(kinds)}")
            for gid, (given, _, verdict) in finals.items():
                if verdict is not None and not verdict.clean_passed:
                    why = verdict.message.strip().replace("\n", " | ")[:150]
                    print(f"      {gid} (nbgrader {given:g}): {why}")
