"""nbgrader's kernels in the sandbox, and every name of the grading sandbox in one place.

:class:`SandboxKernelManager` is a Jupyter kernel manager that starts every kernel in
:func:`~relu_course.grading.isolation.sandbox_command`'s sandbox (transport ``ipc``: the
client talks to the kernel through socket files in a folder bound into the sandbox).
:func:`configure_nbgrader` puts it into an nbgrader configuration, so that ``nbgrader
autograde`` executes notebooks in the sandbox.

This module imports nbgrader and jupyter_client. The sandbox itself (bubblewrap, rlimits,
:func:`run_sandboxed`) is :mod:`relu_course.grading.isolation`, which does not; its names,
the limits (:mod:`relu_course.grading.limits`) and the cgroup
(:mod:`relu_course.grading.cgroup`) are importable from here too, for callers and
``nbgrader_config.py`` files that import them from ``relu_course.grading.sandbox``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, Unicode, default

from relu_course.grading.cgroup import CGROUP_ROOT, SandboxCgroup, sandbox_cgroup
from relu_course.grading.isolation import (
    INSTALL_HINT,
    Isolation,
    SandboxWarning,
    bwrap_available,
    bwrap_problem,
    isolation,
    new_sandbox_uid,
    prepare_folder,
    run_sandboxed,
    sandbox_command,
    sandbox_mode,
    warn_unsandboxed,
)
from relu_course.grading.limits import DEFAULT_LIMITS, Limits

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
    "sandbox_command",
    "sandbox_mode",
]


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
            warn_unsandboxed(bwrap_problem() or "isolate=False")
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
        self._sbx_uid = new_sandbox_uid()
        prepare_folder(scratch, self._sbx_uid)
        prepare_folder(conn, self._sbx_uid)
        self._sbx_scratch, self._sbx_conn = scratch, conn
        self._remove_cgroup()  # a restart's old kernel is dead: its cgroup goes
        cgroup = sandbox_cgroup(self.limits)
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
