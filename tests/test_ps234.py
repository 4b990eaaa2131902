"""Tests of the graded notebooks ps2, ps3 and ps4, with the real nbgrader.

For each assignment ONE ``nbgrader autograde`` call grades a batch of submissions:

* ``released``: the student notebook as generated, unanswered: 0 on every question;
* ``reference``: the released notebook with the solutions typed in: full marks;
* ``mixed_<k>``: answers from tests/corpus_ps234.py, several at once (one per answer
  cell, the reference in the others), packed so that no wrong answer can spoil another
  answer's question: each wrong one must lose points on its own question and on
  nothing outside its declared dependencies; each correct one keeps full marks.

The solution notebooks must also pass ``nbgrader validate``, and the notebooks'
cells must follow the grading conventions (the re-grader parses them).
"""

from __future__ import annotations

import re

import nbformat
import pytest
from corpus_ps234 import Variant
from nbgrader_harness import (
    EXERCISES_DIR,
    SOLUTIONS_DIR,
    AutogradeResult,
    autograde,
    fill_solutions,
    grade_ids,
    released_notebook,
    solution_sources,
    validate,
)

from tests import corpus_ps234 as corpus

pytestmark = pytest.mark.slow

ASSIGNMENTS = [corpus.PS2, corpus.PS3, corpus.PS4]


def pack(variants: list[Variant]) -> list[list[Variant]]:
    """Group variants into submissions: one answer per cell, no cross-talk between them.

    Two variants share a submission only if they answer different cells and neither can
    change the score of the other's test cell (see ``Variant.touches``).
    """
    subs: list[list[Variant]] = []
    for v in variants:
        for sub in subs:
            if all(
                w.grade_id != v.grade_id
                and v.test_id not in w.touches
                and w.test_id not in v.touches
                for w in sub
            ):
                sub.append(v)
                break
        else:
            subs.append([v])
    return subs


class Graded:
    """One autograde batch of an assignment and what each submission holds."""

    def __init__(self, assignment: str, tmp_root) -> None:
        self.assignment = assignment
        released = released_notebook(assignment)
        reference = solution_sources(assignment)
        self.questions = set(grade_ids(released, "grade"))
        self.subs = {f"mixed_{k}": sub for k, sub in enumerate(pack(corpus.variants(assignment)))}
        submissions = {"released": released, "reference": fill_solutions(released, reference)}
        for student, sub in self.subs.items():
            # Every other answer cell holds the reference solution.
            answers = {**reference, **{v.grade_id: v.source for v in sub}}
            submissions[student] = fill_solutions(released, answers)
        self.result: AutogradeResult = autograde(assignment, submissions, workdir=tmp_root)

    def explain(self, student: str, grade_id: str) -> str:
        return f"{student}/{grade_id}: {self.result.failure(student, grade_id)}"


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory) -> Graded:
    return Graded(request.param, tmp_path_factory.mktemp(request.param))


def test_released_notebook_scores_zero(graded: Graded) -> None:
    scores = graded.result.scores["released"]
    assert set(scores) == graded.questions, graded.result.log[-2000:]
    assert all(s.max_score > 0 for s in scores.values())
    assert {q: s.score for q, s in scores.items() if s.score != 0} == {}


def test_reference_solutions_score_full_marks(graded: Graded) -> None:
    scores = graded.result.scores["reference"]
    lost = [q for q, s in scores.items() if s.lost]
    assert not lost, "\n".join(graded.explain("reference", q) for q in lost)


def test_each_wrong_answer_loses_points_on_its_question_only(graded: Graded) -> None:
    problems = []
    for student, sub in graded.subs.items():
        scores = graded.result.scores[student]
        allowed = set().union(*(v.touches for v in sub if not v.correct))
        for v in sub:
            if not v.correct and not scores[v.test_id].lost:
                problems.append(f"{student}: {v.grade_id}/{v.name} ({v.why}) kept full marks")
        for q, s in scores.items():
            if q not in allowed and s.lost:
                problems.append(f"{student}: {q} lost points\n{graded.explain(student, q)}")
    assert not problems, "\n".join(problems)


def test_each_correct_variant_keeps_full_marks(graded: Graded) -> None:
    problems = [
        f"{student}: {v.grade_id}/{v.name}\n{graded.explain(student, v.test_id)}"
        for student, sub in graded.subs.items()
        for v in sub
        if v.correct and graded.result.scores[student][v.test_id].lost
    ]
    assert not problems, "\n".join(problems)
    assert sum(v.correct for sub in graded.subs.values() for v in sub) >= 1


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_solution_notebook_passes_nbgrader_validate(assignment: str) -> None:
    validate(SOLUTIONS_DIR / assignment / f"{assignment}.ipynb")


# ------------------------------------------------------------- fast structural tests


def _nb(folder, assignment: str) -> nbformat.NotebookNode:
    return nbformat.read(folder / assignment / f"{assignment}.ipynb", as_version=4)


def _meta(cell) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_cells_follow_the_grading_conventions(assignment: str) -> None:
    nb = _nb(SOLUTIONS_DIR, assignment)
    cells = {_meta(c)["grade_id"]: c for c in nb.cells if "grade_id" in _meta(c)}
    answers = [g for g, c in cells.items() if _meta(c).get("solution")]
    assert answers, "no solution cells"
    for grade_id in answers:
        src = cells[grade_id].source
        assert not _meta(cells[grade_id]).get("grade"), f"{grade_id}: answer cells are not graded"
        head = src.split("### BEGIN SOLUTION")[0]
        assert re.search(rf"^(def|class) {re.escape(grade_id)}\b", head, re.M), (
            f"{grade_id}: the signature must come before ### BEGIN SOLUTION"
        )
        assert '"""' in head, f"{grade_id}: the docstring must come before the markers"
        test = cells.get(f"test_{grade_id}")
        assert test is not None, f"no test cell test_{grade_id}"
        meta = _meta(test)
        assert meta.get("grade") and meta.get("locked") and meta.get("points", 0) > 0
        visible, _, hidden = test.source.partition("### BEGIN HIDDEN TESTS")
        assert hidden and "### END HIDDEN TESTS" in hidden, f"test_{grade_id}: hidden tests"
        assert "assert" in visible or "check" in visible, f"test_{grade_id}: visible tests"
    graded = [g for g, c in cells.items() if _meta(c).get("grade")]
    assert sorted(graded) == sorted(f"test_{g}" for g in answers)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "get_device()" in first_code.source and "pip" in first_code.source


@pytest.mark.parametrize("folder", [SOLUTIONS_DIR, EXERCISES_DIR], ids=["solutions", "exercises"])
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_notebooks_have_no_outputs(folder, assignment: str) -> None:
    nb = _nb(folder, assignment)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and
             (c.get("outputs") or c.get("execution_count"))]  # fmt: skip
    assert not dirty, f"cells {dirty} of {folder.name}/{assignment} carry outputs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_exercise_matches_nbgrader_release(assignment: str) -> None:
    fresh = released_notebook(assignment)
    committed = _nb(EXERCISES_DIR, assignment)
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells], (
        f"exercises/{assignment} is stale: regenerate it with nbgrader generate_assignment"
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_corpus_covers_every_answer_cell(assignment: str) -> None:
    answers = set(grade_ids(_nb(SOLUTIONS_DIR, assignment), "solution"))
    for grade_id in answers:
        kinds = {v.correct for v in corpus.variants(assignment) if v.grade_id == grade_id}
        assert kinds == {True, False}, f"{grade_id}: needs wrong and correct variants"
    assert {v.grade_id for v in corpus.variants(assignment)} <= answers


def test_pack_puts_wrong_earlier_parts_next_to_later_questions() -> None:
    """One mistake, one question: a wrong initialiser shares a submission with build_mlp
    (and a wrong PReLU with train_digits_model), whose tests must keep their marks."""
    for assignment, earlier, later in [
        (corpus.PS2, {"he_normal_", "xavier_normal_"}, "build_mlp"),
        (corpus.PS4, {"PReLU", "LeakyReLUFunction"}, "train_digits_model"),
    ]:
        subs = pack(corpus.variants(assignment))
        for sub in subs:
            ids = [v.grade_id for v in sub]
            assert len(ids) == len(set(ids))
        assert any(
            later in {v.grade_id for v in sub}
            and {v.grade_id for v in sub if not v.correct} & earlier
            for sub in subs
        ), f"no submission of {assignment} holds a wrong {earlier} next to {later}"


def _cells(assignment: str) -> dict[str, str]:
    nb = _nb(SOLUTIONS_DIR, assignment)
    return {_meta(c)["grade_id"]: c.source for c in nb.cells if "grade_id" in _meta(c)}


def _text(assignment: str) -> str:
    return "\n".join(c.source for c in _nb(SOLUTIONS_DIR, assignment).cells)


def test_ps4_time_budget_is_the_budget_grading_enforces() -> None:
    """The stated budget, the test's assert and the graders' limits agree.

    The test cell trains exactly once (hidden tests included), asserts the budget the
    text states, and that budget plus the rest of the cell fits in the per-cell limit of
    ``relu-course grade`` and in the clean re-verification's limit per question. The
    corpus's slow but honest trainer (``SLOW_TRAINER_SECONDS``) then keeps full marks in
    both graders (test_each_correct_variant_keeps_full_marks, test_verify_torch).
    """
    import inspect

    from relu_course.grading import run
    from relu_course.grading.verify_torch import JOB_SECONDS

    text, test = _text(corpus.PS4), _cells(corpus.PS4)["test_train_digits_model"]
    stated = re.findall(r"must take less than (\d+) s", text)
    asserted = re.findall(r"assert seconds < (\d+)", test)
    assert stated and stated == asserted[:1] * len(stated), (stated, asserted)
    budget = int(stated[0])
    calls = re.findall(r"\btrain_digits_model\(", test)
    assert len(calls) == 1, "the test cell must train once: a second run doubles the cost"
    cell_limit = inspect.signature(run.autograde_one).parameters["cell_timeout"].default
    assert budget + 4 <= cell_limit, (budget, cell_limit)
    assert budget + 60 <= JOB_SECONDS
    assert corpus.SLOW_TRAINER_SECONDS > 0.95 * budget - 1
    assert corpus.SLOW_TRAINER_SECONDS < budget


def test_stated_rules_are_stated_enforced_and_in_the_corpus() -> None:
    from relu_course.checks_torch import STATED_RULES

    said = {"nn.init": "`torch.nn.init` is off limits", "F.prelu": "`F.prelu` (and `nn.PReLU`"}
    for name, (rule, _message) in STATED_RULES.items():
        assignment = corpus.PS2 if name.endswith("_normal_") else corpus.PS4
        assert said[rule] in _text(assignment), f"{assignment} does not state the {rule} rule"
        assert "tests check this rule" in " ".join(_text(assignment).split())
        forbidden = [
            v for v in corpus.variants(assignment, correct=False)
            if v.grade_id == name and "forbids" in v.why
        ]  # fmt: skip
        assert forbidden, f"no corpus answer to {name} breaks the {rule} rule"


def test_later_questions_run_with_the_courses_earlier_parts() -> None:
    from relu_course.checks_torch import COURSE_PARTS

    for answer in COURSE_PARTS:
        assignment = corpus.PS2 if answer == "build_mlp" else corpus.PS4
        test = _cells(assignment)[f"test_{answer}"]
        head = test.split(f"{answer}(")[0]
        assert f'checks_torch.course_parts(globals(), "{answer}")' in head, answer


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_visible_tests_run_the_library_check_first(assignment: str) -> None:
    """A failing student reads the check's message, never a raw assert or torch traceback."""
    for grade_id, source in _cells(assignment).items():
        visible = source.split("### BEGIN HIDDEN TESTS")[0]
        if not grade_id.startswith("test_") or "checks_torch.check_" not in visible:
            continue
        first = visible.index("checks_torch.check_")
        for risky in ("assert ", "gradcheck", ".backward("):
            if risky in visible:
                assert visible.index(risky) > first, f"{grade_id}: {risky!r} before the check"
