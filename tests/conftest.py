"""Shared fixtures and the rules that let the suite run in parallel (``make test``).

The strict book build
    ``built_site`` runs ``jupyter-book build . -W --keep-going`` (the command of ``make
    book``) and returns ``_build/html``; tests that need the exit code or the log (every
    warning, every failed cell) use ``book_build``. The build runs once per test run, even
    with pytest-xdist workers: as soon as a collection holds a test that needs it, one
    process starts it in the background (so it overlaps the other tests), and every
    fixture waits for its exit code. Its log and exit code sit in the run's folder
    (``$RELU_COURSE_TESTRUN_DIR``, removed at the end), not in ``_build`` (the leak test
    reads all of ``_build``). Execution is cached in ``_build/.jupyter_cache``, so a build with
    unchanged chapters takes seconds.

Parallel runs (``pytest -n N``, ``--dist loadfile`` from pyproject.toml)
    Each file runs on one worker, so its module-scoped fixtures (one nbgrader batch, one
    grading mode) run once. (``--dist loadgroup`` cannot split finer: pytest-xdist 3.8
    renames node ids through ``item._nodeid``, which pytest 9 no longer reads.) Files are
    ordered so that the long ones start first: files with a ``slow`` test that does not
    wait for the book, then the fast files, then the files that wait for the book build
    (marked ``book``: automatic for ``book_build``/``built_site`` users). Expensive
    results that several files need are made once per run in the run's folder: the book
    build, nbgrader's generated assignments (tests/nbgrader_harness.py) and the plain
    environment (tests/plain_env.py). Each worker keeps torch to one thread (the cores
    are shared by the workers), and the tests run at a lower priority (niceness 5) than
    the book build they overlap.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = ["jupyter-book", "build", ".", "-W", "--keep-going"]
BOOK_FIXTURES = frozenset({"book_build", "built_site"})
#: Doctests (by function name, wherever the function lives) whose examples train a model
#: for many seconds: marked ``slow`` so that ``make check`` stays fast. ``make test`` runs them.
SLOW_DOCTESTS = frozenset({"check_rescue", "deep_relu_accuracy"})
BUILD_TIMEOUT = 1800  # seconds, for the whole build
TEST_NICENESS = 5  # the tests' niceness once the build runs beside them
#: Names the folder this test run shares between its processes (the xdist controller
#: sets it before the workers start; they inherit it). tests/nbgrader_harness.py uses it.
RUN_DIR_VARIABLE = "RELU_COURSE_TESTRUN_DIR"
RUN_DIR = pytest.StashKey[Path]()


@dataclass(frozen=True)
class BookBuild:
    """Result of one strict build: exit code, combined stdout/stderr, seconds, HTML folder."""

    returncode: int
    log: str
    seconds: float
    html: Path

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


# ------------------------------------------------------------------ the book build


def run_dir() -> Path:
    """The folder shared by every process of this test run (made at its start)."""
    return Path(os.environ[RUN_DIR_VARIABLE])


def _paths() -> dict[str, Path]:
    return {k: run_dir() / f"book.{k}" for k in ("log", "rc", "pid", "started", "lock")}


def _start_book_build() -> None:
    """Start the strict build in the background unless this run has started it already."""
    paths = _paths()
    with FileLock(paths["lock"]):
        if paths["started"].exists():
            return
        bin_dir = Path(sys.executable).parent
        env = dict(os.environ)
        # jupyter-book starts kernels and the chapters import the package: the
        # interpreter's bin/ (the venv) must come first on PATH, as in the Makefile.
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("MPLBACKEND", "Agg")
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        jb = bin_dir / "jupyter-book"
        command = [str(jb) if jb.exists() else BUILD_COMMAND[0], *BUILD_COMMAND[1:]]
        # The shell writes the exit code when the build ends, whichever process waits.
        script = '"$@" > "$LOG" 2>&1; echo $? > "$RC.tmp"; mv "$RC.tmp" "$RC"'
        env.update(LOG=str(paths["log"]), RC=str(paths["rc"]))
        process = subprocess.Popen(
            ["sh", "-c", script, "sh", *command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        paths["pid"].write_text(str(process.pid))
        paths["started"].write_text(str(time.time()))


def _wait_for_book_build() -> BookBuild:
    _start_book_build()
    paths = _paths()
    started = float(paths["started"].read_text())
    while not paths["rc"].exists():
        if time.time() - started > BUILD_TIMEOUT:
            _stop_book_build()
            pytest.fail(f"the book build ran over {BUILD_TIMEOUT} s", pytrace=False)
        time.sleep(1)
    return BookBuild(
        returncode=int(paths["rc"].read_text()),
        log=paths["log"].read_text(encoding="utf8", errors="replace"),
        seconds=paths["rc"].stat().st_mtime - started,
        html=ROOT / "_build" / "html",
    )


def _stop_book_build() -> None:
    """Stop a build that still runs (the run was interrupted or timed out)."""
    paths = _paths()
    if paths["pid"].exists() and not paths["rc"].exists():
        try:
            os.killpg(int(paths["pid"].read_text()), signal.SIGTERM)
        except (ProcessLookupError, PermissionError, ValueError):
            pass


@pytest.fixture(scope="session")
def book_build() -> BookBuild:
    """The strict Jupyter Book build of this test run (slow the first time)."""
    return _wait_for_book_build()


@pytest.fixture(scope="session")
def built_site(book_build: BookBuild) -> Path:
    """``_build/html`` of a strict build that succeeded; fails the test with the log if not."""
    if book_build.returncode != 0:
        pytest.fail(
            f"`{' '.join(BUILD_COMMAND)}` exited with {book_build.returncode}; "
            f"last lines of its output:\n{book_build.tail()}",
            pytrace=False,
        )
    return book_build.html


# -------------------------------------------------------------- the parallel run


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        import torch

        torch.set_num_threads(1)
    else:  # the controller, or a run without xdist: before any worker starts
        folder = tempfile.mkdtemp(prefix="relu-course-testrun-")
        os.environ[RUN_DIR_VARIABLE] = folder
        config.stash[RUN_DIR] = Path(folder)


# first: -m reads the "slow" marks set here
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        if BOOK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.book)
        if isinstance(item, pytest.DoctestItem) and item.name.rsplit(".", 1)[-1] in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def rank(tests: list[pytest.Item]) -> int:
        slow = [t for t in tests if t.get_closest_marker("slow")]
        if any(t.get_closest_marker("book") is None for t in slow):
            return 0
        return 2 if slow else 1

    # stable: the order inside a file stays, so its module fixtures run once
    items[:] = [t for _, tests in sorted(files.items(), key=lambda f: rank(f[1])) for t in tests]


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly:
        return
    book = any(BOOK_FIXTURES & set(getattr(i, "fixturenames", ())) for i in session.items)
    if book:
        _start_book_build()
    if book or hasattr(session.config, "workerinput"):
        # The tests (and every process they start) yield the CPU to the book build, which
        # keeps this process's priority: its cells must stay far from their 120 s timeout
        # (_config.yml) while the workers keep the other core busy.
        os.nice(TEST_NICENESS)


def pytest_unconfigure(config: pytest.Config) -> None:
    if RUN_DIR in config.stash:  # the controller, or a run without xdist
        _stop_book_build()
        shutil.rmtree(config.stash[RUN_DIR], ignore_errors=True)
