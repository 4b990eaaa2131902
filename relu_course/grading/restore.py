"""``relu-course restore``: list the gradebook backups and put one back, safely.

Every write to ``gradebook.db`` first copies it to ``.relu-course/backups/``. Restoring
checks that the chosen backup is a sound nbgrader gradebook, saves the current database
(a damaged one byte for byte, as ``gradebook-damaged-<time>.db``), then replaces it in one
``os.replace``. What was graded is read from the database itself, so the next plain
``relu-course grade`` regrades exactly the submissions that differ from the backup.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from .course import Course, CourseError
from .gradebook import backup, sqlite_copy

__all__ = ["Backup", "list_backups", "restore"]


@dataclass
class Backup:
    path: Path
    when: str
    size: int
    submissions: int | None  # None: not a readable gradebook

    def line(self, index: int) -> str:
        subs = "unreadable" if self.submissions is None else f"{self.submissions} submission(s)"
        return f"{index:3d}  {self.path.name}  {self.when}  {self.size // 1024} KiB  {subs}"


def _submissions(path: Path) -> int | None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return None
            n = db.execute("SELECT count(*) FROM submitted_assignment").fetchone()[0]
        db.close()
    except sqlite3.DatabaseError:
        return None
    return int(n)


def list_backups(course: Course) -> list[Backup]:
    """The backups, oldest first."""
    folder = course.state_dir / "backups"
    found = []
    for path in sorted(folder.glob("gradebook-*.db")) if folder.is_dir() else []:
        stat = path.stat()
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stat.st_mtime))
        found.append(Backup(path, when, stat.st_size, _submissions(path)))
    return found


def _pick(course: Course, which: str) -> Path:
    backups = list_backups(course)
    if which.isdigit() and 1 <= int(which) <= len(backups):
        return backups[int(which) - 1].path
    path = Path(which)
    for cand in (path, course.state_dir / "backups" / path.name):
        if cand.is_file():
            return cand
    raise CourseError(
        f"no backup {which!r}: run relu-course restore (no argument) to list them, then give "
        "its number or file name"
    )


def restore(course: Course, which: str) -> tuple[Path, Path | None]:
    """Put backup ``which`` (its number in :func:`list_backups`, name or path) in place of
    ``gradebook.db``; returns (restored backup, copy of the database it replaced)."""
    chosen = _pick(course, which)
    if _submissions(chosen) is None:
        raise CourseError(
            f"{chosen.name} is not a readable nbgrader gradebook: nothing was changed; "
            "pick another backup (relu-course restore lists them)"
        )
    saved: Path | None = None
    work = course.gradebook.with_name("gradebook.db.restoring")
    sqlite_copy(chosen, work)  # first: saving the current one may prune old backups
    if course.gradebook.exists():
        if _submissions(course.gradebook) is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            saved = course.state_dir / "backups" / f"gradebook-damaged-{stamp}.db"
            shutil.copy2(course.gradebook, saved)
        else:
            saved = backup(course)
    try:
        work.replace(course.gradebook)
    finally:
        work.unlink(missing_ok=True)
    return chosen, saved
