"""Tests for the tests of ps1_activations, all through the real nbgrader.

One ``nbgrader autograde`` run grades every submission at once:

* ``released``: the released notebook handed in untouched, which must score 0 everywhere;
* ``reference``: the released notebook with the reference solutions typed into the
  answer cells, which must score full marks;
* ``slot_<i>``: the released notebook where each function's answer cell holds that
  function's i-th corpus variant (tests/corpus_ps1.py: its ``WRONG`` variants first, then
  its ``CORRECT`` ones; the reference solution once a function runs out). Grades are per
  test cell, so one submission tests a variant of every function at once, and the number
  of submissions is the largest per-function corpus.

Each variant then gets its own test id: a WRONG variant must lose points on its question,
a CORRECT one must keep full marks, and every question filled by a correct answer in the
same submission must keep full marks too (a wrong answer affects only its own question).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import corpus_ps1
import nbgrader_harness as harness
import numpy as np
import pytest
from batteries import battery_for

ASSIGNMENT = "ps1_activations"
FUNCTIONS = (
    "relu",
    "relu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "elu",
    "elu_grad",
    "sigmoid",
    "sigmoid_grad",
    "gelu",
    "gelu_grad",
    "numerical_grad",
)
TOTAL_POINTS = 20
MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Slot:
    """What one answer cell of one submission holds."""

    function: str
    kind: str  # "wrong", "correct" or "reference"
    label: str
    source: str


def as_student(source: str) -> str:
    """A solution cell's code as a student would type it: the solution markers removed."""
    return "\n".join(line for line in source.splitlines() if not MARKER.match(line))


def reference_sources() -> dict[str, str]:
    return {gid: as_student(src) for gid, src in harness.solution_sources(ASSIGNMENT).items()}


def corpus_slots() -> list[dict[str, Slot]]:
    """Per submission, the Slot of every function (corpus variants, then the reference)."""
    reference = reference_sources()
    columns = {
        fn: [Slot(fn, "wrong", label, src) for label, src in corpus_ps1.WRONG.get(fn, [])]
        + [Slot(fn, "correct", label, src) for label, src in corpus_ps1.CORRECT.get(fn, [])]
        for fn in FUNCTIONS
    }
    depth = max(len(col) for col in columns.values())
    return [
        {
            fn: col[i] if i < len(col) else Slot(fn, "reference", "reference", reference[fn])
            for fn, col in columns.items()
        }
        for i in range(depth)
    ]


SLOTS = corpus_slots()
VARIANTS = [
    pytest.param(i, slot, id=f"{slot.kind}-{fn}-{slot.label}")
    for i, slots in enumerate(SLOTS)
    for fn, slot in slots.items()
    if slot.kind != "reference"
]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> harness.AutogradeResult:
    """Every submission of this module, autograded in ONE nbgrader run."""
    released = harness.released_notebook(ASSIGNMENT)
    submissions = {
        "released": released,
        "reference": harness.fill_solutions(released, reference_sources()),
    }
    for i, slots in enumerate(SLOTS):
        sources = {fn: slot.source for fn, slot in slots.items()}
        submissions[f"slot_{i}"] = harness.fill_solutions(released, sources)
    return harness.autograde(ASSIGNMENT, submissions, workdir=tmp_path_factory.mktemp("ps1"))


def describe(result: harness.AutogradeResult, student: str, grade_id: str) -> str:
    score = result.scores[student][grade_id]
    text = result.failure(student, grade_id)
    return f"{student}/{grade_id}: {score.score:g} of {score.max_score:g} points\n{text}"


def test_solution_notebook_validates(tmp_path: Path) -> None:
    """The real `nbgrader validate` passes the instructor notebook (solutions included)."""
    src = harness.SOLUTIONS_DIR / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    course = harness.CourseDir(tmp_path)  # the repository's nbgrader_config.py
    copy = course.add_source(ASSIGNMENT) / src.name
    proc = harness.validate(copy, cwd=course.root)
    assert "Success!" in proc.stdout


def test_one_solution_and_one_test_cell_per_function() -> None:
    nb = harness.released_notebook(ASSIGNMENT)
    assert harness.grade_ids(nb, "solution") == list(FUNCTIONS)
    assert harness.grade_ids(nb, "grade") == [f"test_{fn}" for fn in FUNCTIONS]
    points = [
        c.metadata["nbgrader"]["points"]
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    ]
    assert sum(points) == TOTAL_POINTS, f"points per question: {points}"
    setup = harness.code_cells(nb)[0]
    assert setup.metadata["nbgrader"]["grade_id"] == "setup", "the first code cell is the setup"
    assert "get_device()" in setup.source and "pip" in setup.source
    for cell in nb.cells:
        fn = cell.metadata.get("nbgrader", {}).get("grade_id")
        if fn in FUNCTIONS:  # the released stub still states the contract
            assert cell.source.startswith(f"def {fn}("), cell.source[:80]
            assert '"""' in cell.source and "raise NotImplementedError()" in cell.source


def test_released_notebook_scores_zero(graded: harness.AutogradeResult) -> None:
    scores = graded.scores["released"]
    assert sorted(scores) == sorted(f"test_{fn}" for fn in FUNCTIONS)
    earned = {gid: s.score for gid, s in scores.items() if s.score != 0}
    assert not earned, f"the untouched release earned points: {earned}"


def test_reference_solution_scores_full_marks(graded: harness.AutogradeResult) -> None:
    scores = graded.scores["reference"]
    lost = [describe(graded, "reference", gid) for gid, s in scores.items() if s.lost]
    assert not lost, "the reference solution lost points:\n" + "\n".join(lost)
    assert graded.total("reference") == TOTAL_POINTS


@pytest.mark.parametrize(("index", "slot"), VARIANTS)
def test_corpus_variant(graded: harness.AutogradeResult, index: int, slot: Slot) -> None:
    """A WRONG variant loses points on its own question; a CORRECT one keeps them all."""
    student, grade_id = f"slot_{index}", f"test_{slot.function}"
    score = graded.scores[student][grade_id]
    if slot.kind == "wrong":
        assert score.lost, (
            f"WRONG variant {slot.label!r} of {slot.function} kept full marks "
            f"({score.score:g}/{score.max_score:g}): the tests do not catch it\n{slot.source}"
        )
    else:
        assert score.full, (
            f"CORRECT variant {slot.label!r} of {slot.function} lost points\n"
            f"{describe(graded, student, grade_id)}\n--- variant ---\n{slot.source}"
        )


@pytest.mark.parametrize("index", range(len(SLOTS)))
def test_wrong_answers_affect_only_their_question(
    graded: harness.AutogradeResult, index: int
) -> None:
    """In a submission, every question answered correctly keeps full marks."""
    student = f"slot_{index}"
    lost = [
        describe(graded, student, f"test_{fn}")
        for fn, slot in SLOTS[index].items()
        if slot.kind != "wrong" and graded.scores[student][f"test_{fn}"].lost
    ]
    wrong = [f"{fn}: {slot.label}" for fn, slot in SLOTS[index].items() if slot.kind == "wrong"]
    assert not lost, f"correct answers lost points next to the wrong ones {wrong}:\n" + "\n".join(
        lost
    )


def test_corpus_covers_every_function() -> None:
    missing = [fn for fn in FUNCTIONS if not corpus_ps1.WRONG.get(fn)]
    assert not missing, f"tests/corpus_ps1.py has no WRONG variant for {missing}"
    unknown = sorted((set(corpus_ps1.WRONG) | set(corpus_ps1.CORRECT)) - set(FUNCTIONS))
    assert not unknown, f"tests/corpus_ps1.py names functions ps1 does not grade: {unknown}"


def test_corpus_has_a_correct_variant_that_warns() -> None:
    """At least one CORRECT variant makes NumPy warn (and test_corpus_variant grades it).

    The variant is run here on large inputs with warnings recorded, so this fails if the
    corpus loses its only warning-printing answer.
    """
    big = [np.array([-1e4, -1000.0, 1000.0, 1e4], dtype=dt) for dt in (np.float32, np.float64)]
    warners = []
    for fn, variants in corpus_ps1.CORRECT.items():
        if fn == "numerical_grad":
            continue
        for label, source in variants:
            namespace: dict[str, object] = {"np": np}
            exec(source, namespace)  # noqa: S102  (our own corpus)
            with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
                warnings.simplefilter("always")
                for x in big:
                    namespace[fn](x)
            if any(issubclass(w.category, RuntimeWarning) for w in caught):
                warners.append(f"{fn}: {label}")
    assert warners, "no CORRECT variant in tests/corpus_ps1.py makes NumPy warn"


def test_visible_tests_run_the_library_check_first() -> None:
    """A failing student reads the check's message (input, expected, received, hint)."""
    nb = harness.released_notebook(ASSIGNMENT)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if not cell.metadata.get("nbgrader", {}).get("grade"):
            continue
        code = [ln for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")]
        assert code[0].startswith(("check_activation(", "check_numerical_grad(")), grade_id
        assert 'level="basic"' in code[0], grade_id


def test_contract_accepts_what_numpy_returns() -> None:
    """The contract text and the corpus agree: the textbook answers are correct."""
    text = "\n".join(c.source for c in harness.released_notebook(ASSIGNMENT).cells)
    assert "a NumPy scalar of the input's" in " ".join(text.split())
    assert "0 <= a <= 1" not in text
    textbook = {
        "relu": ["np.maximum(x, 0)", "x * (x > 0)"],
        "relu_grad": ["(x > 0).astype(x.dtype)"],
        "sigmoid": ["1 / (1 + np.exp(-x))"],
    }
    for fn, answers in textbook.items():
        sources = [src for _, src in corpus_ps1.CORRECT[fn]]
        for answer in answers:
            found = any(src.endswith(f"    return {answer}\n") for src in sources)
            assert found, f"{fn}: {answer} is not in the CORRECT corpus"


def test_clean_reverification_agrees_with_the_corpus() -> None:
    """The clean re-verification (relu_course.grading.verify) keeps every CORRECT variant, the
    textbook answers included, and rejects every WRONG one, in one sandboxed batch."""
    from relu_course.checks import judge
    from relu_course.grading.sandbox import bwrap_available
    from relu_course.grading.verify import observe_clean_batch

    if not bwrap_available():
        pytest.skip("needs Linux, root and bubblewrap (apt-get install bubblewrap)")
    jobs = [
        (fn, kind, label, src)
        for kind, corpus in (("correct", corpus_ps1.CORRECT), ("wrong", corpus_ps1.WRONG))
        for fn, variants in corpus.items()
        for label, src in variants
    ]
    answers = observe_clean_batch([(fn, [src], battery_for(fn)) for fn, _, _, src in jobs])
    problems = []
    for (fn, kind, label, _), (observations, note) in zip(jobs, answers, strict=True):
        cases = battery_for(fn)
        passed = observations is not None and all(
            judge(c, o) is None for c, o in zip(cases, observations, strict=True)
        )
        if passed != (kind == "correct"):
            problems.append(f"{kind} {fn}: {label} {'passed' if passed else 'failed'} {note}")
    assert not problems, "\n".join(problems)
