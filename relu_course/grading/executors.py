"""Where submissions are graded: local worker processes, or a Dask cluster.

Both executors run the same unit of work, :func:`relu_course.grading.run.grade_submission`
(one :class:`~relu_course.grading.run.Job` in, one
:class:`~relu_course.grading.run.Verdict` out), and hand each verdict to the coordinator
(:func:`relu_course.grading.grade.grade`), which alone writes files and the gradebook.

- :class:`LocalPool` (the default): ``jobs`` long-lived worker processes on this machine.
  It is written by hand rather than with :class:`concurrent.futures.ProcessPoolExecutor`
  because it must kill ONE worker whose submission ran past the timeout, together with
  the kernels that worker started, and replace it while the others go on; the stdlib pool
  can neither cancel a running task nor survive a killed worker (it breaks as a whole).
- :class:`DaskExecutor` (``relu-course grade --scheduler tcp://HOST:8786``): the workers
  of a running Dask cluster. A job carries the notebook's bytes and the release template
  travels packed (:func:`~relu_course.grading.run.pack_template`), so workers need no
  shared disk, only ``pip install relu-course[cluster]`` and bubblewrap.

A failure of the machinery (a worker process dies, the cluster goes away) gives an
``infra_error`` verdict for the submissions it hit: never a score, never merged, graded
again by the next run.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from .course import CourseError
from .run import Job, Verdict, grade_submission, infra_error, pack_template, zero_result


class Task(Protocol):
    """What an executor needs of the coordinator's task (:class:`.grade.Task`)."""

    template: Path
    workroot: Path

    def job(self) -> Job: ...


__all__ = [
    "DaskExecutor",
    "LocalPool",
    "OnVerdict",
    "dask_task",
    "import_distributed",
    "kill_grading_processes",
]

#: called by an executor, in the coordinator's process, for each finished submission
OnVerdict = Callable[[Task, Verdict], None]

DISTRIBUTED_HINT = 'pip install "relu-course[cluster]"  (or: pip install distributed)'


def _timed_out(job: Job, timeout: float) -> Verdict:
    return Verdict(zero_result(job, "timeout", f"grading took more than {timeout:.0f} s"))


# ---------------------------------------------------------------- local processes


def _worker_main(conn: Connection, log: str) -> None:
    os.setpgrp()  # so a timeout can stop this worker together with what it started
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)  # kernels' chatter goes to the log, not over the progress bar
    os.environ.setdefault("RELU_COURSE_PROGRESS", "0")
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        conn.send(grade_submission(*item))


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def _kill_descendants(pid: int) -> int:
    """SIGKILL every process below ``pid`` (where /proc exists); returns how many."""
    pids = _children(pid) if pid and Path("/proc").is_dir() else []
    for child in pids:
        try:
            os.kill(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)


def _kill_tree(proc: Any) -> None:
    _kill_descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, TypeError):
        proc.kill()
    proc.join(5)


class LocalPool:
    """``jobs`` worker processes on this machine; a submission running longer than
    ``timeout`` seconds is killed with its kernels (0 points, ``timeout``)."""

    def __init__(self, jobs: int, log: Path) -> None:
        self.jobs = jobs
        self.log = log

    def run(self, tasks: Sequence[Task], timeout: float, on_verdict: OnVerdict) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        queue = list(reversed(tasks))
        # connection -> (process, task, job, start time); task None: idle
        workers: dict[Connection, tuple[Any, Task | None, Job | None, float]] = {}

        def start() -> Connection:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, str(self.log)), daemon=True)
            proc.start()
            child.close()
            workers[parent] = (proc, None, None, 0.0)
            return parent

        def feed(conn: Connection) -> None:
            proc = workers[conn][0]
            if queue:
                task = queue.pop()
                job = task.job()
                conn.send((job, task.template, task.workroot))
                workers[conn] = (proc, task, job, time.monotonic())
            else:
                conn.send(None)
                proc.join(10)
                del workers[conn]

        for _ in range(max(1, min(self.jobs, len(tasks)))):
            start()
        for conn in list(workers):
            feed(conn)
        try:
            while workers:
                for conn in wait(list(workers), timeout=0.5):
                    proc, task, job, _ = workers[conn]
                    try:
                        verdict = conn.recv()
                    except (EOFError, OSError):
                        _kill_tree(proc)
                        del workers[conn]
                        if task is not None and job is not None:
                            on_verdict(task, infra_error(job, "the grading worker process died"))
                        if queue:
                            feed(start())
                        continue
                    on_verdict(task, verdict)  # type: ignore[arg-type]
                    feed(conn)
                now = time.monotonic()
                for conn, (proc, task, job, began) in list(workers.items()):
                    if task is not None and job is not None and now - began > timeout:
                        _kill_tree(proc)
                        del workers[conn]
                        on_verdict(task, _timed_out(job, timeout))
                        if queue:
                            feed(start())
        finally:
            for proc, _, _, _ in list(workers.values()):
                _kill_tree(proc)


# ---------------------------------------------------------------- a Dask cluster


def import_distributed() -> Any:
    """``dask.distributed``, or a :class:`CourseError` that says how to install it."""
    try:
        import distributed
    except ImportError as err:
        raise CourseError(
            f"grading on a Dask cluster (--scheduler) needs the distributed package, which "
            f"is not installed here ({err}): {DISTRIBUTED_HINT}"
        ) from None
    return distributed


def kill_grading_processes() -> int:
    """Run on a Dask worker (``client.run``): SIGKILL every process the worker started,
    the kernels and sandboxes of the submission it grades; returns how many.

    Restarting a worker alone would leave them running: each sandbox sits under a
    ``timeout`` process that outlives the worker, up to the sandbox's wall limit.
    """
    return _kill_descendants(os.getpid())


def worker_sandbox() -> tuple[str, str]:
    """(sandbox mode, why not bubblewrap) of the machine this runs on (run on each worker)."""
    from .sandbox import isolation

    found = isolation()
    return found.mode, found.why_not


def dask_task(job: Job, template: bytes) -> Verdict:
    """What a Dask worker runs for one submission: :func:`grade_submission` in a private
    folder of the worker's temporary directory, under the same sandbox policy as a local
    run. A worker without bubblewrap never falls back to resource limits on its own: only
    ``--unsandboxed`` (``isolate=False``) allows that."""
    from .course import nbgrader_env

    os.environ["RELU_COURSE_PROGRESS"] = "0"
    os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader calls alembic from this Python's bin/
    if job.sandbox and job.isolate is None:
        from .sandbox import INSTALL_HINT, bwrap_available

        if not bwrap_available():
            import socket

            return infra_error(
                job, f"worker {socket.gethostname()} has no sandbox: {INSTALL_HINT} there"
            )
    return grade_submission(job, template)


class DaskExecutor:
    """Grade on the workers of the Dask scheduler at ``address`` (``tcp://HOST:8786``).

    At most one submission per worker thread is in flight, so a submission starts when it
    is handed over and ``timeout`` counts its running time; one that runs past it scores
    0 (``timeout``) as in a local run, and its worker is restarted to stop it. ``task_fn``
    replaces :func:`dask_task` (tests use it to kill a worker).
    """

    def __init__(
        self,
        address: str,
        *,
        task_fn: Callable[[Job, bytes], Verdict] = dask_task,
        connect_timeout: float = 30.0,
    ) -> None:
        self.address = address
        self.task_fn = task_fn
        self.connect_timeout = connect_timeout

    def _client(self) -> Any:
        distributed = import_distributed()
        try:
            return distributed.Client(
                self.address, timeout=self.connect_timeout, set_as_default=False
            )
        except OSError as err:
            raise CourseError(
                f"no Dask scheduler answered at {self.address} ({err}): start one with "
                "`dask scheduler` and workers with `dask worker ADDRESS` (docs/INSTRUCTORS.md)"
            ) from None

    def _check_workers(self, client: Any, tasks: Sequence[Task]) -> None:
        """Refuse a cluster without workers, and, when the sandbox is required, one with
        a worker that has no bubblewrap."""
        try:
            client.wait_for_workers(1, timeout=self.connect_timeout)
        except TimeoutError:
            raise CourseError(
                f"the Dask scheduler at {self.address} has no workers: start them with "
                f"`dask worker {self.address}` on each grading machine"
            ) from None
        job = tasks[0].job()
        if job.sandbox and job.isolate is None:
            from .sandbox import INSTALL_HINT

            modes = client.run(worker_sandbox)
            bare = {w: why for w, (mode, why) in modes.items() if mode == "unsandboxed"}
            if bare:
                listed = "; ".join(f"{w}: {why}" for w, why in sorted(bare.items()))
                raise CourseError(f"no sandbox on Dask worker(s) {listed}: {INSTALL_HINT}")

    def run(self, tasks: Sequence[Task], timeout: float, on_verdict: OnVerdict) -> None:
        if not tasks:
            return
        client = self._client()
        try:
            self._run(client, tasks, timeout, on_verdict)
        finally:
            client.close()

    def _run(
        self,
        client: Any,
        tasks: Sequence[Task],
        timeout: float,
        on_verdict: OnVerdict,
    ) -> None:
        self._check_workers(client, tasks)
        bundles: dict[Path, bytes] = {}
        queue = list(reversed(tasks))
        running: dict[Any, tuple[Task, Job, float]] = {}  # future -> (task, job, start)

        def submit() -> None:
            task = queue.pop()
            job = task.job()
            if task.template not in bundles:
                bundles[task.template] = pack_template(task.template)
            try:
                future = client.submit(
                    self.task_fn,
                    job,
                    bundles[task.template],
                    key=f"grade-{job.assignment}-{job.student}-{job.key}-{time.time_ns()}",
                    pure=False,
                    retries=0,
                )
            except Exception as err:  # noqa: BLE001 - the client lost its scheduler
                on_verdict(task, infra_error(job, f"could not hand it to Dask ({err})"))
                return
            running[future] = (task, job, time.monotonic())

        lost, down_since = "", 0.0
        while (queue or running) and not lost:
            now = time.monotonic()
            if client.status == "running":
                down_since = 0.0
                threads = max(1, sum(client.nthreads().values()))  # workers come and go
                while queue and len(running) < threads:
                    submit()
            else:  # reconnecting: wait for it, up to the connect timeout and a margin
                down_since = down_since or now
                gone = client.status in ("closing", "closed", "failed")
                if gone or now - down_since > self.connect_timeout + 30:
                    lost = f"the connection to the Dask scheduler at {self.address} was lost"
            finished = [future for future in running if future.done()]
            if not finished:
                time.sleep(0.2)
            for future in finished:
                task, job, _ = running.pop(future)
                on_verdict(task, self._verdict(future, job))
            for future, (task, job, began) in list(running.items()):
                if time.monotonic() - began > timeout:
                    del running[future]
                    self._stop(client, future)
                    on_verdict(task, _timed_out(job, timeout))
        for task, job, _ in running.values():
            on_verdict(task, infra_error(job, lost))
        while queue:
            task = queue.pop()
            on_verdict(task, infra_error(task.job(), lost))

    @staticmethod
    def _verdict(future: Any, job: Job) -> Verdict:
        if future.status == "finished":
            try:
                return future.result()
            except Exception as err:  # noqa: BLE001 - the result could not be fetched
                return infra_error(job, f"the verdict was lost ({type(err).__name__}: {err})")
        try:
            err = future.exception(timeout=5)
        except Exception as exc:  # noqa: BLE001 - cancelled, or the cluster went away
            err = exc
        return infra_error(
            job,
            f"the Dask worker grading it failed ({type(err).__name__}: {err}); "
            "nothing was scored, run relu-course grade again",
        )

    @staticmethod
    def _stop(client: Any, future: Any) -> None:
        """Cancel a submission that ran past its time, kill the processes its worker
        started (kernels, sandboxes) and restart that worker (a running Dask task cannot
        be interrupted otherwise)."""
        try:
            busy = [w for w, keys in client.processing().items() if future.key in keys]
            client.cancel(future)
            if busy:
                client.run(kill_grading_processes, workers=busy)
                client.restart_workers(busy)
        except Exception:  # noqa: BLE001 - best effort: the verdict is given either way
            pass
