"""The clean process: what runs in a fresh sandbox to re-verify a submission.

The grader starts it with ``python -I -m relu_course.grading.runner`` through
:func:`exchange_sandboxed`, which also speaks the grader's side of its protocol. Every
message is in :mod:`relu_course.grading.codec`'s wire format:

1. the grader writes one request on stdin: ``{"nonce", "job_seconds", "jobs"}``;
2. the runner keeps a private copy of stdout for its answer, points file descriptors 0-2
   at ``/dev/null`` (student output goes nowhere), makes itself non-dumpable (no
   ``ptrace``, no ``/proc/<pid>/mem`` from a child), binds every function it calls later
   (``type``, ``np.ndarray``, ``np.array``, the codec's encoder, ``os.write``, ...), and
   writes :func:`started_line`: no student code has run yet, so an answer without that
   line is the grader's own failure (:data:`GRADER_ERROR`);
3. for each job it forks a child (:func:`run_in_child`), a clean copy of itself, so no
   question ever sees another question's cells. The child runs the question's cells one
   top-level statement at a time (:func:`exec_statements`) and answers through a pipe;
   the parent, which never runs student code, waits up to ``job_seconds``, reads at most
   a size cap (:func:`collect`) and kills the child;
4. it writes ``{"nonce", "jobs": [one answer per job]}`` as one line and leaves with
   ``os._exit`` (no student ``atexit`` hook runs).

The jobs here are the ps1 questions (:func:`observe_job`): call the student's function on
each case of a :mod:`relu_course.checks` battery and record what came back (exact type,
dtype, shape, values, the input after the call, warnings). The grader rebuilds each
:class:`relu_course.checks.Observation` and judges it (:mod:`relu_course.grading.verify`).
The ps2-ps4 harness (:mod:`relu_course.grading.verify_torch`) uses the same protocol and
the same helpers.

**The course package in a clean process.** Student code may import ``relu_course`` there,
as it may in the notebook (the ps2-ps4 setup cells do): a clean run is never stricter than
the notebook on what it may import. An answer that calls the course's implementation is
graded on its result, and the audit flags the import (``reference``) for a human
(SECURITY.md). The verdict itself is decided outside, by code no student touched.
"""

from __future__ import annotations

import ast
import ctypes
import json
import math
import os
import secrets
import select
import signal
import sys
import time
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from relu_course import checks
from relu_course.grading import codec
from relu_course.grading.isolation import run_sandboxed
from relu_course.grading.limits import MAX_RESULT_BYTES, Limits

__all__ = [
    "COMMAND",
    "GRADER_ERROR",
    "NoIPython",
    "collect",
    "exchange_sandboxed",
    "exec_statements",
    "make_undumpable",
    "notebook_namespace",
    "observe_job",
    "kill_all",
    "run_in_child",
    "serve",
    "started_line",
    "take_stdout",
    "type_name",
    "write_all",
]

#: How a message about a failure of the grader itself (not of the student's code) starts.
GRADER_ERROR = "grader error: "
#: How the grader starts this module in the sandbox.
COMMAND = (sys.executable, "-I", "-m", "relu_course.grading.runner")

# Bound when this module is imported, before any student code runs in this process.
_type, _len, _str, _list, _isinstance = type, len, str, list, isinstance
_BaseException, _compile, _exec = BaseException, compile, exec
_ast_parse, _ast_Module = ast.parse, ast.Module
_ndarray, _generic, _array, _copy = np.ndarray, np.generic, np.array, np.ndarray.copy
_errstate, _catch, _simplefilter = np.errstate, warnings.catch_warnings, warnings.simplefilter
_write, _read, _close, _pipe, _fork = os.write, os.read, os.close, os.pipe, os.fork
_kill, _waitpid, _exit, _select = os.kill, os.waitpid, os._exit, select.select
_monotonic, _json_loads, _json_dumps = time.monotonic, json.loads, json.dumps
_dumps = codec.dumps
_qualname = type.__dict__["__qualname__"].__get__  # a class cannot fake these two
_module = type.__dict__["__module__"].__get__
# the functions numerical_grad is tested on, by name
_NUMGRAD_F = {name: f for name, (f, _) in checks.NUMGRAD_FUNCTIONS.items()}


def started_line(nonce: str) -> bytes:
    """The line a runner writes on its answer channel before any student code runs.

    Examples
    --------
    >>> started_line("ab12")
    b'{"started": "ab12"}'
    """
    return codec.dumps({"started": nonce})


# ----------------------------------------------------------------------------- the process


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``."""
    while data:
        data = data[_write(fd, data) :]


def take_stdout() -> int:
    """A private copy of stdout for the answer; file descriptors 0-2 go to ``/dev/null``."""
    out_fd = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    return out_fd


def make_undumpable() -> None:
    """``PR_SET_DUMPABLE = 0``: no process of this user may ptrace this one or read its
    memory (Linux; elsewhere nothing happens)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)
    except Exception:  # noqa: BLE001, S110 - not Linux: the sandbox has to do
        pass


def collect(fd: int, pids: Sequence[int], seconds: float, max_bytes: int) -> tuple[bytes, str]:
    """Read ``fd`` until it closes, for at most ``seconds`` and ``max_bytes``; then kill
    and reap ``pids``. Returns ``(data, "")``, or ``(b"", why)`` when time or size ran out.
    """
    chunks, size, why = [], 0, ""
    deadline = _monotonic() + seconds
    while True:
        left = deadline - _monotonic()
        if left <= 0:
            why = f"ran longer than {seconds:g} s"
            break
        ready, _, _ = _select([fd], [], [], left)
        if not ready:
            continue
        chunk = _read(fd, 1 << 16)
        if not chunk:
            break
        size += _len(chunk)
        if size > max_bytes:
            why = "sent too much data"
            break
        chunks.append(chunk)
    _close(fd)
    kill_all(pids)
    return (b"", why) if why else (b"".join(chunks), "")


def kill_all(pids: Sequence[int]) -> None:
    """SIGKILL and reap each child process of ``pids`` (one that is gone already is fine)."""
    for pid in pids:
        try:
            _kill(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            _waitpid(pid, 0)
        except ChildProcessError:
            pass


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def run_in_child(
    work: Callable[[Any], Any], job: Any, *, seconds: float, max_bytes: int, close: Sequence[int]
) -> Any:
    """``work(job)`` in a forked child; its JSON-ready answer, or ``{"fatal": why}``.

    The child closes ``close`` (the answer channel) first, and leaves with ``os._exit``.
    The answer is checked to be strict JSON, never trusted further here.
    """
    r, w = _pipe()
    pid = _fork()
    if pid == 0:  # pragma: no cover - the child (tested end to end)
        try:
            _close(r)
            for fd in close:
                _close(fd)
            payload = _dumps(work(job))
        except _BaseException as exc:  # noqa: BLE001 - the grader's own failure to answer
            payload = _dumps({"fatal": f"{_qualname(_type(exc))}: {exc}"[:500]})
        try:
            write_all(w, payload)
        finally:
            _exit(0)
    _close(w)
    data, why = collect(r, [pid], seconds, max_bytes)
    if not why:
        try:
            return _json_loads(data, parse_constant=_no_constants)
        except (ValueError, RecursionError):
            why = "died without an answer"
    return {"fatal": why}


def serve(
    work: Callable[..., Any],
    *,
    max_bytes: int,
    prepare: Callable[[], None] | None = None,
    run: Callable[..., Any] = run_in_child,
) -> None:  # pragma: no cover - runs inside the sandbox (tested end to end)
    """The runner's main: read the request, :func:`started_line`, one
    :func:`run_in_child` per job (its answer at most ``max_bytes``), the answer line;
    never returns.

    ``prepare`` runs after the process is closed off and before the started line (import
    what the jobs need there: a failure then is the grader's, not the student's). ``run``
    replaces :func:`run_in_child` (same arguments) where a job needs more processes: the
    ps2-ps4 runner (:mod:`relu_course.grading.verify_torch`) forks the student's process
    beside the judge's.
    """
    request = codec.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    out_fd = take_stdout()
    make_undumpable()
    if prepare is not None:
        prepare()
    write_all(out_fd, started_line(request["nonce"]) + b"\n")
    seconds = float(request["job_seconds"])
    answers = [
        run(work, job, seconds=seconds, max_bytes=max_bytes, close=[out_fd])
        for job in request["jobs"]
    ]
    answer = {"nonce": request["nonce"], "jobs": answers}
    write_all(out_fd, _json_dumps(answer, allow_nan=False).encode() + b"\n")
    _exit(0)


# ----------------------------------------------------------------------------- notebooks


class NoIPython:
    """``get_ipython()`` where there is no IPython: magics and ``!`` lines do nothing.

    Examples
    --------
    >>> NoIPython().run_line_magic("time", "x = 1") is None, NoIPython() is NoIPython()
    (True, True)
    """

    _the: NoIPython | None = None

    def __new__(cls) -> NoIPython:
        if cls._the is None:
            cls._the = object.__new__(cls)
        return cls._the

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None


def _no_display(*args: Any, **kwargs: Any) -> None:
    return None


def notebook_namespace(**names: Any) -> dict[str, Any]:
    """A fresh ``__main__`` namespace with the names IPython provides (``get_ipython``,
    ``display``: both do nothing), and ``names``."""
    return {"__name__": "__main__", "get_ipython": NoIPython, "display": _no_display, **names}


def exec_statements(source: str, namespace: dict[str, Any], label: str) -> list[str]:
    """Run a cell one top-level statement at a time; the errors, as ``"label: Type: msg"``.

    A failing statement (a debugging print, a call to ``get_ipython``) does not stop the
    definitions after it. That is never more lenient than the notebook in effect: the
    final score is the minimum of both.

    Examples
    --------
    >>> ns = {}
    >>> exec_statements("x = 1\\n1 / 0\\ny = x + 1", ns, "cell 0"), ns["y"]
    (['cell 0: ZeroDivisionError: division by zero'], 2)
    """
    try:
        statements = _ast_parse(source).body
    except _BaseException as exc:  # noqa: BLE001
        return [f"{label}: {_qualname(_type(exc))}: {exc}"[:500]]
    errors = []
    for stmt in statements:
        try:
            code = _compile(_ast_Module(body=[stmt], type_ignores=[]), f"<{label}>", "exec")
            _exec(code, namespace)
        except _BaseException as exc:  # noqa: BLE001 - a failing line does not stop the rest
            errors.append(f"{label}: {_qualname(_type(exc))}: {exc}"[:500])
    return errors


# ----------------------------------------------------------------------------- ps1 jobs


class _LazyTorch(types.ModuleType):
    """``torch`` in the namespace, imported only when a cell uses it."""

    def __getattr__(self, name: str) -> Any:
        import torch

        return getattr(torch, name)


def type_name(obj: Any) -> str:
    """The exact type of ``obj``, as its class says it, unfakeable by the class.

    Examples
    --------
    >>> type_name(np.zeros(2)), type_name(np.float32(1)), type_name([1])
    ('numpy.ndarray', 'numpy.float32', 'list')
    """
    t = _type(obj)
    if t is _ndarray:
        return "numpy.ndarray"
    name = f"{_module(t)}.{_qualname(t)}".removeprefix("builtins.")
    return name if name != "numpy.ndarray" else "numpy.ndarray<subclass>"


def observe_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """Run one ps1 question's cells and observe its function on each case (in the child).

    ``job`` is ``{"function", "cells", "cases"}``, each case ``{"name", "params", "x"}``.
    Returns ``{"cell_error", "observations"}`` (wire data), one record per case with the
    fields of :class:`relu_course.checks.Observation` (``data`` an array, or ``None`` for
    a result NumPy does not turn into numbers) and ``x_after``, the input after the call.
    """
    namespace = notebook_namespace(np=np, numpy=np, math=math, torch=_LazyTorch("torch"))
    cell_error = None
    for i, source in enumerate(job["cells"]):
        errors = exec_statements(source, namespace, f"cell {i}")
        cell_error = errors[-1] if errors else cell_error
    fn = namespace.get(job["function"])
    if fn is None or not callable(fn):
        missing = {"error": f"NameError: {job['function']} is not defined ({cell_error})"}
        return {"cell_error": cell_error, "observations": [missing for _ in job["cases"]]}
    observations = [_observe(fn, case) for case in job["cases"]]
    return {"cell_error": cell_error, "observations": observations}


def _observe(fn: Callable[..., Any], case: Mapping[str, Any]) -> dict[str, Any]:
    x = _copy(case["x"])
    params = dict(case["params"])
    args: tuple[Any, ...] = (x,)
    if case["name"] == "numerical_grad":
        eps = params.pop("eps")
        args = (_NUMGRAD_F[params.pop("f")], x)
        params = {} if eps is None else {"eps": eps}
    with _catch(record=True) as caught, _errstate(all="ignore"):
        _simplefilter("always")
        try:
            result = fn(*args, **params)
        except _BaseException as exc:  # noqa: BLE001 - the student's error is the observation
            return {"error": f"{_qualname(_type(exc))}: {exc}"[:500], "x_after": None}
    rec: dict[str, Any] = {"error": None, "type_name": type_name(result), "dtype": None,
                           "shape": None, "data": None, "n_warnings": _len(caught)}  # fmt: skip
    scalar = _type(result) is not _ndarray and _isinstance(result, _generic)
    if _type(result) is _ndarray or scalar:
        rec["dtype"] = _str(result.dtype)
    if _type(result) is _ndarray:
        rec["shape"] = _list(result.shape)
        data = result
    else:
        try:
            with _catch():
                _simplefilter("ignore")
                data = _array(result, copy=True, subok=False)
            if _type(data) is not _ndarray:
                data = None
        except _BaseException:  # noqa: BLE001 - not numbers: no data
            data = None
    if data is not None and data.dtype.kind in "biuf" and data.nbytes <= MAX_RESULT_BYTES:
        rec["data"] = _copy(data)  # copies: no student code may change them before they go
    rec["x_after"] = _copy(x)
    return rec


# ----------------------------------------------------------------------------- grader side


def exchange_sandboxed(
    argv: Sequence[str], request: Mapping[str, Any], *, limits: Limits,
    files: dict[str, bytes] | None = None, isolate: bool | None = None,
) -> tuple[list[Any] | None, str]:  # fmt: skip
    """Send ``request`` (plus a fresh nonce) to a runner started in a new sandbox.

    The runner writes :func:`started_line` before it runs any student code, then answers
    one line ``{"nonce": ..., "jobs": [one per request job]}`` on its stdout. Returns
    ``(answers, "")`` (decoded as untrusted wire data), or ``(None, why)`` when the sandbox
    could not start, died, or printed no matching answer (student code never writes
    there). ``why`` starts with :data:`GRADER_ERROR` when the runner never started (the
    sandbox or the interpreter failed before any student code ran): the grader's fault,
    not the student's.
    """
    nonce = secrets.token_hex(16)
    try:
        proc = run_sandboxed(
            argv,
            stdin=codec.dumps({**request, "nonce": nonce}),
            limits=limits,
            files=files,
            isolate=isolate,
        )
    except Exception as err:  # noqa: BLE001 - the grader failed, not the student
        return None, f"{GRADER_ERROR}the clean process could not start: {err}"
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    code = proc.returncode
    tail = " | ".join(proc.stderr.decode(errors="replace").strip().splitlines()[-3:])
    if started_line(nonce) not in lines:
        return None, (
            f"{GRADER_ERROR}the clean process failed before any student code ran "
            f"(exit status {code})" + (f": {tail}" if tail else "")
        )
    try:
        answer = codec.loads(lines[-1])
        if answer.get("nonce") != nonce or len(answer["jobs"]) != len(request["jobs"]):
            raise ValueError("answer does not match the request")
    except (IndexError, ValueError, KeyError, TypeError, AttributeError) as err:
        why = (
            "was killed (a time or memory limit, or the student's code killed it)"
            if code in (-9, 137)
            else f"exited with status {code}"
        )
        detail = str(err) if lines else "it printed nothing"
        return None, f"{why} without a valid answer ({detail})" + (f": {tail}" if tail else "")
    return list(answer["jobs"]), ""


if __name__ == "__main__":  # pragma: no cover - python -I -m relu_course.grading.runner
    serve(observe_job, max_bytes=4 * MAX_RESULT_BYTES)
