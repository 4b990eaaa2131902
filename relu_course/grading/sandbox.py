"""Run untrusted student code in a sandbox: bubblewrap on Linux, resource limits elsewhere.

The sandbox a kernel (or any command) gets, with bubblewrap (``bwrap``) as root (any
other user gets the same namespaces and file system through a user namespace, but keeps
its own uid and has no cgroup: :func:`isolation` and ``relu-course doctor`` say which
protections a machine gives):

* a private root file system that shows only the system folders (``/usr``, ``/etc``,
  ...), the Python installation and virtual environment (read-only), the
  ``relu_course`` package (read-only) and the submission's own **scratch** folder
  (read-write, a throw-away copy); the course folder (``solutions/``, ``gradebook.db``,
  ``submitted/``, ...), the instructor's home and the real ``/tmp`` are not there at all;
* no network (``--unshare-net``), its own PID, IPC and UTS namespaces, a fresh session;
* an unprivileged random user id with no capabilities, so ``RLIMIT_NPROC`` applies
  (root is exempt from it) and no file outside the scratch folder can be written;
* resource limits (:class:`Limits`): address space (memory) 4 GiB, CPU time, number of
  processes, file size, open files; a wall-time cap (``timeout -s KILL``);
* where cgroups can be written (Linux, root): a cgroup of its own for the whole sandbox
  (:class:`SandboxCgroup`) that caps the memory of all its processes together (6 GiB)
  and their number (128), so that many processes of 4 GiB each cannot exhaust the host;
  where they cannot, a log warning says so and only the per-process limits apply;
* every process it started is killed when it ends: when the main process exits, the
  PID namespace's init exits and the kernel kills everything left in the namespace
  (``--die-with-parent`` covers a killed grader);
* the CPU only: ``CUDA_VISIBLE_DEVICES=""`` and ``RELU_COURSE_DEVICE=cpu``, and a clean
  environment (no instructor variables, tokens or paths leak in).

Without a working bubblewrap (macOS, Windows, a container without user namespaces)
:func:`sandbox_command` falls back to the resource limits only and warns loudly
(:class:`SandboxWarning`): files and network are then NOT protected.

:class:`SandboxKernelManager` is a Jupyter kernel manager that starts every kernel this
way (transport ``ipc``: the client talks to the kernel through socket files in a folder
bound into the sandbox). :func:`configure_nbgrader` puts it into an nbgrader
configuration, so that ``nbgrader autograde`` executes notebooks in the sandbox.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode, default

__all__ = [
    "CGROUP_ROOT",
    "DEFAULT_LIMITS",
    "INSTALL_HINT",
    "Isolation",
    "Limits",
    "SandboxCgroup",
    "SandboxKernelManager",
    "SandboxWarning",
    "SandboxedExecute",
    "bwrap_available",
    "configure_nbgrader",
    "copy_ignore",
    "isolation",
    "prepare_folder",
    "run_sandboxed",
    "sandbox_mode",
    "sandbox_command",
]

log = logging.getLogger(__name__)

GIB = 2**30


class SandboxWarning(RuntimeWarning):
    """Student code runs without file-system and network isolation."""


@dataclass(frozen=True)
class Limits:
    """Resource caps for one sandboxed process tree.

    ``memory_bytes`` is ``RLIMIT_AS`` (address space, per process); ``cpu_seconds`` is
    ``RLIMIT_CPU`` (per process); ``wall_seconds`` kills the whole sandbox; ``nproc`` caps
    processes and threads of the sandbox's user; ``file_bytes`` caps one written file.
    ``sandbox_memory_bytes`` (memory actually used, RAM and swap) and ``sandbox_tasks``
    (processes and threads) cap the whole sandbox together, through its cgroup
    (:class:`SandboxCgroup`), where cgroups can be written; ``0`` switches a cap off.

    Examples
    --------
    >>> Limits().memory_bytes == 4 * 2**30, Limits().sandbox_memory_bytes == 6 * 2**30
    (True, True)
    >>> Limits(wall_seconds=30).wall_seconds
    30
    """

    memory_bytes: int = 4 * GIB
    cpu_seconds: int = 600
    wall_seconds: int = 1800
    nproc: int = 64
    file_bytes: int = 256 * 2**20
    open_files: int = 1024
    sandbox_memory_bytes: int = 6 * GIB
    sandbox_tasks: int = 128

    def rlimits(self) -> dict[str, int]:
        """``resource`` module limit names and values."""
        return {
            "RLIMIT_AS": self.memory_bytes,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_NPROC": self.nproc,
            "RLIMIT_FSIZE": self.file_bytes,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CORE": 0,
        }


DEFAULT_LIMITS = Limits()

# Applied by a tiny trusted Python program that then execs the real command (portable:
# no util-linux prlimit needed). argv: limits-json, "--", command...
_LIMITER = (
    "import json,os,resource,sys\n"
    "for k,v in json.loads(sys.argv[1]).items():\n"
    "    r=getattr(resource,k,None)\n"
    "    if r is not None:\n"
    "        try: resource.setrlimit(r,(v,v))\n"
    "        except (ValueError,OSError): pass\n"
    "os.execvp(sys.argv[3],sys.argv[3:])\n"
)

# Moves itself into the sandbox's cgroups, then execs the sandbox (run as root, before
# bwrap: nothing untrusted has run yet, and every process the sandbox starts inherits
# the cgroups). A failed write ends it with an error: no sandbox runs outside its cap.
# argv: cgroup folders..., "--", command...
_JOIN_CGROUPS = (
    "import os,sys\n"
    "i=sys.argv.index('--')\n"
    "for d in sys.argv[1:i]:\n"
    "    with open(os.path.join(d,'cgroup.procs'),'w') as f: f.write(str(os.getpid()))\n"
    "os.execvp(sys.argv[i+1],sys.argv[i+1:])\n"
)

# Environment variables passed from the grader into the sandbox (everything else is cleared).
_PASS_ENV = ("NBGRADER_EXECUTION", "RELU_COURSE_PROGRESS", "LANG", "LC_ALL", "TZ", "MPLBACKEND")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


_PROBED: dict[tuple[str, bool], str] = {}


def _probe_bwrap() -> str:
    """``""`` when bubblewrap can build the sandbox here, else why not (cached per PATH)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap is Linux-only, this is {sys.platform}"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed or not on PATH"
    if _is_root() and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not on PATH"
    key = (bwrap, _is_root())
    if key not in _PROBED:
        cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
        cmd += [] if _is_root() else ["--unshare-user"]
        for d in _SYSTEM_DIRS:
            if Path(d).is_symlink():
                cmd += ["--symlink", os.readlink(d), d]
            elif Path(d).exists():
                cmd += ["--ro-bind", d, d]
        cmd += ["--proc", "/proc", "--dev", "/dev", "--", "true"]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
            tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
            _PROBED[key] = "" if done.returncode == 0 else f"bwrap failed: {' '.join(tail)}"
        except (OSError, subprocess.SubprocessError) as err:
            _PROBED[key] = f"bwrap failed: {err}"
    return _PROBED[key]


def bwrap_available() -> bool:
    """True when bubblewrap can build the sandbox here: Linux, ``bwrap`` found and working
    (as root, or as any user where the kernel allows unprivileged user namespaces).

    Examples
    --------
    >>> isinstance(bwrap_available(), bool)
    True
    """
    return not _probe_bwrap()


#: What to do on a machine without a working bubblewrap (one line, shown by the CLI).
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf "
    "install bubblewrap) and allow user namespaces, or pass --unsandboxed to grade with "
    "resource limits only"
)


@dataclass(frozen=True)
class Isolation:
    """Which protections the sandbox gives on this machine (see :func:`isolation`).

    ``mode`` is ``"bubblewrap"`` (as root: namespaces, random uid, cgroup caps where
    writable), ``"bubblewrap-user"`` (any other user: namespaces, read-only course, no
    network; no random uid, no cgroup) or ``"unsandboxed"`` (resource limits only).
    """

    mode: str
    why_not: str
    namespaces: bool
    network_blocked: bool
    course_hidden: bool
    random_uid: bool
    rlimits: bool
    cgroup_caps: bool

    @property
    def isolated(self) -> bool:
        return self.mode != "unsandboxed"

    def lines(self) -> list[str]:
        """One ``yes``/``no`` line per protection (what ``relu-course doctor`` prints)."""

        def yn(flag: bool) -> str:
            return "yes" if flag else "no "

        return [
            f"{yn(self.namespaces)}  own PID/IPC/UTS/mount namespaces (bubblewrap)",
            f"{yn(self.network_blocked)}  no network for student code",
            f"{yn(self.course_hidden)}  course folder hidden, system read-only, writes only "
            "to a scratch copy",
            f"{yn(self.random_uid)}  a random unprivileged uid per sandbox (root only)",
            f"{yn(self.rlimits)}  per-process memory, CPU, process, file-size caps (rlimits)",
            f"{yn(self.cgroup_caps)}  memory and process caps for the whole sandbox (cgroup, "
            "root only)",
        ]


def isolation(limits: Limits | None = None) -> Isolation:
    """Probe this machine: the best sandbox it gives and each protection in it.

    Examples
    --------
    >>> isolation().mode in ("bubblewrap", "bubblewrap-user", "unsandboxed")
    True
    """
    why = _probe_bwrap()
    root = _is_root()
    cgroup = SandboxCgroup.create(limits or DEFAULT_LIMITS) if root else None
    if cgroup is not None:
        cgroup.remove()
    ok = not why
    return Isolation(
        mode=("bubblewrap" if root else "bubblewrap-user") if ok else "unsandboxed",
        why_not=why,
        namespaces=ok,
        network_blocked=ok,
        course_hidden=ok,
        random_uid=ok and root,
        rlimits=os.name == "posix",
        cgroup_caps=cgroup is not None,
    )


def sandbox_mode(isolate: bool | None = None) -> str:
    """How student code runs with ``isolate`` (``None``: the best this machine gives):
    ``"bubblewrap"`` (root), ``"bubblewrap-user"`` (any other user) or ``"unsandboxed"``.

    Examples
    --------
    >>> sandbox_mode(False)
    'unsandboxed'
    """
    if isolate is False or _probe_bwrap():
        return "unsandboxed"
    return "bubblewrap" if _is_root() else "bubblewrap-user"


def _warn_unsandboxed(why: str) -> None:
    message = (
        f"STUDENT CODE RUNS WITHOUT A SANDBOX ({why}): only resource limits apply; it can "
        "read solutions/, hidden tests and other students' files, write to the course "
        "folder and use the network. Grade on Linux with bubblewrap installed "
        "(apt-get install bubblewrap), or inside a disposable container/VM."
    )
    log.warning(message)
    warnings.warn(message, SandboxWarning, stacklevel=3)


_LOGGED_NOT_ROOT: list[bool] = []


def _log_not_root() -> None:
    """Say once per process which root-only protections a non-root sandbox goes without."""
    if not _LOGGED_NOT_ROOT:
        _LOGGED_NOT_ROOT.append(True)
        log.warning(
            "sandbox as uid %d (not root): bubblewrap with a user namespace; no random "
            "sandbox uid and no cgroup cap (per-process rlimits still apply)",
            os.geteuid(),
        )


# ----------------------------------------------------------------------------- cgroups

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
    :func:`sandbox_command` (``cgroups=``) makes the sandbox enter them before anything
    untrusted runs; :meth:`remove` kills what is left in them and deletes them.

    Examples
    --------
    >>> SandboxCgroup.create(Limits(sandbox_memory_bytes=0, sandbox_tasks=0)) is None
    True
    """

    folders: dict[str, Path]
    versions: dict[str, int]

    @property
    def dirs(self) -> list[Path]:
        """The cgroup folders, each once (the ``cgroups`` of :func:`sandbox_command`)."""
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
        """Kill every process still in the cgroup(s), then delete the folders.

        Safe to call more than once; logs a warning when a folder cannot be removed.
        """
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


# ----------------------------------------------------------------------------- commands


def _python_roots() -> list[Path]:
    """Folders the interpreter, the venv and the relu_course package live in."""
    import relu_course

    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.prefix)}
    package = Path(relu_course.__file__).resolve().parent
    if not any(package.is_relative_to(r) for r in roots):
        roots.add(package)
    executable = Path(sys.executable)
    if not any(executable.is_relative_to(r) for r in roots):
        roots.add(executable.resolve().parent)
    return sorted(roots)


def copy_ignore() -> list[str]:
    """What the kernel's scratch copy of the assignment folder leaves out: nbgrader's own
    ignore list (``CourseDirectory.ignore``), which has ``.ipynb_checkpoints``. Dot-files
    such as ``.settings.json`` are copied, as nbgrader copies them.

    Examples
    --------
    >>> ".ipynb_checkpoints" in copy_ignore(), ".*" in copy_ignore()
    (True, False)
    """
    from nbgrader.coursedir import CourseDirectory

    return list(CourseDirectory.class_traits()["ignore"].default())


_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def _dirs_to_create(paths: Iterable[Path], existing: set[Path]) -> list[Path]:
    """Parents of bind targets, outermost first, that bwrap must create with mode 0755."""
    out: list[Path] = []
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in existing and parent not in out:
                out.append(parent)
    return out


def sandbox_command(
    argv: Sequence[str],
    *,
    scratch: Path,
    limits: Limits = DEFAULT_LIMITS,
    rw_paths: Sequence[Path] = (),
    ro_paths: Sequence[Path] = (),
    uid: int | None = None,
    env: dict[str, str] | None = None,
    isolate: bool | None = None,
    cgroups: Sequence[Path] = (),
) -> list[str]:
    """The command line that runs ``argv`` sandboxed, with ``scratch`` as home and cwd.

    ``rw_paths`` (e.g. a kernel's socket folder) and ``scratch`` are the only writable
    places; ``ro_paths`` are shown read-only in addition to the system folders, Python and
    ``relu_course``. ``uid`` is the unprivileged user (random when ``None``; chown the
    writable folders to it first: :func:`prepare_folder`). ``isolate=None`` uses
    bubblewrap when :func:`bwrap_available`; without it only ``limits`` apply and a
    :class:`SandboxWarning` is issued. ``cgroups`` are cgroup folders (made by
    :meth:`SandboxCgroup.create`, see :attr:`SandboxCgroup.dirs`) that the sandbox enters
    before anything in it runs; writing their ``cgroup.procs`` needs root.

    Examples
    --------
    >>> cmd = sandbox_command(["python", "-c", "pass"], scratch=Path("/tmp/s"), uid=123456,
    ...                       isolate=True)
    >>> cmd[0].endswith("timeout"), "--unshare-net" in cmd, cmd[-3:]
    (True, True, ['python', '-c', 'pass'])
    >>> cg = Path("/sys/fs/cgroup/pids/relu-sandbox-1")
    >>> cmd = sandbox_command(["python"], scratch=Path("/tmp/s"), uid=1, isolate=True,
    ...                       cgroups=[cg])
    >>> cmd.index(str(cg)) < cmd.index("--unshare-net")
    True
    """
    scratch = Path(scratch)
    isolate = bwrap_available() if isolate is None else isolate
    root = _is_root()
    environment = {
        "HOME": str(scratch),
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "MPLCONFIGDIR": str(scratch / ".config" / "matplotlib"),
        "IPYTHONDIR": str(scratch / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(scratch / ".jupyter"),
        "XDG_CACHE_HOME": str(scratch / ".cache"),
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "CUDA_VISIBLE_DEVICES": "",
        "RELU_COURSE_DEVICE": "cpu",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": "1",
    }
    environment |= {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
    environment |= env or {}
    rlimits = limits.rlimits()
    if not root:  # RLIMIT_NPROC counts every task of the uid: this sandbox gets nproc more
        if Path("/proc/self/status").is_file():
            rlimits["RLIMIT_NPROC"] = _uid_tasks() + limits.nproc
        else:  # no way to count them (macOS): a per-user cap would stop the grader itself
            del rlimits["RLIMIT_NPROC"]
    limiter = [sys.executable, "-I", "-S", "-c", _LIMITER, json.dumps(rlimits), "--"]
    timeout = [shutil.which("timeout") or "timeout", "-s", "KILL", str(limits.wall_seconds)]
    join = [sys.executable, "-I", "-S", "-c", _JOIN_CGROUPS, *map(str, cgroups), "--"]
    outer = [*timeout, *join] if cgroups else timeout  # trusted, run as the grader
    if not isolate:
        _warn_unsandboxed(_probe_bwrap() or "--unsandboxed: isolate=False")
        envargs = ["env", "-i", *(f"{k}={v}" for k, v in environment.items())]
        return [*outer, *envargs, *limiter, *argv]
    links = [Path(d) for d in _SYSTEM_DIRS if Path(d).is_symlink()]
    ro = [Path(d) for d in _SYSTEM_DIRS if Path(d).exists() and not Path(d).is_symlink()]
    ro += [Path(p) for p in (*_python_roots(), *ro_paths)]
    rw = [scratch, *(Path(p) for p in rw_paths)]
    cmd = [shutil.which("bwrap") or "bwrap", "--die-with-parent", "--new-session"]
    cmd += [] if root else ["--unshare-user"]  # unprivileged: a user namespace
    cmd += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--clearenv"]
    cmd += ["--hostname", "sandbox", "--dev", "/dev", "--proc", "/proc"]
    cmd += ["--perms", "01777", "--tmpfs", "/tmp", "--perms", "01777", "--tmpfs", "/dev/shm"]
    existing = {p for p in ro if str(p) in _SYSTEM_DIRS} | {Path("/tmp"), Path("/dev")}
    for d in _dirs_to_create([p for p in (*ro, *rw) if p not in existing], existing):
        cmd += ["--perms", "0755", "--dir", str(d)]
    for p in links:
        cmd += ["--symlink", os.readlink(p), str(p)]
    for p in ro:
        cmd += ["--ro-bind", str(p), str(p)]
    for p in rw:
        cmd += ["--bind", str(p), str(p)]
    for k, v in environment.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", str(scratch), "--"]
    if not root:  # bwrap already dropped every capability; the uid stays the caller's
        _log_not_root()
        return [*outer, *cmd, *limiter, *argv]
    uid = secrets.randbelow(1_000_000) + 1_000_000 if uid is None else uid
    setpriv = [shutil.which("setpriv") or "setpriv", "--reuid", str(uid), "--regid", str(uid)]
    setpriv += ["--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return [*outer, *cmd, *setpriv, "--", *limiter, *argv]


def _uid_tasks() -> int:
    """Processes and threads this user runs now (what ``RLIMIT_NPROC`` counts)."""
    uid, count = str(os.getuid()), 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            count += int(fields.get("Threads", "1"))
    return count


def prepare_folder(path: Path, uid: int) -> None:
    """Hand ``path`` (recursively) to the sandbox user ``uid``; a no-op when not root."""
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, uid)


def run_sandboxed(
    argv: Sequence[str],
    *,
    stdin: bytes = b"",
    limits: Limits = DEFAULT_LIMITS,
    files: dict[str, bytes] | None = None,
    isolate: bool | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` in a fresh sandbox with a throw-away scratch folder holding ``files``.

    Returns the completed process (``stdout``/``stderr`` as bytes); the scratch folder,
    the sandbox's cgroup (:class:`SandboxCgroup`) and every process started inside are
    gone when this returns.

    Examples
    --------
    >>> out = run_sandboxed([sys.executable, "-c", "import os; print(os.getcwd() != '')"])
    >>> out.stdout.strip()
    b'True'
    """
    with tempfile.TemporaryDirectory(prefix="relu-sbx-") as tmp:
        scratch = Path(tmp) / "scratch"
        scratch.mkdir()
        for name, data in (files or {}).items():
            (scratch / name).write_bytes(data)
        uid = secrets.randbelow(1_000_000) + 1_000_000
        prepare_folder(scratch, uid)
        os.chmod(tmp, 0o755)
        cgroup = SandboxCgroup.create(limits) if _is_root() else None
        try:
            cmd = sandbox_command(
                argv,
                scratch=scratch,
                limits=limits,
                uid=uid,
                isolate=isolate,
                cgroups=cgroup.dirs if cgroup else (),
            )
            return subprocess.run(
                cmd,
                input=stdin,
                capture_output=True,
                timeout=limits.wall_seconds + 30,
                check=False,
                cwd=scratch,  # unsandboxed, nothing else makes scratch the working folder
            )
        finally:
            if cgroup is not None:
                _log_oom(cgroup)
                cgroup.remove()


def _log_oom(cgroup: SandboxCgroup) -> None:
    if kills := cgroup.oom_kills():
        log.warning("the sandbox went over its memory cap: %d process(es) killed", kills)


# ----------------------------------------------------------------------------- kernels


class SandboxKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels run in :func:`sandbox_command`'s sandbox.

    The kernel's working folder is a scratch copy of the folder the notebook is in
    (nbclient passes it as ``cwd``); the copy is deleted when the kernel is cleaned up,
    so nothing the student's code writes survives grading. Limits are traitlets, so an
    nbgrader/jupyter config can set them (``c.SandboxKernelManager.memory_bytes = ...``).
    """

    memory_bytes = Integer(DEFAULT_LIMITS.memory_bytes, help="RLIMIT_AS per process").tag(
        config=True
    )
    cpu_seconds = Integer(DEFAULT_LIMITS.cpu_seconds, help="RLIMIT_CPU per process").tag(
        config=True
    )
    wall_seconds = Integer(DEFAULT_LIMITS.wall_seconds, help="kill the kernel after").tag(
        config=True
    )
    nproc = Integer(DEFAULT_LIMITS.nproc, help="processes+threads of the sandbox user").tag(
        config=True
    )
    sandbox_memory_bytes = Integer(
        DEFAULT_LIMITS.sandbox_memory_bytes, help="memory of the whole kernel (cgroup; 0: off)"
    ).tag(config=True)
    sandbox_tasks = Integer(
        DEFAULT_LIMITS.sandbox_tasks, help="processes+threads of the whole kernel (cgroup; 0: off)"
    ).tag(config=True)
    isolate = Bool(True, help="use bubblewrap (False: resource limits only, loud warning)").tag(
        config=True
    )
    sandbox_root = Unicode("", help="parent of the per-kernel temporary folders").tag(config=True)

    @default("transport")
    def _default_transport(self) -> str:
        return "ipc"

    @property
    def limits(self) -> Limits:
        return replace(
            DEFAULT_LIMITS,
            memory_bytes=self.memory_bytes,
            cpu_seconds=self.cpu_seconds,
            wall_seconds=self.wall_seconds,
            nproc=self.nproc,
            sandbox_memory_bytes=self.sandbox_memory_bytes,
            sandbox_tasks=self.sandbox_tasks,
        )

    def _setup_sandbox(self, cwd: str | None) -> str:
        self._sbx_isolate = self.isolate and bwrap_available()
        if self.isolate and not self._sbx_isolate:
            _warn_unsandboxed(_probe_bwrap() or "isolate=False")
        self._sbx_tmp = Path(tempfile.mkdtemp(prefix="relu-kernel-", dir=self.sandbox_root or None))
        os.chmod(self._sbx_tmp, 0o755)
        # removed with the manager or at exit, even when the kernel died and nbclient
        # never called cleanup_resources
        weakref.finalize(self, shutil.rmtree, str(self._sbx_tmp), True)
        scratch, conn = self._sbx_tmp / "scratch", self._sbx_tmp / "conn"
        if cwd and Path(cwd).is_dir():
            shutil.copytree(
                cwd, scratch, symlinks=False, ignore=shutil.ignore_patterns(*copy_ignore())
            )
        else:
            scratch.mkdir()
        conn.mkdir()
        self._sbx_uid = secrets.randbelow(1_000_000) + 1_000_000
        prepare_folder(scratch, self._sbx_uid)
        prepare_folder(conn, self._sbx_uid)
        self._sbx_scratch, self._sbx_conn = scratch, conn
        self._remove_cgroup()  # a restart's old kernel is dead: its cgroup goes
        cgroup = SandboxCgroup.create(self.limits) if _is_root() else None
        self._sbx_cgroup = cgroup
        # removed with the manager or at exit as well, like the folders
        self._sbx_cgroup_remove = weakref.finalize(self, cgroup.remove) if cgroup else None
        self.connection_file = str(conn / "kernel.json")
        if self.transport == "ipc":
            self.ip = str(conn / "kernel")
        return str(scratch)

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        kw["cwd"] = self._setup_sandbox(kw.get("cwd"))
        # signals from outside cannot reach a kernel in its own session and PID namespace
        # (and `timeout` would turn SIGINT into SIGKILL): interrupt through the control
        # channel instead (ipykernel then sends SIGINT to itself)
        self.kernel_spec.interrupt_mode = "message"
        env = dict(kw.get("env") or os.environ)
        env.pop("JPY_PARENT_PID", None)  # under --unshare-pid the parent poller would quit
        kw["env"] = env
        # the kernel's raw stdout/stderr (ipykernel's start-up note, anything the student
        # writes to file descriptors 1 and 2) must not reach the grader's terminal; cell
        # outputs travel over the kernel's channels and are not affected
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        return await super()._async_pre_start_kernel(**kw)

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        cmd = super().format_kernel_cmd(extra_arguments)
        if os.path.exists(self.connection_file) and os.geteuid() == 0:
            os.chown(self.connection_file, self._sbx_uid, self._sbx_uid)
        return sandbox_command(
            cmd,
            scratch=self._sbx_scratch,
            limits=self.limits,
            rw_paths=[self._sbx_conn],
            uid=self._sbx_uid,
            isolate=self._sbx_isolate,
            cgroups=self._sbx_cgroup.dirs if self._sbx_cgroup else (),
        )

    def _remove_cgroup(self) -> None:
        """Kill what is left of the kernel's process tree and delete its cgroup."""
        remove = getattr(self, "_sbx_cgroup_remove", None)
        if remove is not None and remove.alive:
            _log_oom(self._sbx_cgroup)
            remove()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        try:
            await super()._async_cleanup_resources(restart=restart)
        finally:
            self._remove_cgroup()
            tmp = getattr(self, "_sbx_tmp", None)
            if tmp is not None and not restart:
                shutil.rmtree(tmp, ignore_errors=True)


# the Limits fields SandboxKernelManager has as traitlets
_KERNEL_LIMITS = (
    "memory_bytes",
    "cpu_seconds",
    "wall_seconds",
    "nproc",
    "sandbox_memory_bytes",
    "sandbox_tasks",
)


class SandboxedExecute(Execute):
    """nbgrader's Execute preprocessor, with :class:`SandboxKernelManager` kernels."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["kernel_manager_class"] = SandboxKernelManager
        super().__init__(*args, **kwargs)


def configure_nbgrader(
    config: Any, limits: Limits = DEFAULT_LIMITS, *, isolate: bool = True
) -> Any:
    """Make nbgrader's autograde execute notebooks in the sandbox; returns ``config``.

    ``config`` is a ``traitlets.config.Config`` (or the ``c`` of an ``nbgrader_config.py``).
    nbgrader's ``Execute`` forces its kernel manager class through a constructor
    argument, which configuration cannot override, so the autograde pipeline gets a
    subclass, :class:`SandboxedExecute`, in place of ``Execute``.

    Examples
    --------
    >>> from traitlets.config import Config
    >>> c = configure_nbgrader(Config(), Limits(memory_bytes=2 * 2**30))
    >>> c.Autograde.autograde_preprocessors[0].__name__, c.SandboxKernelManager.memory_bytes
    ('SandboxedExecute', 2147483648)
    """
    from nbgrader.converters import Autograde

    pre = list(Autograde.class_traits()["autograde_preprocessors"].default())
    config.Autograde.autograde_preprocessors = [
        SandboxedExecute if p is Execute else p for p in pre
    ]
    for key, value in asdict(limits).items():
        if key in _KERNEL_LIMITS:
            setattr(config.SandboxKernelManager, key, value)
    config.SandboxKernelManager.isolate = isolate
    return config
