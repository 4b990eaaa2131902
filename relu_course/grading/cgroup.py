"""The cgroup of one sandbox: the memory and the number of all its processes, capped.

Per-process rlimits cannot stop many processes of 4 GiB each from exhausting the host; a
cgroup caps them together. :class:`SandboxCgroup` makes one (cgroup v2 where this
process's cgroup can hand the controllers down, else cgroup v1), and
:func:`relu_course.grading.isolation.sandbox_command` makes the sandbox enter it before
anything untrusted runs. Without root or a writable cgroup file system it logs why and
only the rlimits apply.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from relu_course.grading.limits import Limits

__all__ = ["CGROUP_ROOT", "SandboxCgroup", "sandbox_cgroup"]

log = logging.getLogger(__name__)


#: Where the cgroup file systems are mounted: cgroup v2 at ``CGROUP_ROOT`` itself or at
#: ``CGROUP_ROOT/unified`` (hybrid layout), cgroup v1 controllers at
#: ``CGROUP_ROOT/<controller>``.
CGROUP_ROOT = Path("/sys/fs/cgroup")

_CGROUP_WARNED: set[str] = set()


def _warn_no_cgroup(why: str) -> None:
    """Log (a warning the first time for each reason) that only rlimits cap the sandbox."""
    level = logging.DEBUG if why in _CGROUP_WARNED else logging.WARNING
    _CGROUP_WARNED.add(why)
    log.log(
        level,
        "no cgroup cap for the sandbox (%s): memory and processes are capped per process "
        "only (rlimits), not for the sandbox as a whole",
        why,
    )


def _own_cgroup_paths() -> dict[str, str]:
    """This process's cgroup for each v1 controller, and under ``""`` its cgroup v2 path."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            paths[controller] = path
    return paths


def _v2_parent(own: dict[str, str], wanted: set[str]) -> tuple[Path, set[str]]:
    """This process's cgroup v2 folder and which ``wanted`` controllers its children get.

    A controller the folder does not yet hand down is switched on in its
    ``cgroup.subtree_control``; the kernel refuses that (EBUSY) in a cgroup that holds
    processes, which is the usual case unless it is the root, and then cgroup v1 is tried.
    """
    mounts = (CGROUP_ROOT, CGROUP_ROOT / "unified")
    mount = next((m for m in mounts if (m / "cgroup.controllers").is_file()), None)
    if mount is None or "" not in own:
        return CGROUP_ROOT, set()
    parent = mount / own[""].lstrip("/")
    try:
        available = set((parent / "cgroup.controllers").read_text().split())
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
    except OSError:
        return parent, set()
    usable = wanted & available & enabled
    for controller in sorted(wanted & available - enabled):
        try:
            (parent / "cgroup.subtree_control").write_text(f"+{controller}")
        except OSError:
            continue
        usable.add(controller)
    return parent, usable


def _cgroup_folder(
    controller: str, name: str, own: dict[str, str], v2: tuple[Path, set[str]]
) -> tuple[Path, int] | None:
    """Where the sandbox cgroup ``name`` for ``controller`` goes, and its cgroup version."""
    parent, usable = v2
    v1 = CGROUP_ROOT / controller
    if controller in usable:
        return parent / name, 2
    if controller in own and (v1 / "cgroup.procs").is_file():
        return v1 / own[controller].lstrip("/") / name, 1
    return None


def _write_cap(folder: Path, controller: str, version: int, cap: int) -> None:
    """Write the cap of ``controller`` into its cgroup ``folder``."""
    if controller == "pids":
        required, optional = [("pids.max", cap)], []
    elif version == 2:  # memory.max is RAM only: no swap keeps RAM + swap under the cap
        required, optional = [("memory.max", cap)], [("memory.swap.max", 0)]
    else:  # memsw (RAM + swap) may not be below limit_in_bytes: written after it
        required = [("memory.limit_in_bytes", cap)]
        optional = [("memory.memsw.limit_in_bytes", cap)]
    for name, value in required + optional:
        path = folder / name
        if path.is_file():
            path.write_text(str(value))
        elif (name, value) in required:
            raise FileNotFoundError(f"{path} is missing")


def _kill_tasks(folder: Path, deadline: float) -> None:
    """SIGKILL every process left in the cgroup ``folder`` until it is empty."""
    while time.monotonic() < deadline:
        try:
            pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return
        if not pids:
            return
        if (folder / "cgroup.kill").is_file():  # cgroup v2, Linux >= 5.14: all at once
            with contextlib.suppress(OSError):
                (folder / "cgroup.kill").write_text("1")
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


@dataclass(frozen=True)
class SandboxCgroup:
    """The cgroup of one sandbox: the memory and the number of all its processes, capped.

    ``folders`` maps each capped controller (``"memory"``, ``"pids"``) to its cgroup
    folder: one folder for both under cgroup v2, one per controller under cgroup v1.
    Each is a new child of this process's own cgroup (``/proc/self/cgroup``), so any cap
    the grader itself runs under still holds over all its sandboxes together.

    :meth:`create` makes the folders (or logs why it cannot and returns ``None``);
    :func:`~relu_course.grading.isolation.sandbox_command` (``cgroups=``) makes the
    sandbox enter them before anything untrusted runs; :meth:`remove` kills what is left
    in them and deletes them.

    Examples
    --------
    >>> SandboxCgroup.create(Limits(sandbox_memory_bytes=0, sandbox_tasks=0)) is None
    True
    """

    folders: dict[str, Path]
    versions: dict[str, int]

    @property
    def dirs(self) -> list[Path]:
        """The cgroup folders, each once (the ``cgroups`` of ``sandbox_command``)."""
        return list(dict.fromkeys(self.folders.values()))

    def describe(self) -> str:
        """Which cgroup version caps which controller, e.g. ``memory: v1 /sys/fs/...``."""
        return ", ".join(f"{c}: v{self.versions[c]} {f}" for c, f in self.folders.items())

    @classmethod
    def create(cls, limits: Limits) -> SandboxCgroup | None:
        """New cgroup folder(s) capped at ``limits.sandbox_memory_bytes``/``sandbox_tasks``.

        cgroup v2 when this process's v2 cgroup can hand the controller down to a child,
        else cgroup v1 (``memory.limit_in_bytes`` and ``memory.memsw.limit_in_bytes``,
        ``pids.max``). ``None``, with a log warning, when no cap can be set (not Linux,
        not root, read-only ``/sys``, no such controller); caps of ``0`` are not set.
        """
        caps = {"memory": limits.sandbox_memory_bytes, "pids": limits.sandbox_tasks}
        caps = {controller: cap for controller, cap in caps.items() if cap > 0}
        if not caps:
            return None
        if not sys.platform.startswith("linux"):
            _warn_no_cgroup(f"cgroups are Linux-only, this is {sys.platform}")
            return None
        name = f"relu-sandbox-{secrets.token_hex(6)}"
        folders: dict[str, Path] = {}
        versions: dict[str, int] = {}
        made: list[Path] = []
        try:
            own = _own_cgroup_paths()
            v2 = _v2_parent(own, set(caps))
            for controller, cap in caps.items():
                if (where := _cgroup_folder(controller, name, own, v2)) is None:
                    continue
                folder, version = where
                if folder not in made:  # cgroup v2: one folder for both controllers
                    folder.mkdir()
                    made.append(folder)
                    if not (folder / "cgroup.procs").is_file():
                        raise OSError(f"{folder.parent} is not a cgroup file system")
                _write_cap(folder, controller, version, cap)
                folders[controller], versions[controller] = folder, version
        except (OSError, ValueError) as exc:
            for folder in reversed(made):
                _rmdir_quietly(folder)
            _warn_no_cgroup(f"{type(exc).__name__}: {exc}".replace(name, "relu-sandbox-*"))
            return None
        if missing := sorted(set(caps) - set(folders)):
            _warn_no_cgroup(
                f"no {'/'.join(missing)} cgroup this process may create children in, under "
                f"{CGROUP_ROOT} (needs root or a delegated cgroup)"
            )
        if not folders:
            return None
        cgroup = cls(folders, versions)
        log.debug("sandbox cgroup %s", cgroup.describe())
        return cgroup

    def oom_kills(self) -> int:
        """How many processes the kernel killed for going over the memory cap."""
        folder = self.folders.get("memory")
        for name in ("memory.events", "memory.oom_control"):  # v2, v1 (Linux >= 4.13)
            try:
                lines = (folder / name).read_text().splitlines() if folder else []
            except OSError:
                continue
            for line in lines:
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def remove(self, timeout: float = 5.0) -> None:
        """Log the processes the memory cap killed, if any; kill every process still in the
        cgroup(s), then delete the folders.

        Safe to call more than once; logs a warning when a folder cannot be removed.
        """
        if kills := self.oom_kills():
            log.warning("the sandbox went over its memory cap: %d process(es) killed", kills)
        self._remove(timeout)

    def _remove(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for folder in self.dirs:
            while folder.exists():
                _kill_tasks(folder, deadline)
                try:
                    folder.rmdir()
                except FileNotFoundError:
                    break
                except OSError as exc:  # EBUSY: a task is still exiting
                    if time.monotonic() > deadline:
                        log.warning("could not remove the sandbox cgroup %s: %s", folder, exc)
                        break
                    time.sleep(0.01)


def _rmdir_quietly(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()


def sandbox_cgroup(limits: Limits) -> SandboxCgroup | None:
    """As root, a new :class:`SandboxCgroup` for one sandbox (``None``, with a log warning,
    where none can be made); as any other user ``None``: only root may move the sandbox
    into a cgroup (``relu_course.grading.isolation`` says so once in the log)."""
    if not (hasattr(os, "geteuid") and os.geteuid() == 0):
        return None
    return SandboxCgroup.create(limits)
