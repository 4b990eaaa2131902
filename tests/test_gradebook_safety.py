"""Never lose a grade: each scenario of a term on a real (toy) course folder through the
real ``relu-course`` CLI: manual grades through nbgrader's API, a deleted and a restored
gradebook, two runs at once, a truncated re-upload, nbgrader's own feedback, the LMS
exports read back, the late policy, and bad input.

Grading starts kernels (seconds each), so a two-student toy course is graded once per
module and each test works on a copy of it; only the scenarios that must regrade do.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from relu_course.grading.cli import main
from relu_course.grading.course import find_course, nbgrader_env, run_nbgrader
from relu_course.grading.feedback import FEEDBACK_CONFIG, hidden_lines
from relu_course.grading.grade import load_results
from relu_course.grading.toy import TOY_ANSWERS, make_toy_course

pytestmark = pytest.mark.slow
os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader calls alembic from the venv
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demo"))
import make_demo  # noqa: E402

PERFECT = {k: v + "\n" for k, v in TOY_ANSWERS.items()}
HALF = {"relu": TOY_ANSWERS["relu"] + "\n"}
LATE_POLICY = (
    'c.AssignLatePenalties.plugin_class = "relu_course.grading.deadlines.LatePenalty"\n'
    'c.LatePenalty.penalty_method = "per_day"\n'
    "c.LatePenalty.percent_per_day = 10.0\n"
)


def _submit(course, sid: str, answers: dict[str, str]) -> None:
    nb = make_demo.fill(nbformat.read(course.release_notebook("toy"), as_version=4), answers)
    dest = course.submitted_notebook("toy", sid)
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def _cli(course, *args: str) -> int:
    return main(["--course", str(course.root), *args])


def _grade(course, *args: str) -> int:
    return _cli(course, "grade", "toy", "--no-progress", *args)


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "logs" not in p.parts
    }


def _gradebook(course):
    from nbgrader.api import Gradebook

    return Gradebook(course.db_url, "toy-course")


@pytest.fixture(scope="module")
def graded_once(tmp_path_factory):
    """A toy course with 'perfect' (5/5) and 'half' (2/5), graded once."""
    course = find_course(make_toy_course(tmp_path_factory.mktemp("safety") / "course"))
    with open(course.root / "nbgrader_config.py", "a", encoding="utf-8") as fh:
        fh.write(FEEDBACK_CONFIG + LATE_POLICY)
    assert _cli(course, "release", "toy") == 0
    _submit(course, "perfect", PERFECT)
    _submit(course, "half", HALF)
    assert _grade(course) == 0
    return course


@pytest.fixture
def toy(graded_once, tmp_path):
    """A copy of the graded course (so each test starts from the same gradebook)."""
    dest = tmp_path / "course"
    shutil.copytree(graded_once.root, dest, symlinks=True)
    course = find_course(dest)
    # the saved worker results name their autograded notebook by absolute path
    for path in (course.state_dir / "results").rglob("result.json"):
        path.write_text(path.read_text().replace(str(graded_once.root), str(dest)))
    state = course.state_dir / "state" / "toy.json"
    state.write_text(state.read_text().replace(str(graded_once.root), str(dest)))
    return course


def _scores(course) -> dict[str, float]:
    with _gradebook(course) as gb:
        return {s.student.id: s.score for s in gb.find_assignment("toy").submissions}


def _set_manual(course) -> None:
    with _gradebook(course) as gb:
        grade = gb.find_grade("test_sigmoid", "toy", "toy", "half")
        grade.manual_score, grade.extra_credit = 1.5, 0.5
        gb.find_comment("sigmoid", "toy", "toy", "half").manual_comment = "nearly: check exp"
        gb.db.commit()


def _manual(course) -> tuple:
    with _gradebook(course) as gb:
        grade = gb.find_grade("test_sigmoid", "toy", "toy", "half")
        comment = gb.find_comment("sigmoid", "toy", "toy", "half").manual_comment
        flagged = any(nb.flagged for nb in gb.find_submission("toy", "half").notebooks)
        return grade.manual_score, grade.extra_credit, comment, flagged


def _edit_source(course, grade_id: str | None, **change) -> None:
    path = course.source_notebook("toy")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if grade_id is None and cell.cell_type == "markdown":
            cell.source += "\n\nA typo, fixed."
            break
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.metadata.nbgrader.update(change)
    nbformat.write(nb, path)


# ---------------------------------------------------------------- 1. manual work survives


def test_manual_grades_survive_force_resubmission_and_source_edits(toy, capsys):
    _set_manual(toy)
    assert _scores(toy)["half"] == 4.0  # relu 2 + manual 1.5 + extra 0.5

    assert _grade(toy, "--force", "--student", "half") == 0
    assert _manual(toy) == (1.5, 0.5, "nearly: check exp", False)
    assert _scores(toy)["half"] == 4.0

    _submit(toy, "half", {**HALF, "sigmoid": "    return x\n"})  # a resubmission
    assert _grade(toy) == 1  # a person must look again
    out = capsys.readouterr().out
    assert "graded 1" in out and "unchanged 1" in out
    assert "half test_sigmoid: manual score 1.5, extra credit 0.5, comment kept" in out
    assert _manual(toy) == (1.5, 0.5, "nearly: check exp", True)
    assert _cli(toy, "report", "toy") == 1
    assert "the cell changed since it was given" in capsys.readouterr().out

    _edit_source(toy, None)  # prose: no one is regraded
    assert _grade(toy) == 0
    assert "graded 0, resumed 0, unchanged 2" in capsys.readouterr().out

    _edit_source(toy, "test_relu", points=4)  # points: regraded, and it says why
    assert _cli(toy, "release", "toy") == 0  # the documented step after a source edit
    # the notebook was handed in against the old release: the clean re-check of
    # relu_course.grading.verify may flag its old points and prose for review (exit 1)
    assert _grade(toy, "--student", "half") in (0, 1)
    out = capsys.readouterr().out
    assert "the tests or points of the source changed: test_relu" in out
    assert "manual grade(s) kept" not in out  # test_sigmoid did not change
    half = load_results(toy, "toy")["half"]
    assert half.status == "graded" and half.score == 4
    assert _manual(toy)[:3] == (1.5, 0.5, "nearly: check exp")
    assert _scores(toy)["half"] == 6.0  # relu now 4 + manual 1.5 + extra 0.5


# ---------------------------------------------------------------- 2. the gradebook is the truth


def test_a_deleted_or_restored_gradebook_is_rebuilt_by_a_plain_grade(toy, capsys):
    before = _scores(toy)
    assert before == {"perfect": 5.0, "half": 2.0}
    toy.gradebook.unlink()
    assert _grade(toy) == 0
    assert "resumed 2" in capsys.readouterr().out  # from the saved results, no kernel
    assert _scores(toy) == before

    assert _cli(toy, "restore") == 0
    listing = capsys.readouterr().out
    first = re.search(r"^\s+1\s+(gradebook-\S+\.db)\s.*0 submission", listing, re.M)
    assert first, listing
    assert _cli(toy, "restore", "1") == 0
    assert "the gradebook it replaced is in" in capsys.readouterr().out
    assert _scores(toy) == {}
    assert _grade(toy) == 0
    assert _scores(toy) == before
    rows, _ = _export(toy, "nbgrader")
    assert len(rows) == 2

    # a backup that is not a gradebook is refused, and nothing changes
    bad = toy.state_dir / "backups" / "gradebook-99999999-junk.db"
    bad.write_bytes(b"not a database")
    db = toy.gradebook.read_bytes()
    assert _cli(toy, "restore", bad.name) == 2
    assert "not a readable nbgrader gradebook" in capsys.readouterr().err
    assert toy.gradebook.read_bytes() == db


def test_a_failure_of_the_grader_is_retried_not_remembered(toy, capsys):
    import sqlite3

    with sqlite3.connect(toy.gradebook) as db:
        db.execute("UPDATE relu_course_graded SET status = 'error' WHERE student = 'half'")
    db.close()
    saved = toy.state_dir / "results" / "toy" / "half" / "result.json"
    data = json.loads(saved.read_text())
    saved.write_text(json.dumps({**data, "status": "error"}))
    assert _grade(toy) == 0
    out = capsys.readouterr().out
    assert "graded 1, resumed 0, unchanged 1" in out and "half" in out


# ---------------------------------------------------------------- 3. one writer at a time


def test_two_grade_runs_at_once_one_waits_for_the_other(toy, capsys):
    script = Path(sys.executable).parent / "relu-course"
    first = subprocess.Popen(
        [str(script), "--course", str(toy.root), "grade", "toy", "--force", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lock = toy.state_dir / "lock.json"
    for _ in range(600):
        if lock.exists() or first.poll() is not None:
            break
        time.sleep(0.1)
    assert first.poll() is None, first.stdout.read()
    assert _grade(toy, "--force") == 2
    err = capsys.readouterr().err
    assert f"relu-course grade (pid {first.pid}, started " in err
    assert "wait for it to finish" in err
    # export waits for the grading to end, then sees its result
    assert _cli(toy, "export", "--wait", "600", "--to", str(toy.root / "after.csv")) == 0
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out
    assert "graded 2" in out
    rows = list(csv.DictReader((toy.root / "after.csv").open()))
    assert {r["student_id"]: float(r["score"]) for r in rows} == {"perfect": 5.0, "half": 2.0}
    assert not lock.exists()

    # a lock record left by a crashed run (its process is gone) is cleared
    lock.write_text(json.dumps({"pid": 999999999, "command": "grade", "started": "then"}))
    assert _cli(toy, "export", "--to", str(toy.root / "x.csv")) == 0
    assert "cleared a stale lock of relu-course grade (pid 999999999" in capsys.readouterr().out


# ---------------------------------------------------------------- 5. feedback matches


def _page_text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_truncated_reupload_then_feedback_matches_the_gradebook(toy, capsys):
    assert _cli(toy, "feedback", "toy") == 0
    page = toy.feedback_dir("toy", "perfect") / "toy.html"
    assert "5.0 / 5.0" in _page_text(page)
    ghost = toy.feedback_dir("toy", "ghost") / "toy.html"  # an old page of no submission
    ghost.parent.mkdir(parents=True)
    ghost.write_text("<p>20 / 20</p>")

    nb = toy.submitted_notebook("toy", "perfect")
    nb.write_bytes(nb.read_bytes()[:300])  # a truncated re-upload
    assert _grade(toy) == 1
    assert _scores(toy)["perfect"] == 0.0
    assert not page.exists()  # the old 5/5 page went with the old grade

    assert _cli(toy, "feedback", "toy") == 1  # a person must tell the student
    out = capsys.readouterr().out
    assert "feedback for 1 student(s)" in out
    assert "perfect: could not be graded" in out and "removed stale" in out
    text = _page_text(page)
    assert "could not be graded" in text and "not valid JSON" in text
    assert "upload a complete copy" in text and "5.0 / 5.0" not in text
    assert not ghost.exists()


def test_nbgrader_generate_feedback_on_the_course_hides_hidden_tests(toy):
    # the repository's nbgrader_config.py registers the same preprocessor
    repo_config = (ROOT / "nbgrader_config.py").read_text()
    assert FEEDBACK_CONFIG in repo_config
    source = nbformat.read(toy.source_notebook("toy"), as_version=4)
    secrets = hidden_lines("\n".join(c.source for c in source.cells))
    autograded = toy.autograded_notebook("toy", "half").read_text()
    assert all(json.dumps(line)[1:-1] in autograded for line in secrets)  # can fail
    proc = run_nbgrader(["generate_feedback", "toy", "--force"], toy.root)
    assert proc.returncode == 0, proc.stderr
    for sid in ("perfect", "half"):
        text = _page_text(toy.feedback_dir("toy", sid) / "toy.html")
        assert "hidden tests ran here" in text
        assert not [line for line in secrets if line in text]


# ---------------------------------------------------------------- 6-7. roster, deadlines, LMS


def _lms_export(course, folder: Path, when: float) -> Path:
    """A Canvas-style export of the two submissions, files dated ``when``."""
    folder.mkdir()
    for sid, uid in (("perfect", "111"), ("half", "222")):
        name = folder / f"{sid}_{uid}_9{uid}_toy.ipynb"
        shutil.copy2(course.submitted_notebook("toy", sid), name)
        os.utime(name, (when, when))
    return folder


ROSTER = (
    "student_id,lms_id,first_name,last_name,email\n"
    "perfect,111,Ada,Zeta,ada@uni.edu\n"
    "half,222,Bob,Alpha,bob@uni.edu\n"
    "absent,333,Cy,Mid,cy@uni.edu\n"
)


def _export(course, fmt: str, *more: str) -> tuple[list[list[str]], list[str]]:
    dest = course.root / f"{fmt}.csv"
    assert _cli(course, "export", "toy", "--format", fmt, "--to", str(dest), *more) == 0
    rows = list(csv.reader(io.StringIO(dest.read_text())))
    return rows[1:], rows[0]


def test_roster_and_exports_for_canvas_moodle_and_nbgrader(toy, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER)
    export = _lms_export(toy, tmp_path / "week1", time.time())
    assert _cli(toy, "collect", "toy", str(export), "--roster", str(roster)) == 0
    assert _grade(toy) == 0  # same notebooks: nothing to regrade
    assert "unchanged 2" in capsys.readouterr().out

    rows, head = _export(toy, "canvas", "--lms-id", "toy=4567")
    assert head == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "toy (4567)"]
    assert rows == [
        ["Points Possible", "", "", "", "", "5"],
        ["Alpha, Bob", "222", "half", "bob@uni.edu", "", "2"],
        ["Mid, Cy", "333", "absent", "cy@uni.edu", "", "0"],
        ["Zeta, Ada", "111", "perfect", "ada@uni.edu", "", "5"],
    ]
    rows, head = _export(toy, "moodle", "--missing", "blank")
    assert head == ["Email address", "ID number", "First name", "Last name", "toy"]
    assert [r[0] for r in rows] == ["bob@uni.edu", "cy@uni.edu", "ada@uni.edu"]
    assert [r[-1] for r in rows] == ["2", "", "5"]
    rows, head = _export(toy, "nbgrader")
    assert head[:4] == ["assignment", "duedate", "timestamp", "student_id"]
    table = {r[3]: dict(zip(head, r, strict=True)) for r in rows}
    assert [r[3] for r in rows] == ["absent", "half", "perfect"]
    assert table["perfect"]["email"] == "ada@uni.edu" and table["perfect"]["timestamp"]
    assert table["absent"]["score"] == "0.0"

    # week 2 without --roster: the stored roster maps the LMS names, no second set of ids
    week2 = _lms_export(toy, tmp_path / "week2", time.time())
    stranger = week2 / "stranger_999_9999_toy.ipynb"
    shutil.copy2(toy.submitted_notebook("toy", "half"), stranger)
    assert _cli(toy, "collect", "toy", str(week2)) == 0
    out = capsys.readouterr().out
    assert "student ids from the roster stored in gradebook.db" in out
    assert "NOT COLLECTED stranger_999_9999_toy.ipynb" in out
    assert sorted(p.name for p in (toy.root / "submitted").iterdir()) == ["half", "perfect"]


def test_collect_warns_about_ids_not_seen_before(toy, tmp_path, capsys):
    export = tmp_path / "export"
    (export / "perfect").mkdir(parents=True)
    (export / "p_erfect").mkdir()
    for sid in ("perfect", "p_erfect"):
        shutil.copy2(toy.submitted_notebook("toy", "perfect"), export / sid / "toy.ipynb")
    assert _cli(toy, "collect", "toy", str(export)) == 0
    err = capsys.readouterr().err
    assert "new student id 'p_erfect'" in err and "'perfect'" not in err


def test_collect_takes_submission_times_from_nbgrader_exchange_timestamps(toy, tmp_path):
    from relu_course.grading.collect import collect
    from relu_course.grading.deadlines import read_timestamp

    folder = tmp_path / "exchange" / "half" / "toy"
    folder.mkdir(parents=True)
    shutil.copy2(toy.submitted_notebook("toy", "half"), folder / "toy.ipynb")
    (folder / "timestamp.txt").write_text("2026-01-02 03:04:05.000000 UTC")
    report = collect(toy, "toy", tmp_path / "exchange")
    assert [c.submitted_at for c in report.collected] == ["2026-01-02 03:04:05 UTC"]
    assert not report.ignored
    assert f"{read_timestamp(toy, 'toy', 'half'):%Y-%m-%d %H:%M:%S}" == "2026-01-02 03:04:05"


def test_due_date_extension_and_late_policy(toy, tmp_path, capsys):
    due = time.time() - 3 * 86400 - 3600  # both submitted 3 days and an hour late
    export = _lms_export(toy, tmp_path / "export", time.time())
    assert _cli(toy, "collect", "toy", str(export)) == 0
    due_text = time.strftime("%Y-%m-%d %H:%M", time.gmtime(due))
    assert _cli(toy, "duedate", "toy", due_text) == 0
    assert _scores(toy) == {"perfect": 5.0, "half": 2.0}  # raw scores
    rows, head = _export(toy, "nbgrader")
    table = {r[3]: dict(zip(head, r, strict=True)) for r in rows}
    assert float(table["perfect"]["late_submission_penalty"]) == pytest.approx(2.0)  # 4 days
    assert float(table["perfect"]["score"]) == pytest.approx(3.0)
    assert _cli(toy, "extend", "toy", "perfect", "5") == 0
    rows, head = _export(toy, "canvas")
    assert ["Points Possible", "", "", "", "", "5"] in rows
    assert {r[2]: r[5] for r in rows[1:]} == {"half": "1.2", "perfect": "5"}
    _cli(toy, "report", "toy")
    report = (toy.root / "reports" / "toy" / "report.md").read_text()
    assert "Late policy: 10% of the score per started day late" in report
    assert re.search(r"\| half \| .* \| 73\.0 \| 0\.8 \|", report), report


# ---------------------------------------------------------------- 8. errors that say what to do


def test_bad_input_is_one_line_naming_the_next_step_and_changes_nothing(toy, tmp_path, capsys):
    before = _tree(toy.root)

    def one_line(code: int, *needles: str) -> None:
        assert code == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err, err
        for needle in needles:
            assert needle in err, err
        assert _tree(toy.root) == before

    export = _lms_export(toy, tmp_path / "export", time.time())
    one_line(
        _cli(toy, "collect", "toy", str(export), "--roster", str(tmp_path / "nope.csv")),
        "roster file",
        "does not exist",
        "give the path",
    )
    one_line(
        _cli(toy, "export", "--to", str(tmp_path / "no" / "such" / "grades.csv")),
        "does not exist",
        "create it",
    )

    # disk full while the gradebook is backed up: the gradebook stays as it was
    from relu_course.grading import gradebook

    real = gradebook.sqlite_copy

    def full(src, dest):
        raise OSError(28, "No space left on device", str(dest))

    gradebook.sqlite_copy = full
    try:
        one_line(_cli(toy, "duedate", "toy", "2026-01-01"), "No space left", "free some space")
    finally:
        gradebook.sqlite_copy = real

    good = toy.gradebook.read_bytes()
    toy.gradebook.write_bytes(good[:4096] + b"\0" * 2048)  # a damaged gradebook
    before = _tree(toy.root)
    one_line(_grade(toy), "is damaged", "relu-course restore")
    one_line(_cli(toy, "export"), "is damaged", "relu-course restore")
    toy.gradebook.write_bytes(good)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="needs root")
def test_a_read_only_course_folder_is_refused_before_anything_runs(toy):
    before = _tree(toy.root)
    for command in ("feedback toy", "grade toy --no-progress", "export"):
        inner = (
            f"mount --bind -o ro {toy.root} {toy.root} && "
            f"{sys.executable} -m relu_course.grading.cli --course {toy.root} {command}"
        )
        proc = subprocess.run(
            ["unshare", "-m", "sh", "-c", inner],
            capture_output=True,
            text=True,
            timeout=300,
            env=nbgrader_env(),
        )
        if "mount:" in proc.stderr:
            pytest.skip(f"cannot mount here: {proc.stderr.strip()}")
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "Read-only file system" in proc.stderr or "read-only" in proc.stderr
        assert "nothing was changed" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "feedback for" not in proc.stdout
    assert _tree(toy.root) == before
