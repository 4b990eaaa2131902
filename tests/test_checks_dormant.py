"""Tests of relu_course.checks_dormant, the check of ps3's reset_dormant_units (ReDo).

The answers are ps3's corpus (tests/corpus_ps234.py), run here in-process, without
nbgrader (tests/test_ps234.py grades the same answers with the real nbgrader): every
wrong answer fails the visible battery, every correct one passes the hidden one, also
when torch's generator draws other numbers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from relu_course import checks_dormant as C
from relu_course.checks import CheckFailed
from relu_course.diagnostics import dormant_scores
from tests import corpus_ps234 as corpus

REDO = [v for v in corpus.variants(corpus.PS3) if v.grade_id == "reset_dormant_units"]


def _answer(source: str):
    ns = {"torch": torch, "nn": nn, "math": math, "np": np, "F": F}
    exec(source, ns)  # noqa: S102 - the corpus's own answers
    return ns["reset_dormant_units"]


def _textbook():
    return _answer(next(v.source for v in REDO if v.name == "textbook_loop"))


@pytest.mark.parametrize("variant", [v for v in REDO if not v.correct], ids=lambda v: v.name)
def test_each_wrong_answer_fails_the_visible_battery(variant) -> None:
    with pytest.raises(CheckFailed, match="HINT"):
        C.check_reset_dormant_units(_answer(variant.source), level="basic")


@pytest.mark.parametrize("variant", [v for v in REDO if v.correct], ids=lambda v: v.name)
def test_each_correct_answer_passes_the_hidden_battery(variant) -> None:
    C.check_reset_dormant_units(_answer(variant.source), level="full")


def test_the_corpus_has_the_mistakes_the_question_is_about() -> None:
    names = {v.name for v in REDO}
    assert {"random_outgoing", "raw_means", "strict_less", "bias_not_reset", "zero_incoming",
            "new_parameters", "new_linear", "shifted_pairing", "resets_output_layer",
            "randn_scale"} <= names  # fmt: skip
    assert sum(v.correct for v in REDO) >= 5


@pytest.mark.parametrize("variant", [v for v in REDO if v.correct], ids=lambda v: v.name)
def test_correct_answers_pass_the_spread_tests_whatever_the_generator_draws(variant) -> None:
    """The spread tests sit 6 standard errors out: other streams pass too (100 streams
    per case and answer passed when this was written; 5 run here)."""
    fn = _answer(variant.source)
    for case in (c for c in C.battery("full") if c.stats):
        for k in range(5):
            other = dataclasses.replace(case, seed=case.seed + 1000 + k)
            assert C.judge(other, C.observe(fn, other)) is None, (variant.name, k)


def test_cases_keep_their_scores_away_from_tau() -> None:
    """Float32 and float64 answers agree: every score is far from tau but the one case
    built to sit exactly on it (exact in both precisions)."""
    for case in C.battery("full"):
        for name, s in dormant_scores(case.model(), case.x).items():
            for v in s.tolist():
                if case.label.startswith("a score exactly at tau") and v == case.tau:
                    continue
                assert v == 0.0 or v <= case.tau / 2 and case.tau > 0 or v >= 1.5 * case.tau, (
                    case.label,
                    name,
                    v,
                )
                assert v == 0.0 or v > 0.005, (case.label, name, v)
    at_tau = next(c for c in C.battery() if c.label.startswith("a score exactly at tau"))
    for dtype in (torch.float32, torch.float64):
        h = torch.relu(at_tau.x.to(dtype) @ at_tau.layers[0][0].to(dtype).T)
        mean_abs = h.abs().mean(dim=0)
        assert (mean_abs / mean_abs.mean())[0].item() == at_tau.tau


def test_every_clause_has_a_visible_case() -> None:
    labels = " ".join(c.label for c in C.battery("basic"))
    for clause in ("dead", "weak", "large activations", "exactly at tau", "layer mean 0",
                   "re-initialised values"):  # fmt: skip
        assert clause in labels, clause
    assert len(C.battery("full")) > len(C.battery("basic"))


@pytest.mark.parametrize(
    ("draw", "why"),
    [
        (lambda n, fan_in, fan_out: (torch.rand(n, fan_in) - 0.5) / math.sqrt(fan_in), "half"),
        (lambda n, fan_in, fan_out: (torch.rand(n, fan_in) * 2 - 1) / math.sqrt(fan_out), "out"),
        (lambda n, fan_in, fan_out: torch.rand(n, fan_in) / math.sqrt(fan_in), "one-sided"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_the_spread_tests_catch_a_scale_inside_the_bound(draw, why) -> None:
    """Values inside +-1/sqrt(fan_in) but with the wrong spread fail the stats case."""

    def answer(model, x, tau=0.1):
        counts = {}
        scores = dormant_scores(model, x)
        linears = [m for m in model if isinstance(m, nn.Linear)]
        for (name, s), layer, nxt in zip(scores.items(), linears, linears[1:], strict=False):
            mask = s <= tau
            with torch.no_grad():
                n = int(mask.sum())
                layer.weight[mask] = draw(n, layer.in_features, layer.out_features)
                bound = 1 / math.sqrt(layer.in_features)
                layer.bias[mask] = torch.empty(n).uniform_(-bound, bound)
                nxt.weight[:, mask] = 0.0
            counts[str(int(name) - 1)] = n
        return counts

    case = next(c for c in C.battery() if c.stats)
    message = C.judge(case, C.observe(answer, case))
    assert message is not None and "mean square" in message, (why, message)


def test_observe_leaves_the_callers_random_state_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    C.observe(_textbook(), C.battery()[0])
    assert torch.equal(torch.rand(3), expected)


def test_a_function_that_changes_nothing_is_told_what_to_do() -> None:
    with pytest.raises(CheckFailed, match=r"returned None"):
        C.check_reset_dormant_units(lambda model, x, tau=0.1: None)
    with pytest.raises(CheckFailed, match=r"expected \{'0': 2\}"):
        C.check_reset_dormant_units(lambda model, x, tau=0.1: {"0": 0})


def test_hooks_left_behind_and_eval_mode_are_reported() -> None:
    textbook = _textbook()

    def leaves_a_hook(model, x, tau=0.1):
        model[1].register_forward_hook(lambda *a: None)
        return textbook(model, x, tau)

    def leaves_eval_mode(model, x, tau=0.1):
        model.eval()
        return textbook(model, x, tau)

    with pytest.raises(CheckFailed, match="hook"):
        C.check_reset_dormant_units(leaves_a_hook)
    with pytest.raises(CheckFailed, match="eval mode"):
        C.check_reset_dormant_units(leaves_eval_mode)


def test_the_reference_counts_use_the_courses_scores() -> None:
    case = C.battery()[1]
    dormant = C.dormant_units(case.model(), case.x, case.tau)
    scores = dormant_scores(case.model(), case.x)
    assert dormant == {
        "0": torch.nonzero(scores["1"] <= case.tau).flatten().tolist(),
        "2": torch.nonzero(scores["3"] <= case.tau).flatten().tolist(),
    }
    assert dormant["0"] and dormant["2"]
