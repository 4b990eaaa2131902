"""Clean re-verification of ps2-ps4 (relu_course.grading.verify_torch) on the answer corpora.

The instructor's test cells (hidden tests included) run in a judge process that never
runs student code; the student's cells run in a second process and answer the judge's
calls over a pipe. The same packed submissions as tests/test_ps234.py (the reference in
every other answer cell) are verified here, without nbgrader:

* every wrong answer fails its own question in the clean run, and no question outside
  its declared dependencies;
* every correct answer, and the reference solution, passes every question;
* the unanswered release fails every question without starting a process.

The adversarial ps2-ps4 submissions are in tests/test_attacks_torch.py.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from nbgrader_harness import NO_BWRAP, fill_solutions, released_notebook, solution_sources
from test_ps234 import pack

from relu_course.grading.sandbox import bwrap_available
from relu_course.grading.verify import Verdict, check_submission, verify_submission
from tests import corpus_ps234 as corpus

pytestmark = pytest.mark.slow
ASSIGNMENTS = [corpus.PS2, corpus.PS3, corpus.PS4]
ROOT = Path(__file__).resolve().parents[1]


def _source(assignment: str) -> dict:
    return json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())


class Verified:
    """Clean verdicts of the reference, the release and every packed corpus submission."""

    def __init__(self, assignment: str) -> None:
        released = json.loads(json.dumps(released_notebook(assignment)))
        reference = solution_sources(assignment)
        source = _source(assignment)
        self.subs = {f"mixed_{k}": sub for k, sub in enumerate(pack(corpus.variants(assignment)))}
        notebooks = {"released": released, "reference": fill_solutions(released, reference)}
        for student, sub in self.subs.items():
            answers = {**reference, **{v.grade_id: v.source for v in sub}}
            notebooks[student] = fill_solutions(released, answers)

        def run(item: tuple[str, dict]) -> tuple[str, dict[str, Verdict]]:
            student, nb = item
            nb = json.loads(json.dumps(nb))
            verdicts = verify_submission(released, nb, assignment, source_nb=source)
            return student, {v.grade_id: v for v in verdicts}

        with ThreadPoolExecutor(max_workers=2) as pool:
            self.verdicts = dict(pool.map(run, notebooks.items()))


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def verified(request) -> Verified:
    if not bwrap_available():
        pytest.skip(NO_BWRAP)
    return Verified(request.param)


def test_reference_passes_every_question(verified: Verified) -> None:
    verdicts = verified.verdicts["reference"]
    assert verdicts, "no torch question was re-verified"
    failed = {g: v.message for g, v in verdicts.items() if not v.clean_passed}
    assert not failed, failed


def test_release_fails_every_question_without_running(verified: Verified) -> None:
    verdicts = verified.verdicts["released"]
    assert verdicts and all(v.clean_passed is False for v in verdicts.values())
    assert all("released stub" in v.message for v in verdicts.values())


def test_each_wrong_answer_fails_its_question_only(verified: Verified) -> None:
    problems = []
    for student, sub in verified.subs.items():
        verdicts = verified.verdicts[student]
        allowed = set().union(*(v.touches for v in sub if not v.correct))
        for v in sub:
            if not v.correct and verdicts[v.test_id].clean_passed:
                problems.append(f"{student}: {v.grade_id}/{v.name} ({v.why}) passed")
        for q, verdict in verdicts.items():
            if q not in allowed and not verdict.clean_passed:
                problems.append(f"{student}: {q} failed: {verdict.message}")
    assert not problems, "\n".join(problems)


def test_each_correct_variant_passes(verified: Verified) -> None:
    problems = [
        f"{student}: {v.grade_id}/{v.name}: {verified.verdicts[student][v.test_id].message}"
        for student, sub in verified.subs.items()
        for v in sub
        if v.correct and not verified.verdicts[student][v.test_id].clean_passed
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("assignment", "grade_id", "edit"),
    [
        ("ps1_activations", "relu", lambda s: "%precision 4\n!echo checking relu\n" + s),
        (corpus.PS3, "rescue_recipe", lambda s: "%matplotlib inline\n" + s),
        (
            corpus.PS3,
            "dead_fraction_per_layer",
            lambda s: s.replace("    alive = {}", "    display('measuring')\n    alive = {}"),
        ),
    ],
)
def test_ipython_syntax_in_an_honest_answer_keeps_its_points(assignment, grade_id, edit) -> None:
    """`!cmd`, `%magic` and display() are notebook syntax, not tampering: the clean run
    reads cells through IPython's own transformer and has stand-ins for both names."""
    if not bwrap_available():
        pytest.skip(NO_BWRAP)
    released = json.loads(json.dumps(released_notebook(assignment)))
    reference = solution_sources(assignment)
    edited = edit(reference[grade_id])
    assert edited != reference[grade_id]
    nb = fill_solutions(released, {**reference, grade_id: edited})
    verdicts = verify_submission(
        released, json.loads(json.dumps(nb)), assignment, source_nb=_source(assignment)
    )
    failed = {v.grade_id: v.message for v in verdicts if not v.clean_passed}
    assert verdicts and not failed, failed
    flags = check_submission(released, json.loads(json.dumps(nb)), assignment).flags
    assert not [f for f in flags if f.tampering], flags


# ------------------------------------------------------------------ observations on the wire

WIRE_CASES = [  # (assignment, grade id, check, parameters, a wrong corpus variant)
    (corpus.PS2, "he_normal_", "check_init", {"kind": "he"}, "fan_out"),
    (corpus.PS2, "build_mlp", "check_mlp", {}, "bias_kept"),
    (corpus.PS2, "grad_norm_per_layer", "check_grad_norms", {}, "no_zero_grad"),
    (corpus.PS3, "dead_fraction_per_layer", "check_dead_detector", {}, "mode_not_restored"),
    (corpus.PS4, "LeakyReLUFunction", "check_autograd_function", {}, "in_place"),
    (corpus.PS4, "PReLU", "check_prelu_module", {}, None),
]


def _student_object(grade_id: str, source: str):
    import math

    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from relu_course import checks_torch

    ns = {"math": math, "np": np, "torch": torch, "F": F, "nn": nn, "DataLoader": DataLoader,
          "TensorDataset": TensorDataset, "checks_torch": checks_torch,
          "ACTIVATION_LAYERS": checks_torch.ACTIVATION_LAYERS}  # fmt: skip
    exec(source, ns)  # noqa: S102 - the reference solution and the corpus's answers
    ns.update(checks_torch.COURSE_PARTS.get(grade_id, {}))
    return ns[grade_id]


@pytest.mark.parametrize(("assignment", "grade_id", "check", "params", "wrong"), WIRE_CASES)
def test_observations_cross_the_wire_and_judge_alike(assignment, grade_id, check, params, wrong):
    """What the student process sends (plain data, JSON) is judged as the local check
    judges: no verdict depends on an object that stayed behind."""
    from relu_course.checks_torch import CHECKS
    from relu_course.checks_torch_core import is_plain
    from relu_course.grading.torch_wire import dec_plain, enc_plain

    spec = CHECKS[check]
    sources = {"reference": solution_sources(assignment)[grade_id]}
    if wrong is not None:
        (variant,) = [v for v in corpus.variants(assignment, correct=False)
                      if v.grade_id == grade_id and v.name == wrong]  # fmt: skip
        sources["wrong"] = variant.source
    for label, source in sources.items():
        obj = _student_object(grade_id, source)
        cases = spec.cases(grade_id, level="basic", **params)
        observations = spec.observe(obj, cases)
        assert is_plain(observations), label
        shipped = dec_plain(json.loads(json.dumps(enc_plain(observations))))
        fresh = spec.cases(grade_id, level="basic", **params)  # the judge's own cases
        local, remote = spec.judge(cases, observations), spec.judge(fresh, shipped)
        assert local == remote, (label, local, remote)
        assert (local is None) == (label == "reference"), (label, local)


def test_only_plain_observations_cross() -> None:
    from torch import nn

    from relu_course.grading.torch_wire import RemoteError, dec_plain, enc_plain

    with pytest.raises(TypeError):
        enc_plain({"model": nn.ReLU()})
    with pytest.raises(RemoteError):
        dec_plain({"@type": "module", "cls": "ReLU"})  # not a tag of the codec
    with pytest.raises(RemoteError):
        dec_plain([{"@type": "tuple", "items": [1, 2]}])  # a tuple is not an observation
    with pytest.raises(RemoteError):
        dec_plain({"x": {"@type": "bytes", "data": ""}})


def test_a_layer_or_parameter_the_call_replaced_is_replaced_in_the_judge_too() -> None:
    """The judge's copy of a model argument mirrors object identity: a call that swaps a
    Parameter or a layer for a new object (not a reset in place) is seen as one."""
    import torch
    from torch import nn

    from relu_course.grading import torch_layers as tl
    from relu_course.grading import torch_wire as tw

    judge_model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    weight, bias, last = judge_model[0].weight, judge_model[0].bias, judge_model[2]
    sent = json.dumps(tl.enc_module(judge_model, state=True), allow_nan=False)
    student = tw.Decoder()(json.loads(sent))
    before = tl.layers_and_params(student)
    with torch.no_grad():
        student[0].weight = nn.Parameter(torch.zeros(2, 3))  # a new object
        student[0].bias[0] = 5.0  # in place
        student[2] = nn.Linear(2, 1)  # a new layer
    after = tl.enc_module(student, state=True)
    tl.mark_replaced(after, student, before)
    tw.apply_state(judge_model, json.loads(json.dumps(after, allow_nan=False)))
    assert judge_model[0].weight is not weight and torch.equal(
        judge_model[0].weight, torch.zeros(2, 3)
    )
    assert isinstance(judge_model[0].weight, nn.Parameter)
    assert judge_model[0].bias is bias and judge_model[0].bias[0].item() == 5.0
    assert judge_model[2] is not last and torch.equal(judge_model[2].weight, student[2].weight)
