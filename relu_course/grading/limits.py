"""Every resource limit of grading, stated once.

A sandbox's caps are a :class:`Limits`; the values below are the ones grading uses:

* :data:`DEFAULT_LIMITS`: a notebook's kernel under nbgrader (``SandboxKernelManager``);
* :data:`VERIFY_LIMITS` and :data:`VERIFY_JOB_SECONDS`: the clean re-verification of the
  ps1 questions (one sandbox per submission, one forked process per question);
* :data:`TORCH_LIMITS` and :data:`TORCH_JOB_SECONDS`: the clean re-verification of the
  torch questions of ps2-ps4;
* :data:`MAX_RESULT_BYTES`: the most data one observed ps1 result sends back.

Examples
--------
>>> VERIFY_LIMITS.memory_bytes // GIB, VERIFY_JOB_SECONDS, TORCH_JOB_SECONDS
(2, 30, 240)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_LIMITS",
    "GIB",
    "MAX_RESULT_BYTES",
    "TORCH_JOB_SECONDS",
    "TORCH_LIMITS",
    "VERIFY_JOB_SECONDS",
    "VERIFY_LIMITS",
    "Limits",
]

GIB = 2**30
MIB = 2**20


@dataclass(frozen=True)
class Limits:
    """Resource caps for one sandboxed process tree.

    ``memory_bytes`` is ``RLIMIT_AS`` (address space, per process); ``cpu_seconds`` is
    ``RLIMIT_CPU`` (per process); ``wall_seconds`` kills the whole sandbox; ``nproc`` caps
    processes and threads of the sandbox's user; ``file_bytes`` caps one written file.
    ``sandbox_memory_bytes`` (memory actually used, RAM and swap) and ``sandbox_tasks``
    (processes and threads) cap the whole sandbox together, through its cgroup
    (:class:`~relu_course.grading.cgroup.SandboxCgroup`), where cgroups can be written;
    ``0`` switches a cap off.

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
    file_bytes: int = 256 * MIB
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
#: A notebook's kernel under nbgrader.
DEFAULT_LIMITS = Limits()
#: The sandbox of the ps1 clean re-verification, and the seconds one question may take.
VERIFY_LIMITS = Limits(memory_bytes=2 * GIB, cpu_seconds=60, wall_seconds=90, nproc=32)
VERIFY_JOB_SECONDS = 30
#: The sandbox of the ps2-ps4 clean re-verification, and the seconds one question may take
#: (both processes, the student's code included).
TORCH_LIMITS = Limits(memory_bytes=4 * GIB, cpu_seconds=1200, wall_seconds=600, nproc=32)
TORCH_JOB_SECONDS = 240
#: The most data one observed ps1 result sends (a larger one is judged by its form only).
MAX_RESULT_BYTES = 16 * MIB
