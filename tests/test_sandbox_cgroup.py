"""The cgroup cap of a whole sandbox: memory and processes of all its processes together.

Per-process rlimits let 64 processes of 4 GiB each through; the sandbox's cgroup
(:class:`relu_course.grading.cgroup.SandboxCgroup`) caps their sum. Tests that need a writable
cgroup file system (Linux, root) are skipped elsewhere; the fallback test runs anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import textwrap
import time
from pathlib import Path

import pytest

from relu_course.grading import cgroup as cgroups
from relu_course.grading import sandbox
from relu_course.grading.sandbox import Limits, SandboxCgroup, run_sandboxed

MIB = 2**20


def _cgroups_writable() -> bool:
    cgroup = SandboxCgroup.create(Limits(sandbox_memory_bytes=64 * MIB, sandbox_tasks=8))
    if cgroup is None:
        return False
    complete = set(cgroup.folders) == {"memory", "pids"}
    cgroup.remove()
    return complete


needs_cgroups = pytest.mark.skipif(
    not _cgroups_writable(), reason="no writable memory and pids cgroups here (needs root)"
)

# Starts `children` processes that each touch `mib` MiB (one write per page), hold it for a
# moment so that they all hold it at once, and exit 0; prints the children's exit codes.
FAN_OUT = textwrap.dedent(
    """
    import json, os, sys, time
    children, mib = int(sys.argv[1]), int(sys.argv[2])
    pids = []
    for _ in range(children):
        pid = os.fork()
        if pid == 0:
            block = bytearray(mib * 2**20)
            block[::4096] = b"x" * len(range(0, len(block), 4096))
            time.sleep(1.5)
            os._exit(0)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
    print(json.dumps(codes))
    """
)

# Forks sleeping children until the kernel refuses; prints how many it got.
FORK_LOOP = textwrap.dedent(
    """
    import os, time
    started = 0
    while started < 500:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        started += 1
    print(started)
    """
)


def _fan_out(cap: int) -> list[int]:
    limits = Limits(sandbox_memory_bytes=cap, wall_seconds=60)
    done = run_sandboxed([sys.executable, "-c", FAN_OUT, "3", "400"], limits=limits)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


@needs_cgroups
def test_memory_cap_is_for_the_whole_sandbox() -> None:
    # 3 x 400 MiB: each child is far under the 4 GiB rlimit, together they pass 600 MiB
    assert -9 in _fan_out(600 * MIB), "a child should be OOM-killed (SIGKILL) at 600 MiB"
    assert _fan_out(2048 * MIB) == [0, 0, 0], "all children fit under 2 GiB"


@needs_cgroups
def test_task_cap_stops_a_fork_loop() -> None:
    limits = Limits(sandbox_tasks=20, nproc=64, wall_seconds=60)
    done = run_sandboxed([sys.executable, "-c", FORK_LOOP], limits=limits)
    assert done.returncode == 0, done.stderr.decode()
    started = int(done.stdout)
    # bwrap, its init and the loop itself count too; RLIMIT_NPROC (64) would allow ~60
    assert 5 <= started < 20, f"fork loop started {started} processes under a cap of 20"


@needs_cgroups
def test_sandbox_is_in_its_cgroup_and_the_cgroup_is_gone_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[SandboxCgroup] = []
    create = SandboxCgroup.create

    def spy(limits: Limits) -> SandboxCgroup | None:
        cgroup = create(limits)
        made.append(cgroup)
        return cgroup

    monkeypatch.setattr(SandboxCgroup, "create", spy)
    done = run_sandboxed([sys.executable, "-c", "print(open('/proc/self/cgroup').read())"])
    assert done.returncode == 0, done.stderr.decode()
    (cgroup,) = made
    assert cgroup is not None
    for folder in cgroup.dirs:
        assert folder.name in done.stdout.decode(), "the sandbox runs outside its cgroup"
        assert not folder.exists(), f"{folder} left behind"


@needs_cgroups
def test_a_kernel_runs_in_its_cgroup_until_shut_down() -> None:
    async def kernel_cgroup() -> tuple[list[Path], list[int]]:
        manager = sandbox.SandboxKernelManager(kernel_name="python3")
        await manager.start_kernel()
        client = manager.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=60)
            folders = manager._sbx_cgroup.dirs
            tasks = [len((f / "cgroup.procs").read_text().split()) for f in folders]
        finally:
            client.stop_channels()
            await manager.shutdown_kernel(now=True)
        return folders, tasks

    folders, tasks = asyncio.run(kernel_cgroup())
    assert folders and all(n > 0 for n in tasks), f"kernel not in its cgroup: {tasks}"
    assert not any(f.exists() for f in folders), "the kernel's cgroup outlived shutdown"


@needs_cgroups
def test_leftover_processes_are_killed_without_bubblewrap(tmp_path: Path) -> None:
    # Without bubblewrap no PID namespace ends the tree: a daemon that left the session
    # would outlive the call; removing the cgroup kills it.
    pid_file = tmp_path / "daemon.pid"
    pid_file.touch()
    pid_file.chmod(0o666)
    daemon = textwrap.dedent(
        f"""
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            os.closerange(0, 3)
            with open({str(pid_file)!r}, "w") as f:
                f.write(str(os.getpid()))
            time.sleep(60)
        """
    )
    with pytest.warns(sandbox.SandboxWarning):
        run_sandboxed([sys.executable, "-c", daemon], isolate=False)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # killed, being reaped by init
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "zombie" in status.read_text(), "daemon still running"


@pytest.mark.parametrize("layout", ["missing", "not-cgroupfs"])
def test_without_cgroups_the_sandbox_still_runs_and_logs(
    layout: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "cgroup"
    if layout == "not-cgroupfs":  # looks like cgroup v1 but is a plain folder
        for controller in ("memory", "pids"):
            (root / controller).mkdir(parents=True)
            (root / controller / "cgroup.procs").touch()
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", root)
    monkeypatch.setattr(cgroups, "_CGROUP_WARNED", set())
    with caplog.at_level(logging.WARNING, logger="relu_course.grading.cgroup"):
        done = run_sandboxed([sys.executable, "-c", "print(6 * 7)"])
    assert done.stdout.strip() == b"42", done.stderr.decode()
    assert "no cgroup cap for the sandbox" in caplog.text
    assert not any(p.name.startswith("relu-sandbox-") for p in root.rglob("*"))


@pytest.mark.parametrize(
    ("v2_controllers", "expected"),
    [
        ("memory pids", ("unified/grader/relu-sandbox-x", 2)),
        ("hugetlb", ("memory/m/relu-sandbox-x", 1)),
    ],
)
def test_v2_is_used_where_it_hands_the_controller_down_else_v1(
    v2_controllers: str, expected: tuple[str, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a hybrid layout (v2 at unified/, v1 controllers beside it) as plain files: this
    # checks the choice only, not the kernel
    own = {"": "/grader", "memory": "/m"}
    for folder in ("unified", "unified/grader"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "cgroup.controllers").write_text(v2_controllers)
        (tmp_path / folder / "cgroup.subtree_control").write_text(v2_controllers)
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "cgroup.procs").touch()
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path)
    v2 = cgroups._v2_parent(own, {"memory"})
    folder, version = cgroups._cgroup_folder("memory", "relu-sandbox-x", own, v2)
    assert (folder.relative_to(tmp_path).as_posix(), version) == expected
