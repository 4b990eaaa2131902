"""Fair grades in every mode: root with bubblewrap, an unprivileged user with bubblewrap,
and no bubblewrap at all (``--unsandboxed``).

Each mode is one batch (tests/grading_modes.py): ``relu-course demo``, then ``relu-course
grade`` of every ps1-ps4 corpus answer (tests/corpus_ps1.py, tests/corpus_ps234.py), run
as the instructor would, in a subprocess; in the sandboxed modes the ps1 batch also holds
every attack of tests/test_attacks.py. Asserted per mode: the demo class scores as
``demo/expected.json`` says; every correct answer keeps full marks without a tampering or
grader-error flag; every wrong answer loses points on its question; no attack gains a
point; a misnamed notebook is renamed and graded, an ungradable folder is listed; the mode
is printed and stamped in the report and the CSV.

The ``root`` mode repeats what tests/test_cli.py, tests/test_ps1.py, tests/test_ps234.py
and tests/test_attacks.py check as root with bubblewrap, so it runs only with
``RELU_COURSE_ALL_MODES=1``. The ps2-ps4 corpora (29 notebooks that train torch models,
about 3 minutes a mode on 2 cores) are graded in full with ``RELU_COURSE_ALL_MODES=1``;
by default each mode grades the ps2-ps4 reference solutions, the demo class, the whole
ps1 corpus and (sandboxed) the ps1 attacks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import grading_modes as gm  # noqa: E402
from nbgrader_harness import NO_BWRAP  # noqa: E402

from relu_course.grading.sandbox import bwrap_available  # noqa: E402

pytestmark = pytest.mark.slow
ALL_MODES = os.environ.get("RELU_COURSE_ALL_MODES") == "1"


def _skip_reason(mode: str) -> str | None:
    if mode == "root" and not ALL_MODES:
        return (
            "root with bubblewrap: covered by test_cli/test_ps*/test_attacks; "
            "RELU_COURSE_ALL_MODES=1 runs it here too"
        )
    if mode in ("root", "user") and os.geteuid() != 0:
        return f"the {mode} mode needs root (useradd a grader user, run as it with runuser)"
    if mode in ("root", "user") and not bwrap_available():
        return NO_BWRAP
    if mode == "user":
        user = gm.ensure_user()
        probe = subprocess.run(
            ["runuser", "-u", user.pw_name, "--", "bwrap", "--unshare-all", "--ro-bind", "/",
             "/", "--proc", "/proc", "--dev", "/dev", "true"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if probe.returncode != 0:
            return (
                "this kernel gives no user namespaces to unprivileged users "
                f"({probe.stderr.strip()}): sysctl -w kernel.unprivileged_userns_clone=1"
            )
    return None


@pytest.fixture(scope="module", params=gm.MODES)
def run(request, tmp_path_factory) -> gm.ModeRun:
    mode = request.param
    if (why := _skip_reason(mode)) is not None:
        pytest.skip(why)
    tmp = Path(tmp_path_factory.mktemp(f"mode-{mode}"))
    if mode == "user":  # pytest's base folder is private to root
        tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"relu-modes-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(mode=0o755)
        request.addfinalizer(lambda: shutil.rmtree(tmp, ignore_errors=True))
    result = gm.run_mode(mode, tmp, torch_corpus=ALL_MODES)
    print("\n" + gm.summary(result))
    return result


def _out(run: gm.ModeRun, label: str) -> str:
    return f"{label} exited {run.codes.get(label)}:\n{run.outputs.get(label, '')[-3000:]}"


def test_demo_class_scores_as_expected(run: gm.ModeRun) -> None:
    out = run.outputs["demo"]
    expected = json.loads((gm.ROOT / "demo" / "expected.json").read_text())
    scores = {s: sum(g["score"] or 0 for g in r["grades"]) for s, r in run.demo.items()}
    assert scores == {s: e["score"] for s, e in expected.items()}, _out(run, "demo")
    assert all(r["mode"] == gm.expected_mode(run.mode) for r in run.demo.values())
    if run.mode == "unsandboxed":
        assert "WARNING: no sandbox on this machine" in out
    else:
        assert f"sandbox: {gm.expected_mode(run.mode)}" in out
    # user mode runs Debian's /usr/bin/python3 (3.11.2): feedback must work there too
    # (soupsieve >= 3 breaks on Python < 3.11.5; constraints.txt pins 2.8 for it)
    assert run.codes["demo"] == 0 and "all scores as expected" in out, _out(run, "demo")


@pytest.mark.parametrize("assignment", gm.ASSIGNMENTS)
def test_correct_answers_keep_full_marks_and_wrong_ones_lose(
    run: gm.ModeRun, assignment: str
) -> None:
    label = f"grade {assignment}"
    assert run.results[assignment], _out(run, label)
    caught, wrong, kept, correct, problems = run.caught(assignment)
    assert not problems, "\n".join(problems) + "\n" + _out(run, label)
    assert caught == wrong, f"{wrong - caught} wrong answer(s) kept full marks"
    assert kept == correct
    honest = [
        sid
        for sid, answers in run.answers[assignment].items()
        if all(a.kind != "wrong" for a in answers)  # a wrong answer may well be flagged
    ]
    assert honest
    for sid in honest:
        result = run.results[assignment][sid]
        assert result["mode"] == gm.expected_mode(run.mode)
        odd = [f for f in result["flags"] if f["tampering"] or f["kind"] == "grader-error"]
        assert not odd, (sid, odd)


def test_no_attack_gains_a_point_or_leaves_a_process(run: gm.ModeRun) -> None:
    if not run.earned:
        pytest.skip("without a sandbox student code can rewrite the gradebook: no attacks")
    assert run.gained() == {}, _out(run, f"grade {gm.PS1}")
    assert run.leftovers == []


def test_every_submitted_folder_is_graded_or_listed(run: gm.ModeRun) -> None:
    out = run.outputs[f"grade {gm.PS1}"]
    misnamed = run.results[gm.PS1][gm.MISNAMED]
    assert sum(g["score"] for g in misnamed["grades"]) == 20.0
    assert any(r["kind"] == "renamed" for r in misnamed["repairs"])
    for sid in (gm.NO_NOTEBOOK, gm.TWO_NOTEBOOKS):
        assert f"{sid}" in out and "NOT GRADED" in out, out
    report = (run.course / "reports" / gm.PS1 / "report.md").read_text()
    assert f"| {gm.TWO_NOTEBOOKS} | not graded:" in report


def test_mode_is_printed_and_stamped(run: gm.ModeRun) -> None:
    mode = gm.expected_mode(run.mode)
    assert f"mode: {mode}" in run.outputs[f"grade {gm.PS1}"]
    report = (run.course / "reports" / gm.PS1 / "report.md").read_text()
    assert f"Grading mode (how student code ran): {mode}." in report
    with (run.course / "grades.csv").open() as fh:
        rows = [line.rstrip("\n").split(",") for line in fh]
    column = rows[0].index("grading_mode")
    assert {r[column] for r in rows[1:] if r[column]} == {mode}
    review = (run.course / "reports" / gm.PS1 / "needs_review.csv").read_text()
    assert review.splitlines()[0] == "submission,reason,grading_mode"
    if run.mode == "unsandboxed":
        assert "WARNING: --unsandboxed" in run.outputs[f"grade {gm.PS1}"]
