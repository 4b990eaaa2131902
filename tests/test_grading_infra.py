"""The grading infrastructure off the happy path: no bubblewrap, a failing clean check,
time limits, misnamed notebooks, dot-files, concurrent parsing, and what tests and
benchmarks leave behind for the book build.

A grader failure must never cost a student points or raise a tampering flag; a time limit
is reported as a timeout; every folder under ``submitted/`` is graded or listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from relu_course.grading import notebook_cells, runner, sandbox, verify
from relu_course.grading.cli import main
from relu_course.grading.course import Course
from relu_course.grading.submitted import load_not_graded, sweep_submitted

ROOT = Path(__file__).resolve().parents[1]
PS1, PS2 = "ps1_activations", "ps2_vanishing_gradients"
sys.path.insert(0, str(Path(__file__).parent))
import grading_modes  # noqa: E402


def _hide_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bindir = Path(sys.executable).parent
    monkeypatch.setenv("PATH", f"{bindir}:{grading_modes.path_without_bwrap(tmp_path)}")


def _notebooks(assignment: str) -> tuple[dict, dict, dict]:
    """(release, reference submission, instructor's source) of ``assignment``."""
    release = json.loads((ROOT / "exercises" / assignment / f"{assignment}.ipynb").read_text())
    source = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    notebooks, _ = grading_modes.corpus_submissions(assignment)
    return release, json.loads(nbformat.writes(notebooks["reference"])), source


# ----------------------------------------------------------------------------- grader errors


def _broken_sandbox(kind: str):
    def run(argv, **kwargs):
        if kind == "raises":
            raise FileNotFoundError(2, "No such file or directory", "bwrap")
        # what bubblewrap does when it cannot set up: an error line, no harness output
        return subprocess.CompletedProcess(argv, 1, b"", b"bwrap: Can't mount proc on /newroot")

    return run


@pytest.mark.parametrize("kind", ["raises", "dies-before-start"])
@pytest.mark.parametrize("assignment", [PS1, PS2])
def test_a_clean_check_that_cannot_run_is_a_grader_error(
    kind: str, assignment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, reference, source = _notebooks(assignment)
    gids = [
        c["metadata"]["nbgrader"]["grade_id"]
        for c in release["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade")
    ]
    points = {
        c["metadata"]["nbgrader"]["grade_id"]: float(c["metadata"]["nbgrader"]["points"])
        for c in release["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade")
    }
    monkeypatch.setattr(runner, "run_sandboxed", _broken_sandbox(kind))
    verdicts = verify.verify_submission(
        release, reference, assignment, scores=points, source_nb=source
    )
    assert {v.grade_id for v in verdicts} <= set(gids) and verdicts
    for v in verdicts:
        assert v.final_score == points[v.grade_id], v  # nbgrader's verdict stands
        assert [f.kind for f in v.flags] == ["grader-error"], v.flags
        assert not v.flags[0].tampering
        assert v.flags[0].reason.startswith("grader error: needs review")


def test_a_student_who_kills_the_clean_check_is_not_a_grader_error() -> None:
    """After the harness said it started, a missing answer is the student's doing."""
    release, reference, source = _notebooks(PS1)
    cells = reference["cells"]
    for cell in cells:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "relu":
            cell["source"] = "import os\ndef relu(x):\n    os.kill(os.getppid(), 9)\n"
    verdicts = verify.verify_submission(
        release, reference, PS1, scores={"test_relu": 1.0}, source_nb=source
    )
    relu = next(v for v in verdicts if v.grade_id == "test_relu")
    assert relu.final_score == 0.0
    assert not any(f.kind == "grader-error" for f in relu.flags)
    assert any(f.tampering for f in relu.flags)


def test_a_time_limit_is_a_timeout_not_tampering() -> None:
    release, reference, source = _notebooks(PS1)
    graded = json.loads(json.dumps(reference))
    for cell in graded["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 1
            cell.setdefault("outputs", [])
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_relu":
            cell["outputs"] = [
                {
                    "output_type": "error",
                    "ename": "CellTimeoutError",
                    "evalue": "A cell timed out while it was being executed",
                    "traceback": [],
                }
            ]
    flags = verify.audit_notebook(
        release, reference, autograded_nb=graded, source_nb=source, cell_timeout=60
    )
    timeouts = [f for f in flags if f.kind == "timeout"]
    assert timeouts and not any(f.tampering for f in flags), [str(f) for f in flags]
    assert "60 s" in timeouts[0].reason and "--cell-timeout" in timeouts[0].reason


# ----------------------------------------------------------------------------- sandbox


def test_unsandboxed_clean_run_uses_its_scratch_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without bubblewrap the harness still finds its files (it ran in the course folder)."""
    _hide_bwrap(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert not sandbox.bwrap_available()
    with pytest.warns(sandbox.SandboxWarning):
        done = sandbox.run_sandboxed(
            [sys.executable, "-I", "hello.py"], files={"hello.py": b"print('hi')"}
        )
    assert done.returncode == 0 and done.stdout.strip() == b"hi", done.stderr


def test_kernel_scratch_copy_keeps_dot_files(tmp_path: Path) -> None:
    """As nbgrader copies the assignment folder: dot-files in, checkpoints out."""
    src = tmp_path / "assignment"
    (src / "data").mkdir(parents=True)
    (src / ".settings.json").write_text("{}")
    (src / "data" / ".part.csv").write_text("1,2\n")
    (src / ".ipynb_checkpoints").mkdir()
    (src / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    km = sandbox.SandboxKernelManager(sandbox_root=str(tmp_path))
    scratch = Path(km._setup_sandbox(str(src)))
    copied = sorted(p.relative_to(scratch).as_posix() for p in scratch.rglob("*"))
    assert copied == [".settings.json", "data", "data/.part.csv"]


def test_parsing_is_safe_from_threads() -> None:
    """CPython 3.11's AST constructor raised SystemError when two threads parsed at once."""
    release, reference, _ = _notebooks(PS1)
    sources = ["".join(c["source"]) for c in reference["cells"] if c["cell_type"] == "code"]
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                for src in sources:
                    notebook_cells.parse_cell(src)
        except BaseException as exc:  # noqa: BLE001 - collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


# ----------------------------------------------------------------------------- the CLI


def test_doctor_says_yes_or_no_for_each_protection(capsys: pytest.CaptureFixture) -> None:
    code = main(["doctor"])
    out = capsys.readouterr().out
    found = sandbox.isolation()
    assert out.startswith(f"sandbox mode: {found.mode}")
    lines = [ln.strip() for ln in out.splitlines()[1:7]]
    assert all(ln.split()[0] in ("yes", "no") for ln in lines), out
    assert ("yes" if found.namespaces else "no") == lines[0].split()[0]
    assert code == (0 if found.isolated else 1)


def test_without_a_sandbox_doctor_says_no_and_grade_refuses_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    _hide_bwrap(monkeypatch, tmp_path)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "sandbox mode: unsandboxed" in out and "no   own PID/IPC/UTS" in out
    assert "yes  per-process memory" in out
    course = tmp_path / "course"
    grading_modes.make_course(course, (PS1,))
    assert main(["--course", str(course), "grade", PS1]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "sudo apt-get install bubblewrap" in err and "--unsandboxed" in err


# ----------------------------------------------------------------------------- submitted/


def test_every_submitted_folder_is_graded_or_listed(tmp_path: Path) -> None:
    course = Course(tmp_path)
    sub = tmp_path / "submitted"
    (sub / "ada" / PS1).mkdir(parents=True)
    (sub / "ada" / PS1 / "ps1_activations (1).ipynb").write_text("{}")
    (sub / "bob" / PS1).mkdir(parents=True)
    (sub / "bob" / PS1 / "homework.ipynb").write_text("{}")
    (sub / "cy" / PS1).mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb"):
        (sub / "cy" / PS1 / name).write_text(name)
    (sub / "dee").mkdir()
    (sub / "eve" / PS1).mkdir(parents=True)
    (sub / "stray.txt").write_text("")
    sweep = sweep_submitted(course, PS1)
    assert sweep.renamed == {"ada": "ps1_activations (1).ipynb", "bob": "homework.ipynb"}
    assert course.students(PS1) == ["ada", "bob"]
    listed = dict(sweep.not_graded)
    assert sorted(listed) == ["cy", "dee", "eve", "stray.txt"]
    assert "a.ipynb, b.ipynb" in listed["cy"] and "no notebook" in listed["eve"]
    assert load_not_graded(course, PS1) == sweep.not_graded


# ----------------------------------------------------------------------------- the book


def test_what_tests_and_benchmarks_write_is_kept_out_of_the_book() -> None:
    """A README.md in .pytest_cache/ or a bench report once broke `make book`."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    excluded = set(config["exclude_patterns"])
    cache = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert cache.get("cache_dir", ".pytest_cache").split("/")[0] in excluded
    for written in (".pytest_cache", ".hypothesis", "bench-results", ".relu-course", "reports"):
        assert written in excluded, f"{written}/ is not in _config.yml's exclude_patterns"
    assert "_build" in excluded  # screenshots and the jupyter cache live there


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as another user (needs root)")
def test_install_script_without_rights_prints_the_command() -> None:
    with tempfile.TemporaryDirectory() as tmp:  # not under pytest's private basetemp
        os.chmod(tmp, 0o755)
        path = grading_modes.path_without_bwrap(Path(tmp))  # bubblewrap looks missing
        done = _run_as_nobody(path)
    assert done.returncode == 0, done.stderr
    assert "bubblewrap" in done.stderr and "sudo sh -c 'apt-get update" in done.stderr


def _run_as_nobody(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "nobody", "--", "bash", str(ROOT / "scripts/install_system_packages.sh")],
        env={"PATH": path, "HOME": "/"},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("isolate", [None, False], ids=["best-sandbox", "unsandboxed"])
def test_a_broken_clean_check_keeps_nbgrader_scores_in_the_real_pipeline(
    isolate: bool | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One submission through grade_task (what a worker runs), the clean process broken."""
    from relu_course.grading import grade as grading
    from relu_course.grading.course import find_course, nbgrader_env
    from relu_course.grading.gradebook import course_id, grade_cells

    monkeypatch.setenv("PATH", nbgrader_env()["PATH"])
    grading_modes.make_course(tmp_path / "course", (PS1,))
    course = find_course(tmp_path / "course")
    template = grading._template(course, PS1, grading.release_key(course, PS1))
    db = f"sqlite:///{template / 'gradebook.db'}"
    task = grading.Task(
        course, PS1, "reference", "key", template, course.state_dir / "work" / PS1,
        course.state_dir / "results" / PS1, grade_cells(db, course_id(course), PS1),
        isolate=isolate,
    )  # fmt: skip
    monkeypatch.setattr(runner, "run_sandboxed", _broken_sandbox("dies-before-start"))
    result = grading.grade_task(task)
    assert result.status == "graded", result.message
    assert result.score == result.max_score == 20.0
    assert result.flags and all(f["kind"] == "grader-error" for f in result.flags), result.flags
    assert not any(f["tampering"] for f in result.flags)
    assert result.needs_review
    assert result.mode == sandbox.sandbox_mode(isolate)


# ------------------------------------------------------------ the trusted launch steps


LAUNCH = ROOT / "relu_course" / "grading" / "launch.py"
SHOW = "import os, resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], os.getpid())"


def test_launch_limit_applies_the_limits_then_runs_the_command() -> None:
    limits = json.dumps({"RLIMIT_NOFILE": 64, "RLIMIT_NOT_ON_THIS_PLATFORM": 1})
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCH), "limit", limits, "--",
         sys.executable, "-c", SHOW],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split()[0] == "64"


def test_launch_join_writes_its_own_pid_into_every_cgroup(tmp_path: Path) -> None:
    groups = [tmp_path / "cpu", tmp_path / "memory"]
    for g in groups:
        g.mkdir()
        (g / "cgroup.procs").write_text("")
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCH), "join", *map(str, groups), "--",
         sys.executable, "-c", SHOW],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    pid = out.stdout.split()[1]  # exec keeps the pid: the command is what sits in the group
    assert [(g / "cgroup.procs").read_text() for g in groups] == [pid, pid]


def test_launch_join_fails_before_the_command_when_a_cgroup_cannot_be_joined(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCH), "join", str(tmp_path / "missing"), "--",
         "touch", str(marker)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode != 0 and "cgroup.procs" in out.stderr
    assert not marker.exists()


MALFORMED = [[], ["limit", "{}"], ["limit", "--", "true"], ["x", "--", "true"]]


@pytest.mark.parametrize("argv", MALFORMED)
def test_launch_refuses_a_malformed_command_line(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCH), *argv], capture_output=True, text=True
    )
    assert out.returncode != 0 and "launch.py" in out.stderr
