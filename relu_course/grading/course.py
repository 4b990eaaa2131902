"""Where a course lives on disk, and how to call nbgrader for it.

A course is a folder with an ``nbgrader_config.py`` (the repository root is one). Its
nbgrader folders follow that config: ``solutions/`` (nbgrader's source), ``exercises/``
(release), ``submitted/``, ``autograded/``, ``feedback/`` and ``gradebook.db``.
relu-course keeps its own bookkeeping (grading state, logs, reports) in ``.relu-course/``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Course",
    "CourseError",
    "find_course",
    "file_sha256",
    "nbgrader_env",
    "run_nbgrader",
]

STATE_DIR = ".relu-course"
_ASSIGNMENT_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


class CourseError(RuntimeError):
    """A problem the instructor can fix; the message says what to do."""


@dataclass(frozen=True)
class Course:
    """An nbgrader course folder.

    Parameters
    ----------
    root : Path
        The folder holding ``nbgrader_config.py``.
    source_directory, release_directory : str
        nbgrader's ``source`` and ``release`` folder names (``solutions``/``exercises``
        in this repository).

    Examples
    --------
    >>> c = Course(Path("/tmp/course"))
    >>> c.submitted_notebook("ps1", "jdoe").as_posix()
    '/tmp/course/submitted/jdoe/ps1/ps1.ipynb'
    """

    root: Path
    source_directory: str = "solutions"
    release_directory: str = "exercises"

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.gradebook}"

    def source_notebook(self, assignment: str) -> Path:
        return self.root / self.source_directory / assignment / f"{assignment}.ipynb"

    def release_notebook(self, assignment: str) -> Path:
        return self.root / self.release_directory / assignment / f"{assignment}.ipynb"

    def submitted_notebook(self, assignment: str, student: str) -> Path:
        return self.root / "submitted" / student / assignment / f"{assignment}.ipynb"

    def autograded_notebook(self, assignment: str, student: str) -> Path:
        return self.root / "autograded" / student / assignment / f"{assignment}.ipynb"

    def feedback_dir(self, assignment: str, student: str) -> Path:
        return self.root / "feedback" / student / assignment

    def assignments(self) -> list[str]:
        """Assignment ids that have a source notebook, sorted."""
        src = self.root / self.source_directory
        if not src.is_dir():
            return []
        return sorted(p.name for p in src.iterdir() if (p / f"{p.name}.ipynb").is_file())

    def students(self, assignment: str) -> list[str]:
        """Students with a submitted notebook for ``assignment``, sorted."""
        sub = self.root / "submitted"
        if not sub.is_dir():
            return []
        return sorted(
            p.name for p in sub.iterdir() if self.submitted_notebook(assignment, p.name).is_file()
        )

    def check_assignment(self, assignment: str) -> None:
        """Raise :class:`CourseError` unless ``assignment`` has a source notebook."""
        if not _ASSIGNMENT_RE.match(assignment) or not self.source_notebook(assignment).is_file():
            known = ", ".join(self.assignments()) or "none"
            raise CourseError(
                f"unknown assignment {assignment!r}: there is no "
                f"{self.source_directory}/{assignment}/{assignment}.ipynb under {self.root}. "
                f"Known assignments: {known}."
            )


def _read_dir_setting(config: str, name: str, default: str) -> str:
    match = re.search(rf"CourseDirectory\.{name}\s*=\s*['\"]([^'\"]+)['\"]", config)
    return match.group(1) if match else default


def find_course(start: str | os.PathLike[str] | None = None) -> Course:
    """Find the course folder: ``start`` (default: the current folder) or a parent of it
    that holds ``nbgrader_config.py``.

    Raises
    ------
    CourseError
        If no folder up the tree has an ``nbgrader_config.py``.
    """
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        config = folder / "nbgrader_config.py"
        if config.is_file():
            text = config.read_text(encoding="utf-8")
            return Course(
                folder,
                _read_dir_setting(text, "source_directory", "source"),
                _read_dir_setting(text, "release_directory", "release"),
            )
    raise CourseError(
        f"no nbgrader course found at or above {here}: run relu-course inside the course "
        "folder (the one with nbgrader_config.py) or pass --course PATH"
    )


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(Path(f.name))[:12]
    'ba7816bf8f01'
    """
    return hashlib.sha256(path.read_bytes()).hexdigest()


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader subprocesses: this Python's bin/ first on PATH
    (nbgrader calls the ``alembic`` executable), no progress bars, Agg plots."""
    env = dict(os.environ)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("RELU_COURSE_PROGRESS", "0")
    env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    return env


def run_nbgrader(
    args: list[str], cwd: Path, *, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGS`` in ``cwd`` and return the finished process (never raises on a
    non-zero exit: callers read ``returncode`` and ``stderr``)."""
    exe = shutil.which("nbgrader", path=nbgrader_env()["PATH"])
    cmd = [exe] if exe else [sys.executable, "-m", "nbgrader"]
    return subprocess.run(
        [*cmd, *args],
        cwd=cwd,
        env=nbgrader_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
