"""The two trusted steps that run just before a sandboxed command, as a stdlib-only script.

:func:`relu_course.grading.isolation.sandbox_command` starts this file by its path with
``python -I -S`` (no site-packages, no user paths, nothing imported from the package), and
it ``exec``s the real command when its step is done:

``launch.py join CGROUP... -- COMMAND...``
    Run as the grader, before bubblewrap: move this process into the sandbox's cgroups.
    Nothing untrusted has run yet, and every process the sandbox starts inherits them. A
    failed write ends it with an error: no sandbox runs outside its cap.
``launch.py limit LIMITS-JSON -- COMMAND...``
    Run inside the sandbox, as the sandbox user: apply the resource limits (a JSON object
    of ``RLIMIT_*`` names to values; a name this platform lacks is skipped). Portable: no
    util-linux ``prlimit`` is needed.

>>> _split(["join", "/a", "/b", "--", "python", "-c", "pass"])
('join', ['/a', '/b'], ['python', '-c', 'pass'])
"""

from __future__ import annotations

import json
import os
import resource
import sys


def _split(argv: list[str]) -> tuple[str, list[str], list[str]]:
    """``(step, its arguments, the command to exec)`` from this script's argv."""
    if not argv or "--" not in argv:
        raise SystemExit("usage: launch.py {join CGROUP...|limit LIMITS-JSON} -- COMMAND...")
    i = argv.index("--")
    if i + 1 >= len(argv):
        raise SystemExit("launch.py: no command after --")
    return argv[0], argv[1:i], argv[i + 1 :]


def join_cgroups(folders: list[str]) -> None:
    """Write this process's pid into each cgroup folder's ``cgroup.procs``."""
    for folder in folders:
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))


def apply_limits(limits: dict[str, int]) -> None:
    """Set each ``RLIMIT_*`` (soft = hard) that this platform knows and accepts."""
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass


def main(argv: list[str]) -> None:
    step, args, command = _split(argv)
    if step == "join":
        join_cgroups(args)
    elif step == "limit" and len(args) == 1:
        apply_limits(json.loads(args[0]))
    else:
        raise SystemExit(f"launch.py: unknown step {step!r} with {len(args)} argument(s)")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
