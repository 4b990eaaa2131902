"""One writer at a time: a course-wide lock for the commands that write.

``grade``, ``feedback``, ``collect``, ``export``, ``restore``, ``roster``, ``duedate``
and ``extend`` take :func:`course_lock` before they touch the course. The lock is an
OS file lock (:mod:`filelock`, ``fcntl.flock`` underneath) on
``.relu-course/lock``, so it is released by the kernel when its holder dies: a crash
never leaves a held lock. Next to it ``.relu-course/lock.json`` records who holds it
(pid, command, start time), so a second command can say which run it waits for; a record
left by a crashed run (its pid is gone, or the lock is free) is reported and replaced.
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .course import Course, CourseError

__all__ = ["course_lock", "holder", "LOCK_NAME"]

LOCK_NAME = "lock"


def _record_path(course: Course) -> Path:
    return course.state_dir / f"{LOCK_NAME}.json"


def holder(course: Course) -> dict[str, object] | None:
    """The record of the run that holds (or last held) the lock, if any."""
    try:
        return json.loads(_record_path(course).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _describe(rec: dict[str, object] | None) -> str:
    if not rec:
        return "another relu-course command"
    return (
        f"relu-course {rec.get('command', '?')} (pid {rec.get('pid', '?')}, "
        f"started {rec.get('started', '?')})"
    )


def _not_writable(course: Course, err: OSError) -> CourseError:
    return CourseError(
        f"cannot write in the course folder {course.root} ({os.strerror(err.errno or 0)}): "
        "nothing was changed; run relu-course as a user who can write there, or copy the "
        "course to a writable folder"
    )


@contextmanager
def course_lock(
    course: Course, command: str, *, wait: float = 0.0, note=print
) -> Iterator[dict[str, object]]:
    """Hold the course's writer lock for the ``with`` block.

    Waits up to ``wait`` seconds for a running command; then raises :class:`CourseError`
    naming it (pid, start time). A stale record of a crashed run is cleared (``note`` is
    told). Raises :class:`CourseError` when the course folder is not writable.
    """
    from filelock import FileLock, Timeout

    try:
        course.state_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(course.state_dir / LOCK_NAME))
        lock.acquire(timeout=wait)
    except Timeout:
        rec = holder(course)
        raise CourseError(
            f"{_describe(rec)} is working on this course: wait for it to finish, then run "
            f"relu-course {command} again (or pass --wait SECONDS)"
        ) from None
    except OSError as err:
        if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise _not_writable(course, err) from None
        raise
    try:
        old = holder(course)
        if old and old.get("pid") != os.getpid():
            pid = int(old.get("pid", 0) or 0)
            state = "its process is gone" if not _alive(pid) else "its lock was free"
            note(f"cleared a stale lock of {_describe(old)}: {state} (a crash?)")
        rec = {
            "pid": os.getpid(),
            "command": command,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        tmp = _record_path(course).with_suffix(".part")
        tmp.write_text(json.dumps(rec), encoding="utf-8")
        tmp.replace(_record_path(course))
        try:
            yield rec
        finally:
            _record_path(course).unlink(missing_ok=True)
    finally:
        lock.release()
