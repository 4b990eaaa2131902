"""Shared fixtures: the strict book build, run once per test session.

``built_site`` runs ``jupyter-book build . -W --keep-going`` (the command of ``make book``)
the first time a test asks for it and returns ``_build/html``. Execution is cached in
``_build/.jupyter_cache``, so a build with unchanged chapters takes seconds. Tests that
need the exit code or the log (every warning, every failed cell) use ``book_build``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_COMMAND = ["jupyter-book", "build", ".", "-W", "--keep-going"]


@dataclass(frozen=True)
class BookBuild:
    """Result of one strict build: exit code, combined stdout/stderr, seconds, HTML folder."""

    returncode: int
    log: str
    seconds: float
    html: Path

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.splitlines()[-lines:])


@pytest.fixture(scope="session")
def book_build() -> BookBuild:
    """Run the strict Jupyter Book build once per session (slow the first time)."""
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ)
    # jupyter-book starts kernels and nbgrader-free chapters import the package: the
    # interpreter's bin/ (the venv) must come first on PATH, as in the Makefile.
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    jb = bin_dir / "jupyter-book"
    command = [str(jb) if jb.exists() else BUILD_COMMAND[0], *BUILD_COMMAND[1:]]
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False
    )
    return BookBuild(
        returncode=done.returncode,
        log=done.stdout + "\n" + done.stderr,
        seconds=time.perf_counter() - start,
        html=ROOT / "_build" / "html",
    )


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
