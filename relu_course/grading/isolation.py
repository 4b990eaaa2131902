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

Nothing here imports nbgrader or Jupyter: the kernels that run notebooks in this sandbox
are in :mod:`relu_course.grading.sandbox`, the cgroup in :mod:`relu_course.grading.cgroup`,
the limits in :mod:`relu_course.grading.limits`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from relu_course.grading.cgroup import sandbox_cgroup
from relu_course.grading.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "INSTALL_HINT",
    "Isolation",
    "SandboxWarning",
    "bwrap_available",
    "bwrap_problem",
    "isolation",
    "prepare_folder",
    "new_sandbox_uid",
    "run_sandboxed",
    "sandbox_command",
    "sandbox_mode",
    "warn_unsandboxed",
]

log = logging.getLogger(__name__)


class SandboxWarning(RuntimeWarning):
    """Student code runs without file-system and network isolation."""


def new_sandbox_uid() -> int:
    """A fresh unprivileged user id for one sandbox (as root; 1,000,000-1,999,999)."""
    return secrets.randbelow(1_000_000) + 1_000_000


# The trusted steps before the command (cgroups, resource limits): a stdlib-only script
# run by its path with ``python -I -S`` (see its docstring).
_LAUNCH = str(Path(__file__).with_name("launch.py"))

# Environment variables passed from the grader into the sandbox (everything else is cleared).
_PASS_ENV = ("NBGRADER_EXECUTION", "RELU_COURSE_PROGRESS", "LANG", "LC_ALL", "TZ", "MPLBACKEND")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


_PROBED: dict[tuple[str, bool], str] = {}


def bwrap_problem() -> str:
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
    return not bwrap_problem()


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
    why = bwrap_problem()
    root = _is_root()
    cgroup = sandbox_cgroup(limits or DEFAULT_LIMITS)
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
    if isolate is False or bwrap_problem():
        return "unsandboxed"
    return "bubblewrap" if _is_root() else "bubblewrap-user"


def warn_unsandboxed(why: str) -> None:
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
    limiter = [sys.executable, "-I", "-S", _LAUNCH, "limit", json.dumps(rlimits), "--"]
    timeout = [shutil.which("timeout") or "timeout", "-s", "KILL", str(limits.wall_seconds)]
    join = [sys.executable, "-I", "-S", _LAUNCH, "join", *map(str, cgroups), "--"]
    outer = [*timeout, *join] if cgroups else timeout  # trusted, run as the grader
    if not isolate:
        warn_unsandboxed(bwrap_problem() or "--unsandboxed: isolate=False")
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
    uid = new_sandbox_uid() if uid is None else uid
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
        uid = new_sandbox_uid()
        prepare_folder(scratch, uid)
        os.chmod(tmp, 0o755)
        cgroup = sandbox_cgroup(limits)
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
                cgroup.remove()
