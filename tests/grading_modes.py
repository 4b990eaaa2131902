"""Grade the demo class and the ps1-ps4 corpora with ``relu-course``, as an instructor
would, in one of three modes; used by tests/test_grading_modes.py and runnable by hand.

Modes:

``root``
    as root, with bubblewrap (random sandbox uid, cgroup caps where writable);
``user``
    as an unprivileged user made for the test (``useradd``), with bubblewrap in a user
    namespace, from a virtual environment that user can read (:func:`user_venv`);
``unsandboxed``
    as root with ``bwrap`` hidden from ``PATH``: ``relu-course grade --unsandboxed``
    (resource limits only; the clean re-verification still runs).

Each mode is one batch: ``relu-course demo`` once, then ``relu-course grade`` once per
assignment over every corpus submission (one notebook per row of the corpus, the
reference in the other cells). By hand::

    .venv/bin/python tests/grading_modes.py unsandboxed [ps1_activations ...]
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path[:0] = [str(TESTS), str(ROOT)]

import corpus_ps1  # noqa: E402
import corpus_ps234  # noqa: E402

MODES = ("root", "user", "unsandboxed")
PS1 = "ps1_activations"
ASSIGNMENTS = (PS1, corpus_ps234.PS2, corpus_ps234.PS3, corpus_ps234.PS4)
TEST_USER = "relu-grader"
#: where the test user's virtual environment is kept between runs (one per dependency set)
USER_VENV_ROOT = Path("/var/tmp/relu-course-test-venvs")
SOLUTION_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


@dataclass
class Answer:
    """One answer in one submission: ``kind`` is ``wrong``, ``correct`` or ``reference``."""

    test_id: str
    kind: str
    label: str


@dataclass
class ModeRun:
    """What one mode's batch gave: scores, flags and times, per assignment."""

    mode: str
    results: dict[str, dict[str, dict]] = field(default_factory=dict)  # assignment -> sid
    answers: dict[str, dict[str, list[Answer]]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)  # command -> terminal output
    codes: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    demo: dict[str, dict] = field(default_factory=dict)
    course: Path | None = None
    marker: str = ""  # `sleep <marker>`: what the attacks' daemons run
    earned: dict[str, set[str]] = field(default_factory=dict)  # attack -> honest functions
    leftovers: list[str] = field(default_factory=list)  # attack processes alive after grading

    def gained(self) -> dict[str, list[str]]:
        """Per attack, the questions it scored on without implementing them honestly."""
        out = {}
        for sid, earned in self.earned.items():
            grades = self.results.get(PS1, {}).get(sid, {}).get("grades", [])
            bad = [
                f"{g['name']} {g['score']:g}/{g['max_score']:g}"
                for g in grades
                if (g["score"] or 0) > 0 and g["name"].removeprefix("test_") not in earned
            ]
            if bad or not grades:
                out[sid] = bad or ["not graded"]
        return out

    def caught(self, assignment: str) -> tuple[int, int, int, int, list[str]]:
        """(wrong caught, wrong, correct kept, correct, problems) of one assignment."""
        caught = wrong = kept = correct = 0
        problems = []
        for sid, answers in self.answers[assignment].items():
            if sid not in self.results.get(assignment, {}):
                problems.append(f"{assignment} {sid} was not graded")
                continue
            scores = {g["name"]: g for g in self.results[assignment][sid]["grades"]}
            for a in answers:
                grade = scores[a.test_id]
                full = (grade["score"] or 0.0) >= grade["max_score"]
                if a.kind == "wrong":
                    wrong += 1
                    caught += not full
                else:
                    correct += 1
                    kept += full
                    if not full:
                        problems.append(f"{assignment} {sid} {a.test_id} {a.kind} {a.label}")
        return caught, wrong, kept, correct, problems


# ----------------------------------------------------------------------------- course


def _as_student(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not SOLUTION_MARKER.match(line))


def _solution_sources(assignment: str) -> dict[str, str]:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: _as_student(c.source)
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"
    }


def _fill(release: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sources and cell.metadata["nbgrader"].get("solution"):
            cell.source = sources[gid]
    return nb


def corpus_submissions(
    assignment: str,
) -> tuple[dict[str, nbformat.NotebookNode], dict[str, list[Answer]]]:
    """Every corpus answer of ``assignment`` in as few notebooks as can hold them."""
    release = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    reference = _solution_sources(assignment)
    notebooks = {"reference": _fill(release, reference)}
    answers = {"reference": [Answer(f"test_{g}", "reference", "reference") for g in reference]}
    if assignment == PS1:
        columns = {
            fn: [("wrong", lbl, src) for lbl, src in corpus_ps1.WRONG.get(fn, [])]
            + [("correct", lbl, src) for lbl, src in corpus_ps1.CORRECT.get(fn, [])]
            for fn in reference
        }
        for i in range(max(len(col) for col in columns.values())):
            row = {fn: col[i] for fn, col in columns.items() if i < len(col)}
            notebooks[f"ps1_{i:02d}"] = _fill(
                release, reference | {fn: src for fn, (_, _, src) in row.items()}
            )
            answers[f"ps1_{i:02d}"] = [
                Answer(f"test_{fn}", k, lbl) for fn, (k, lbl, _) in row.items()
            ]
        return notebooks, answers
    from test_ps234 import pack  # the grouping test_ps234 grades with

    for k, sub in enumerate(pack(corpus_ps234.variants(assignment))):
        sid = f"mixed_{k:02d}"
        notebooks[sid] = _fill(release, reference | {v.grade_id: v.source for v in sub})
        answers[sid] = [Answer(v.test_id, "correct" if v.correct else "wrong", v.name) for v in sub]
    return notebooks, answers


#: ps1 submissions that test the bookkeeping: a misnamed notebook (graded after a rename)
#: and folders that cannot be graded (listed with the reason)
MISNAMED, NO_NOTEBOOK, TWO_NOTEBOOKS = "misnamed", "no_notebook", "two_notebooks"


def attack_submissions(course: Path, marker: str) -> dict[str, tuple[nbformat.NotebookNode, set]]:
    """The ps1 attacks of tests/test_attacks.py, aimed at ``course``: ``{name: (notebook,
    functions it implements honestly)}``; ``marker`` is the ``sleep`` its daemons run."""
    import test_attacks

    release = nbformat.read(ROOT / "exercises" / PS1 / f"{PS1}.ipynb", as_version=4)
    tokens = {"@@COURSE@@": str(course), "@@VICTIM@@": str(course.parent / "victim"),
              "@@PORT@@": "9", "@@MARKER@@": marker}  # fmt: skip
    out = {}
    for attack in test_attacks.ATTACKS:
        cells = {}
        for key, code in attack.cells.items():
            for token, value in tokens.items():
                code = code.replace(token, value)
            cells[key] = code
        nb = _fill(release, {k: v for k, v in cells.items() if k != "scratch"})
        if "scratch" in cells:
            nb.cells.append(nbformat.v4.new_code_cell(cells["scratch"]))
        if attack.transform is not None:
            nb = attack.transform(nb)
        out[f"attack_{attack.name}"] = (nb, set(attack.earned))
    return out


def _write(
    folder: Path, sid: str, assignment: str, nb: nbformat.NotebookNode, name: str = ""
) -> None:
    dest = folder / "submitted" / sid / assignment / (name or f"{assignment}.ipynb")
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


def make_course(
    folder: Path, assignments: tuple[str, ...], *, attacks: str = "", torch_corpus: bool = True
) -> dict[str, dict[str, list[Answer]]]:
    """A course in ``folder`` with ``assignments`` released and their corpora submitted
    (with ps1: the bookkeeping cases, and the attacks when ``attacks`` names the marker)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    expected = {}
    for assignment in assignments:
        for sub in ("solutions", "exercises"):
            shutil.copytree(ROOT / sub / assignment, folder / sub / assignment)
        notebooks, answers = corpus_submissions(assignment)
        if assignment != PS1 and not torch_corpus:  # the reference only: ~12 s each
            notebooks, answers = (
                {"reference": notebooks["reference"]},
                {"reference": answers["reference"]},
            )
        for sid, nb in notebooks.items():
            _write(folder, sid, assignment, nb)
        if assignment == PS1:
            reference = notebooks["reference"]
            _write(folder, MISNAMED, PS1, reference, "Copy of ps1_activations (2).ipynb")
            answers[MISNAMED] = answers["reference"]
            (folder / "submitted" / NO_NOTEBOOK / PS1).mkdir(parents=True)
            _write(folder, TWO_NOTEBOOKS, PS1, reference, "draft.ipynb")
            _write(folder, TWO_NOTEBOOKS, PS1, reference, "final.ipynb")
            for sid, (nb, _) in (attack_submissions(folder, attacks) if attacks else {}).items():
                _write(folder, sid, PS1, nb)
        expected[assignment] = answers
    return expected


# ----------------------------------------------------------------------------- modes


def expected_mode(mode: str) -> str:
    """The grading mode ``relu-course`` reports for one of :data:`MODES`."""
    return {"root": "bubblewrap", "user": "bubblewrap-user"}.get(mode, mode)


def path_without_bwrap(tmp: Path) -> str:
    """A PATH with every system command but ``bwrap`` (symlinks in ``tmp/bin``)."""
    bindir = tmp / "bin-no-bwrap"
    bindir.mkdir(parents=True, exist_ok=True)
    for folder in ("/usr/local/bin", "/usr/bin", "/usr/sbin"):
        for exe in Path(folder).iterdir() if Path(folder).is_dir() else []:
            link = bindir / exe.name
            if exe.name != "bwrap" and not link.exists():
                link.symlink_to(exe)
    return str(bindir)


def ensure_user(name: str = TEST_USER) -> pwd.struct_passwd:
    """The unprivileged test user (created with ``useradd`` the first time)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def _link(src: str, dst: str) -> None:
    """``shutil.copy2``, as a hard link when ``src`` and ``dst`` share a file system."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def user_venv() -> Path:
    """A virtual environment any user can read and run, with this project installed.

    Made with Debian's ``/usr/bin/python3`` (root's own Python may sit in a private home)
    and filled with a copy of this interpreter's ``site-packages`` (the versions
    ``make venv`` installed from ``constraints.txt``: torch stays the CPU wheel; no
    network), scripts re-pointed at the new interpreter; kept in :data:`USER_VENV_ROOT`
    and reused while the dependencies and this checkout are unchanged.
    """
    deps = hashlib.sha256(
        (ROOT / "constraints.txt").read_bytes()
        + (ROOT / "pyproject.toml").read_bytes()
        + str(ROOT).encode()
        + b"layout 3: site-packages, share, etc, re-resolved markers"
    ).hexdigest()[:12]
    venv = USER_VENV_ROOT / f"grading-{deps}"
    if (venv / ".installed").is_file():
        return venv
    python = shutil.which("python3", path="/usr/bin:/bin")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if (
        python is None
        or subprocess.run(
            [python, "-c", f"import sys; sys.exit(sys.version_info[:2] != {sys.version_info[:2]})"],
            check=False,
        ).returncode
    ):
        raise RuntimeError(f"no system {version} at /usr/bin/python3 to build a user venv with")
    shutil.rmtree(venv, ignore_errors=True)
    USER_VENV_ROOT.mkdir(parents=True, exist_ok=True)
    os.chmod(USER_VENV_ROOT, 0o755)
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sys.prefix)
    site = venv / "lib" / version / "site-packages"
    shutil.rmtree(site)
    # hard links where the file system allows them: 2 GB of torch & co. in seconds
    shutil.copytree(
        ours / "lib" / version / "site-packages", site, symlinks=True, copy_function=_link
    )
    for data in ("share", "etc"):  # nbconvert's templates, Jupyter's configuration
        if (ours / data).is_dir():
            shutil.copytree(ours / data, venv / data, symlinks=True, dirs_exist_ok=True)
    for script in (ours / "bin").iterdir():
        dest = venv / "bin" / script.name
        if dest.exists() or script.is_symlink() or not script.is_file():
            continue
        head = script.read_bytes()[:128]
        if head.startswith(b"#!") and b"python" in head.split(b"\n", 1)[0]:
            body = script.read_bytes().split(b"\n", 1)[1]
            dest.write_bytes(b"#!" + str(venv / "bin" / "python").encode() + b"\n" + body)
            dest.chmod(0o755)
    _reinstall_for_interpreter(venv)
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    (venv / ".installed").write_text(deps)
    return venv


def _reinstall_for_interpreter(venv: Path) -> None:
    """Re-resolve the constraints that depend on the exact Python version in ``venv``.

    The copied ``site-packages`` were resolved for this interpreter; a constraint with a
    ``python_full_version`` marker (soupsieve: >= 3 needs Python >= 3.11.5, Debian 12 has
    3.11.2) may pick another version there, as ``pip install -c constraints.txt`` would.
    """
    names = sorted(
        {
            line.split("==", 1)[0].strip()
            for line in (ROOT / "constraints.txt").read_text().splitlines()
            if "python_full_version" in line and not line.lstrip().startswith("#")
        }
    )
    if not names:
        return
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "-c",
            str(ROOT / "constraints.txt"),
            *names,
        ],
        check=True,
    )


def _runner(mode: str, tmp: Path) -> tuple[list[str], dict[str, str], str]:
    """Command prefix, environment and ``relu-course`` executable of ``mode``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
    env |= {"MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"}
    if mode == "user":
        user = ensure_user()
        venv = user_venv()
        env |= {"HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name}
        env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", user.pw_name, "--"], env, str(venv / "bin" / "relu-course")
    bindir = Path(sys.executable).parent
    if mode == "unsandboxed":
        env["PATH"] = f"{bindir}:{path_without_bwrap(tmp)}"
    else:
        env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    return [], env, str(bindir / "relu-course")


def run_mode(
    mode: str,
    tmp: Path,
    assignments: tuple[str, ...] = ASSIGNMENTS,
    *,
    demo: bool = True,
    jobs: int | None = None,
    torch_corpus: bool = True,
) -> ModeRun:
    """The demo class and the corpora of ``assignments``, graded in ``mode``."""
    prefix, env, exe = _runner(mode, tmp)
    run = ModeRun(mode)
    course = tmp / f"course-{mode}"
    run.course = course
    run.marker = str(80000 + os.getpid() % 9000) if mode != "unsandboxed" else ""
    run.answers = make_course(course, assignments, attacks=run.marker, torch_corpus=torch_corpus)
    if run.marker and PS1 in assignments:
        run.earned = {s: e for s, (_, e) in attack_submissions(course, run.marker).items()}
    if mode == "user":
        uid = pwd.getpwnam(TEST_USER).pw_uid
        for folder in (tmp, course):
            os.chmod(folder, 0o755)
        subprocess.run(["chown", "-R", f"{uid}:{uid}", str(course)], check=True)
    extra = ["--unsandboxed"] if mode == "unsandboxed" else []
    jobs_args = ["-j", str(jobs)] if jobs else []

    def relu_course(*args: str) -> subprocess.CompletedProcess[str]:
        label = args[0] if args[0] == "demo" else " ".join(args[:2])
        start = time.perf_counter()
        course_args = [] if args[0] == "demo" else ["--course", str(course)]
        done = subprocess.run(
            [*prefix, exe, *course_args, *args],
            env=env,
            cwd=course,
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
        run.seconds[label] = time.perf_counter() - start
        run.outputs[label] = done.stdout + done.stderr
        run.codes[label] = done.returncode
        return done

    if demo:
        folder = tmp / f"demo-{mode}"
        if mode == "user":
            folder.mkdir()
            shutil.chown(folder, TEST_USER, TEST_USER)
        relu_course("demo", str(folder), *jobs_args)
        state = folder / ".relu-course" / "state" / f"{PS1}.json"
        run.demo = json.loads(state.read_text()) if state.is_file() else {}
    for assignment in assignments:
        # the attacks' endless loop needs no minute: ps1's cells take milliseconds
        limit = ["--cell-timeout", "20"] if assignment == PS1 and run.marker else []
        relu_course(
            "grade", assignment, "--force", "--no-progress",
            *extra, *jobs_args, *limit,
        )  # fmt: skip
        state = course / ".relu-course" / "state" / f"{assignment}.json"
        run.results[assignment] = json.loads(state.read_text()) if state.is_file() else {}
    if run.marker:
        time.sleep(1.0)
        from test_attacks import marker_processes

        run.leftovers = marker_processes(f"sleep {run.marker}")
    relu_course("report", assignments[0])
    relu_course("export")
    return run


def summary(run: ModeRun) -> str:
    """The numbers of one mode, as printed by the tests and by hand."""
    lines = [f"mode {run.mode}:"]
    if run.demo:
        expected = json.loads((ROOT / "demo" / "expected.json").read_text())
        scores = {sid: sum(g["score"] or 0 for g in r["grades"]) for sid, r in run.demo.items()}
        ok = sum(abs(scores.get(s, -1) - e["score"]) < 1e-9 for s, e in expected.items())
        lines.append(
            f"  demo: {ok}/{len(expected)} scores as expected in {run.seconds['demo']:.0f} s: "
            + ", ".join(f"{s} {v:g}" for s, v in sorted(scores.items()))
        )
    for assignment, results in run.results.items():
        caught, wrong, kept, correct, _ = run.caught(assignment)
        took = run.seconds[f"grade {assignment}"]
        lines.append(
            f"  {assignment}: wrong caught {caught}/{wrong}, correct kept {kept}/{correct} "
            f"(reference answers included); "
            f"{len(results)} submissions in {took:.0f} s ({took / max(1, len(results)):.1f} s "
            "per submission)"
        )
    if run.earned:
        lines.append(
            f"  ps1 attacks: {len(run.earned)}, gaining points: {len(run.gained())}, "
            f"processes left: {len(run.leftovers)}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "root"
    chosen = tuple(sys.argv[2:]) or ASSIGNMENTS
    work = Path(tempfile.mkdtemp(prefix=f"relu-modes-{mode}-"))
    result = run_mode(mode, work, chosen)
    print(summary(result))
    print(f"(course folders under {work})")
