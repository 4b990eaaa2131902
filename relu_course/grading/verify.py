"""Re-verify autograded verdicts in clean processes, and audit submissions for tampering.

nbgrader decides a test cell's score inside the student's own kernel, after the student's
code ran there: a notebook can patch ``np.allclose`` or ``relu_course.checks``, swallow the
test's exception, or return an object that equals everything. This module recomputes
every verdict whose check is a :mod:`relu_course.checks` battery without trusting that
process:

1. the student's **solution cell** for the function (matched to the release by grade id;
   by the ``def`` it contains when an editor stripped the metadata) is extracted, with
   only the student cells that define names it needs (e.g. ``sigmoid`` for
   ``sigmoid_grad``); the setup, test and scratch cells never run;
2. it runs in a **fresh sandboxed Python process** (:func:`.sandbox.run_sandboxed`)
   with a small harness that captured ``type``, ``np.ndarray`` and the NumPy functions it
   needs *before* the student's code ran; the harness calls the function on the
   battery's inputs (``observe``) and sends back plain data only (JSON: type name,
   dtype, shape, raw bytes of the result and of the input after the call), never pickle;
3. this (grader) process rebuilds each :class:`relu_course.checks.Observation` and
   ``judge``-s it against the reference.

Every other graded test cell (the torch questions of ps2-ps4) is re-verified by
:mod:`relu_course.grading.verify_torch`: the instructor's test cell runs in a judge process that
never runs student code, and the student's cells answer its calls from a second process,
as plain data over a pipe.

The question's final score is ``min(nbgrader's score, clean verdict)``; a question that
nbgrader passed and the clean verdict fails is flagged as suspected tampering, with the
reason. :func:`audit_notebook` adds flags from the notebook itself: test cells deleted,
edited, retagged or re-pointed; student code that patches the grader, installs exception
hooks, defines catch-all comparisons, kills the kernel, starts processes, touches files or
the network; test cells that never ran; resource limits hit; hidden tests printed into
outputs.

Examples
--------
>>> flags = scan_source("import numpy as np\\nnp.allclose = lambda *a, **k: True")
>>> flags[0].kind
'patches-grader'
"""

from __future__ import annotations

import ast
import base64
import builtins
import inspect
import json
import re
import secrets
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from relu_course import checks
from relu_course.grading.sandbox import Limits, run_sandboxed

__all__ = [
    "VERIFY_LIMITS",
    "Audit",
    "Flag",
    "Verdict",
    "audit_notebook",
    "battery_for",
    "batteries_in_tests",
    "check_submission",
    "exchange_sandboxed",
    "observe_clean",
    "scan_source",
    "verify_submission",
]

VERIFY_LIMITS = Limits(memory_bytes=2 * 2**30, cpu_seconds=60, wall_seconds=90, nproc=32)
MAX_RESULT_BYTES = 16 * 2**20

# The setup cell's names that a solution cell may use without defining them.
_BASE_NAMES = {"np", "numpy", "math", "torch"}


@dataclass
class Flag:
    """Something about a submission a human should look at.

    ``kind`` is a short tag (``"deleted-test-cell"``, ``"patches-grader"``, ...), ``cell``
    the grade id or position, ``reason`` the explanation; ``tampering`` marks attempts to
    gain points or hurt others (as opposed to honest damage such as stripped metadata).
    """

    kind: str
    cell: str
    reason: str
    tampering: bool = True

    def __str__(self) -> str:
        return f"[{self.kind}] {self.cell}: {self.reason}"


@dataclass
class Verdict:
    """One graded question: nbgrader's score, the clean re-verification and the final score.

    ``clean_passed`` is ``None`` when the question has no :mod:`relu_course.checks`
    battery (then ``final_score`` is nbgrader's). ``cells`` lists the submitted cells that
    ran in the clean process.
    """

    grade_id: str
    function: str
    max_score: float
    nbgrader_score: float | None
    clean_passed: bool | None
    final_score: float | None
    message: str = ""
    flags: list[Flag] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Audit:
    """Everything :func:`check_submission` found: per-question verdicts and notebook flags."""

    verdicts: list[Verdict]
    flags: list[Flag]

    @property
    def all_flags(self) -> list[Flag]:
        return self.flags + [f for v in self.verdicts for f in v.flags]

    @property
    def tampering(self) -> bool:
        return any(f.tampering for f in self.all_flags)

    def scores(self) -> dict[str, float | None]:
        """``{test grade id: final score}``."""
        return {v.grade_id: v.final_score for v in self.verdicts}


# ----------------------------------------------------------------------------- batteries


def battery_for(function: str) -> list[checks.Case] | None:
    """The ``level="full"`` battery that grades ``function``, or ``None`` if there is none.

    ``relu`` -> the relu battery, ``relu_grad`` -> the relu battery with ``grad=True``,
    ``numerical_grad`` -> its battery; anything else (e.g. a ps2 function) -> ``None``.

    Examples
    --------
    >>> len(battery_for("relu_grad")) > 10, battery_for("relu_grad")[0].grad
    (True, True)
    >>> battery_for("train_model") is None
    True
    """
    if function == "numerical_grad":
        return checks.battery("numerical_grad", level="full")
    base, grad = (function[:-5], True) if function.endswith("_grad") else (function, False)
    try:
        return checks.battery(base, grad=grad, level="full")
    except ValueError:
        return None


def batteries_in_tests(nb: Any) -> dict[str, tuple[str, list[checks.Case]]]:
    """``{test grade id: (function, cases)}`` from the check calls in a notebook's test cells.

    A test cell ``test_<fn>`` that calls ``check_activation(fn, "name", grad=..., level=...,
    **params)`` or ``check_numerical_grad(fn, level=...)`` (literal arguments) is graded by
    those batteries; the cases of all its calls are re-verified. Pass the instructor's
    source notebook to include the hidden tests. Cells without such calls are left out
    (their nbgrader score stands).

    Examples
    --------
    >>> cell = {"cell_type": "code", "source": 'check_activation(relu, "relu", level="full")',
    ...         "metadata": {"nbgrader": {"grade": True, "grade_id": "test_relu"}}}
    >>> fn, cases = batteries_in_tests({"cells": [cell]})["test_relu"]
    >>> fn, len(cases) == len(battery_for("relu"))
    ('relu', True)
    """
    found: dict[str, tuple[str, list[checks.Case]]] = {}
    for cell in _load(nb).get("cells", []):
        meta = _meta(cell)
        if not meta.get("grade") or cell.get("cell_type") != "code":
            continue
        tree = _parse(_source(cell))
        for node in ast.walk(tree) if tree is not None else []:
            cases = _call_battery(node)
            if cases is None:
                continue
            fn, new = cases
            old = found.get(meta["grade_id"], (fn, []))[1]
            found[meta["grade_id"]] = (fn, old + new)
    return found


def _call_battery(node: ast.AST) -> tuple[str, list[checks.Case]] | None:
    if not isinstance(node, ast.Call) or not node.args or not isinstance(node.args[0], ast.Name):
        return None
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    try:
        kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
        if name == "check_numerical_grad":
            return node.args[0].id, checks.battery("numerical_grad", level=kw.get("level", "basic"))
        if name == "check_activation" and len(node.args) >= 2:
            ref = ast.literal_eval(node.args[1])
            grad, level = bool(kw.pop("grad", False)), kw.pop("level", "basic")
            cases = checks.battery(ref, grad=grad, level=level, params=kw or None)
            return node.args[0].id, cases
    except (ValueError, TypeError, SyntaxError):
        return None
    return None


# ----------------------------------------------------------------------------- harness

# Runs in the sandbox. Everything it relies on is captured before the student's code
# runs; the student's stdout/stderr go to /dev/null. The parent never runs student code:
# for each question it forks a child (a clean copy of itself, so no question ever sees
# another question's cells), which runs that question's cells, observes the function and
# sends plain JSON back through a pipe; the parent relays one JSON line on a private copy
# of the original stdout, then os._exit (no student atexit hooks). The parent makes
# itself non-dumpable first, so a child cannot ptrace it or write its memory.
_HARNESS = r"""
import ast, base64, ctypes, json, math, os, select, signal, sys, time, types, warnings
import numpy as np

_type, _id, _len, _str, _list, _tuple, _bytes = type, id, len, str, list, tuple, bytes
_isinstance, _repr, _BaseException = isinstance, repr, BaseException
_ndarray, _generic, _frombuffer, _array = np.ndarray, np.generic, np.frombuffer, np.array
_tobytes, _copy = np.ndarray.tobytes, np.ndarray.copy
_errstate, _catch, _simplefilter = np.errstate, warnings.catch_warnings, warnings.simplefilter
_b64e, _b64d, _dumps = base64.b64encode, base64.b64decode, json.dumps
_write, _exit = os.write, os._exit
_qualname = type.__dict__["__qualname__"].__get__
_module = type.__dict__["__module__"].__get__
MAX = int(sys.argv[1])

request = json.loads(sys.stdin.buffer.read())
sys.stdin.close()
out_fd = os.dup(1)
null = os.open(os.devnull, os.O_WRONLY)
os.dup2(null, 1)
os.dup2(null, 2)
sys.modules["relu_course"] = None  # the reference implementation is not available here
try:
    ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 0
except _BaseException:
    pass

private = {}
exec(request["helpers"], private)
# no student code has run yet: an answer without this line is the grader's failure
_started = _dumps({"started": request["nonce"]}).encode() + b"\n"
while _started:
    _started = _started[_write(out_fd, _started):]


class _LazyTorch(types.ModuleType):
    def __getattr__(self, name):
        import torch
        return getattr(torch, name)


class _NoIPython:  # get_ipython() without IPython: magics and shell escapes do nothing

    def __new__(cls):
        return _NO_IPYTHON

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return None


_NO_IPYTHON = object.__new__(_NoIPython)


def _no_display(*args, **kwargs):
    return None


def _name(obj):
    t = _type(obj)
    if t is _ndarray:
        return "numpy.ndarray"
    name = f"{_module(t)}.{_qualname(t)}".removeprefix("builtins.")
    return name if name != "numpy.ndarray" else "numpy.ndarray<subclass>"


def _run_job(job):
    cases = []
    for c in job["cases"]:
        raw = _frombuffer(_b64d(c["x"]["bytes"]), dtype=c["x"]["dtype"])
        x = _copy(raw.reshape(c["x"]["shape"]))
        cases.append((x, c))
    namespace = {"__name__": "__main__", "np": np, "numpy": np, "math": math,
                 "torch": _LazyTorch("torch"), "get_ipython": _NoIPython,
                 "display": _no_display}
    cell_error = None
    for i, source in enumerate(job["cells"]):
        # one top-level statement at a time: a failing statement (a debugging print, a
        # call to get_ipython) does not stop the definitions after it; never more lenient
        # than the notebook in effect, since the final score is the minimum of both
        try:
            statements = ast.parse(source).body
        except _BaseException as exc:
            cell_error = f"cell {i}: {_qualname(_type(exc))}: {exc}"[:500]
            continue
        for stmt in statements:
            try:
                code = compile(ast.Module(body=[stmt], type_ignores=[]), f"<cell {i}>", "exec")
                exec(code, namespace)
            except _BaseException as exc:
                cell_error = f"cell {i}: {_qualname(_type(exc))}: {exc}"[:500]
    fn = namespace.get(job["function"])

    def _observe(x, c):
        params = dict(c["params"])
        args = (x,)
        if c["name"] == "numerical_grad":
            eps = params.pop("eps")
            args = (private[params.pop("f")], x)
            params = {} if eps is None else {"eps": eps}
        if fn is None or not callable(fn):
            return {"error": f"NameError: {job['function']} is not defined ({cell_error})"}
        with _catch(record=True) as caught, _errstate(all="ignore"):
            _simplefilter("always")
            try:
                result = fn(*args, **params)
            except _BaseException as exc:
                return {"error": f"{_qualname(_type(exc))}: {exc}"[:500], "x_after": None}
        rec = {"error": None, "type_name": _name(result), "dtype": None, "shape": None,
               "data": None, "n_warnings": _len(caught)}
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
            except _BaseException:
                data = None
        if data is not None and data.dtype.kind in "biuf" and data.nbytes <= MAX:
            rec["data"] = {"dtype": _str(data.dtype), "shape": _list(data.shape),
                           "bytes": _b64e(_tobytes(data)).decode()}
        rec["x_after"] = {"shape": _list(x.shape), "bytes": _b64e(_tobytes(x)).decode()}
        return rec

    return {"cell_error": cell_error, "observations": [_observe(x, c) for x, c in cases]}


def _child(job, w):
    try:
        os.close(out_fd)
        payload = _dumps(_run_job(job)).encode()
    except _BaseException as exc:
        payload = _dumps({"fatal": f"{_qualname(_type(exc))}: {exc}"[:500]}).encode()
    while payload:
        payload = payload[_write(w, payload):]
    _exit(0)


def _relay(job):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        _child(job, w)
    os.close(w)
    chunks, size, why = [], 0, None
    deadline = time.monotonic() + float(request["job_seconds"])
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            why = f"ran longer than {request['job_seconds']} s"
            break
        ready, _, _ = select.select([r], [], [], left)
        if not ready:
            continue
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        size += _len(chunk)
        if size > 4 * MAX:
            why = "sent too much data"
            break
        chunks.append(chunk)
    os.close(r)
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    _, status = os.waitpid(pid, 0)
    if why is None:
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            why = f"died without an answer (wait status {status})"
    return {"fatal": why}


answer = _dumps({"nonce": request["nonce"],
                 "jobs": [_relay(job) for job in request["jobs"]]}).encode() + b"\n"
while answer:
    answer = answer[_write(out_fd, answer):]
_exit(0)
"""

# Seconds one question's clean run may take inside the batch.
JOB_SECONDS = 30


def _helpers_source() -> str:
    """Source of the functions numerical_grad is tested on (from relu_course.checks)."""
    parts = ["import numpy as np"]
    for name, (fn, _) in checks.NUMGRAD_FUNCTIONS.items():
        parts.append(inspect.getsource(fn))
        parts.append(f"{name} = {fn.__name__}")
    return "\n\n".join(parts)


def _case_json(case: checks.Case) -> dict[str, Any]:
    d = case.to_dict()
    d["x"] = dict(d["x"], bytes=base64.b64encode(d["x"]["bytes"]).decode())
    return d


def _observation(case: checks.Case, rec: Mapping[str, Any]) -> checks.Observation:
    """Rebuild an Observation from the harness's plain record, checking it as untrusted."""
    if rec.get("error") is not None:
        return checks.Observation(error=str(rec["error"])[:500])
    data = None
    if rec.get("data") is not None:
        raw = base64.b64decode(rec["data"]["bytes"])
        dtype = np.dtype(rec["data"]["dtype"])
        if dtype.kind not in "biuf":
            raise ValueError(f"harness sent dtype {dtype}")
        data = np.frombuffer(raw, dtype=dtype).reshape(rec["data"]["shape"]).copy()
    after = rec.get("x_after") or {}
    x_after = np.frombuffer(base64.b64decode(after.get("bytes", "")), dtype=case.x.dtype)
    mutated = tuple(after.get("shape", ())) != case.x.shape or not np.array_equal(
        x_after.reshape(-1), case.x.reshape(-1), equal_nan=True
    )
    shape = rec.get("shape")
    return checks.Observation(
        type_name=str(rec.get("type_name", "")),
        dtype=None if rec.get("dtype") is None else str(rec["dtype"]),
        shape=None if shape is None else tuple(int(s) for s in shape),
        data=data,
        mutated=mutated,
        n_warnings=int(rec.get("n_warnings", 0)),
    )


def observe_clean(
    function: str,
    sources: Sequence[str],
    cases: Sequence[checks.Case],
    *,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> tuple[list[checks.Observation] | None, str]:
    """Run ``sources`` (cells, in order) in a fresh sandbox and observe ``function`` on ``cases``.

    Returns ``(observations, note)``; ``observations`` is ``None`` when the process gave
    no usable answer (it died, timed out or printed garbage) and ``note`` says why.

    Examples
    --------
    >>> cases = battery_for("relu")
    >>> source = "def relu(x):\\n    return np.where(x > 0, x, 0.0).astype(x.dtype)"
    >>> obs, note = observe_clean("relu", [source], cases)
    >>> [checks.judge(c, o) for c, o in zip(cases, obs, strict=True)] == [None] * len(cases), note
    (True, '')
    """
    return observe_clean_batch([(function, sources, cases)], limits=limits, isolate=isolate)[0]


#: How a message about a failure of the grader itself (not of the student's code) starts.
GRADER_ERROR = "grader error: "


def started_line(nonce: str) -> bytes:
    """The line a harness writes on its answer channel before any student code runs."""
    return json.dumps({"started": nonce}).encode()


def exchange_sandboxed(
    argv: Sequence[str], request: Mapping[str, Any], *, limits: Limits,
    files: dict[str, bytes] | None = None, isolate: bool | None = None,
) -> tuple[list[Any] | None, str]:  # fmt: skip
    """Send ``request`` (JSON, plus a fresh nonce) to a harness started in a new sandbox.

    The harness writes :func:`started_line` before it runs any student code, then
    answers one JSON line ``{"nonce": ..., "jobs": [one per request job]}`` on its
    stdout. Returns ``(answers, "")``, or ``(None, why)`` when the sandbox could not
    start, died, or printed no matching answer (student code never writes there). ``why``
    starts with :data:`GRADER_ERROR` when the harness never started (the sandbox or the
    interpreter failed before any student code ran): the grader's fault, not the student's.
    """
    nonce = secrets.token_hex(16)
    try:
        proc = run_sandboxed(
            argv,
            stdin=json.dumps({**request, "nonce": nonce}).encode(),
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
        answer = json.loads(lines[-1])
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


def observe_clean_batch(
    jobs: Sequence[tuple[str, Sequence[str], Sequence[checks.Case]]],
    *,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> list[tuple[list[checks.Observation] | None, str]]:
    """:func:`observe_clean` for several questions with ONE sandbox start.

    Each job ``(function, cells, cases)`` runs in its own process, forked from a harness
    that never runs student code, so no question sees another question's cells; the
    sandbox (bubblewrap, numpy import) is paid once per submission instead of once per
    question. Returns one ``(observations, note)`` per job, in order.
    """
    if not jobs:
        return []
    request = {
        "job_seconds": JOB_SECONDS,
        "jobs": [
            {"function": fn, "cells": list(sources), "cases": [_case_json(c) for c in cases]}
            for fn, sources, cases in jobs
        ],
        "helpers": _helpers_source(),
    }
    wall = min(limits.wall_seconds, JOB_SECONDS) * len(jobs) + 30
    answers, why = exchange_sandboxed(
        [sys.executable, "-I", "harness.py", str(MAX_RESULT_BYTES)],
        request,
        limits=replace(limits, wall_seconds=wall),
        files={"harness.py": _HARNESS.encode()},
        isolate=isolate,
    )
    if answers is None:
        note = why if why.startswith(GRADER_ERROR) else f"the clean process {why}"
        return [(None, note) for _ in jobs]
    out: list[tuple[list[checks.Observation] | None, str]] = []
    for (_, _, cases), rec in zip(jobs, answers, strict=True):
        try:
            if not isinstance(rec, dict) or "fatal" in rec:
                fatal = rec.get("fatal") if isinstance(rec, dict) else "no answer"
                raise ValueError(f"the clean run {fatal}")
            recs = rec["observations"]
            if len(recs) != len(cases):
                raise ValueError("answer does not match the request")
            out.append(([_observation(c, r) for c, r in zip(cases, recs, strict=True)], ""))
        except (ValueError, KeyError, TypeError) as err:
            out.append((None, f"the clean process gave no valid answer ({err})"))
    return out


# ----------------------------------------------------------------------------- notebooks


def _load(nb: Any) -> dict[str, Any]:
    if isinstance(nb, (str, Path)):
        return json.loads(Path(nb).read_text(encoding="utf-8"))
    return nb


def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _meta(cell: Mapping[str, Any]) -> dict[str, Any]:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})


def _by_grade_id(nb: Mapping[str, Any]) -> dict[str, list[tuple[int, dict[str, Any]]]]:
    out: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, cell in enumerate(nb.get("cells", [])):
        gid = _meta(cell).get("grade_id")
        if gid:
            out.setdefault(gid, []).append((i, cell))
    return out


def _defined_names(tree: ast.AST) -> set[str]:
    """Names a cell binds at top level (def, class, assignment, import)."""
    names: set[str] = set()
    for node in getattr(tree, "body", []):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                names |= {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def _free_names(tree: ast.AST) -> set[str]:
    """Names a cell reads that it never binds anywhere (a conservative approximation)."""
    loaded = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    bound = {
        n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)
    }
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return loaded - bound - set(dir(builtins)) - _BASE_NAMES


_IPYTHON = None


def python_source(source: str) -> str:
    """A notebook cell as plain Python: IPython's own transformer rewrites ``!cmd``,
    ``%magic`` and ``%%cell`` lines into ``get_ipython()`` calls (text only; nothing runs).

    Examples
    --------
    >>> python_source("!nvidia-smi -L\\nx = 1")
    "get_ipython().system('nvidia-smi -L')\\nx = 1\\n"
    """
    global _IPYTHON
    if "!" not in source and "%" not in source:
        return source
    try:
        if _IPYTHON is None:
            from IPython.core.inputtransformer2 import TransformerManager

            _IPYTHON = TransformerManager()
        return _IPYTHON.transform_cell(source)
    except Exception:  # noqa: BLE001 - no IPython, or text it cannot read: leave as it is
        return source


# CPython 3.11's AST construction is not safe to run in two threads at once ("SystemError:
# AST constructor recursion depth mismatch" under load): one parse at a time per process.
_PARSE_LOCK = threading.RLock()


def _parse(source: str) -> ast.AST | None:
    with _PARSE_LOCK:
        try:
            return ast.parse(python_source(source))
        except SyntaxError:
            return None


def _student_cells(
    release: Mapping[str, Any], submitted: Mapping[str, Any]
) -> list[tuple[str, str, ast.AST | None]]:
    """(label, source, tree) of every code cell the student wrote or may have changed.

    Cells identical to a release cell that is not a solution cell (setup, tests, demo)
    are the instructor's and left out; locked/test cells never count as student code.
    """
    release_sources = {
        _source(c).strip()
        for c in release.get("cells", [])
        if c.get("cell_type") == "code" and not _meta(c).get("solution")
    }
    cells = []
    for i, cell in enumerate(submitted.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        meta, src = _meta(cell), _source(cell)
        if meta.get("grade") or meta.get("locked") and not meta.get("solution"):
            continue
        if not meta.get("solution") and src.strip() in release_sources:
            continue
        cells.append((meta.get("grade_id") or f"cell {i}", src, _parse(src)))
    return cells


def _cells_for(
    function: str, student: list[tuple[str, str, ast.AST | None]]
) -> tuple[list[tuple[str, str]], list[Flag]]:
    """The cells to run for ``function``: its solution cell last, needed definitions first."""
    flags: list[Flag] = []
    target = [c for c in student if c[0] == function]
    if len(target) > 1:
        flags.append(
            Flag("duplicate-cell", function, f"{len(target)} cells share grade id {function}")
        )
    if not target:
        target = [c for c in student if c[2] is not None and function in _defined_names(c[2])][-1:]
        if not target:
            return [], flags
        flags.append(
            Flag(
                "metadata-missing",
                function,
                f"no solution cell with grade id {function!r}; used {target[0][0]}, "
                f"which defines {function}()",
                tampering=False,
            )
        )
    chosen = [target[0]]
    wanted = _free_names(target[0][2]) if target[0][2] is not None else set()
    seen: set[str] = set()
    while wanted - seen:
        name = sorted(wanted - seen)[0]
        seen.add(name)
        for cell in reversed(student):
            if cell[2] is not None and cell not in chosen and name in _defined_names(cell[2]):
                chosen.append(cell)
                wanted |= _free_names(cell[2])
                break
    order = {id(c): i for i, c in enumerate(student)}
    deps = sorted(chosen[1:], key=lambda c: order[id(c)])
    return [(c[0], c[1]) for c in [*deps, chosen[0]]], flags


def _graded_functions(release: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """(test grade id, function, points) for every release test cell ``test_<function>``."""
    ids = _by_grade_id(release)
    out = []
    for gid, cells in ids.items():
        meta = _meta(cells[0][1])
        fn = gid.removeprefix("test_")
        if meta.get("grade") and gid.startswith("test_") and fn in ids:
            out.append((gid, fn, float(meta.get("points", 0))))
    return out


def verify_submission(
    release_nb: Any,
    submitted_nb: Any,
    assignment: str,
    *,
    scores: Mapping[str, float | None] | None = None,
    source_nb: Any = None,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> list[Verdict]:
    """Re-verify every graded question of a submission in clean processes.

    Parameters
    ----------
    release_nb, submitted_nb
        The released notebook and the student's submission (path, JSON dict or nbformat
        node). The submission is matched to the release by grade id.
    assignment
        The assignment id (for messages).
    scores
        nbgrader's score per test grade id (e.g. ``{"test_relu": 1.0}``); when given, the
        final score is ``min(nbgrader, clean)`` and disagreements are flagged.
    source_nb
        The instructor's notebook: its test cells' check calls (hidden ones included)
        define what is re-verified (:func:`batteries_in_tests`); without it, the visible
        calls of the release.
    limits, isolate
        Sandbox limits of the clean run (one sandbox per submission, one forked process
        per question) and whether to use bubblewrap (``None``: when available).

    Returns
    -------
    list[Verdict]
        One per test cell ``test_<function>`` whose tests call a checks battery, then one
        per other graded test cell that uses the student's names (torch questions,
        :mod:`relu_course.grading.verify_torch`; ``function`` lists those names).
    """
    release, submitted = _load(release_nb), _load(submitted_nb)
    student = _student_cells(release, submitted)
    stubs = {
        gid: _source(cells[0][1]).strip()
        for gid, cells in _by_grade_id(release).items()
        if _meta(cells[0][1]).get("solution")
    }
    points = {gid: pts for gid, _, pts in _graded_functions(release)}
    todo = [
        (gid, fn, points[gid], cases)
        for gid, (fn, cases) in batteries_in_tests(
            source_nb if source_nb is not None else release
        ).items()
        if gid in points and cases
    ]

    # which questions have something to run, then one sandbox for all of them
    prepared = []
    for gid, fn, pts, cases in todo:
        cells, flags = _cells_for(fn, student)
        if not cells:
            skip = f"no cell of the submission defines {fn}()"
        elif cells[-1][1].strip() == stubs.get(fn):
            skip = f"{fn}() is the released stub (not attempted)"  # it raises NotImplementedError
        else:
            skip = None
        prepared.append((gid, fn, pts, cases, cells, flags, skip))
    runs = observe_clean_batch(
        [
            (fn, [python_source(src) for _, src in cells], cases)
            for _, fn, _, cases, cells, _, skip in prepared
            if skip is None
        ],
        limits=limits,
        isolate=isolate,
    )
    ran = iter(runs)
    verdicts = []
    for gid, fn, pts, cases, cells, flags, skip in prepared:
        if skip is not None:
            passed, message = False, skip
        else:
            obs, note = next(ran)
            if obs is None:
                passed, message = False, note
            else:
                failures = [m for m in map(checks.judge, cases, obs) if m is not None]
                passed = not failures
                message = failures[0] if failures else ""
        given = None if scores is None else scores.get(gid)
        verdicts.append(
            _verdict(gid, fn, pts, given, passed, message, flags, [c for c, _ in cells], assignment)
        )

    # every other graded test cell (ps2-ps4: torch questions): judged by the instructor's
    # test cell in a process that never runs student code (relu_course.grading.verify_torch).
    # A question nbgrader scored 0 stays 0 whatever the clean run says: not re-run.
    source = _load(source_nb) if source_nb is not None else release
    done = {v.grade_id for v in verdicts}
    done |= {g for g, sc in (scores or {}).items() if sc is not None and float(sc) <= 0}
    if any(
        _meta(c).get("grade")
        and not _meta(c).get("solution")
        and _meta(c).get("grade_id") not in done
        for c in source.get("cells", [])
    ):
        from relu_course.grading import verify_torch

        for job, passed, message in verify_torch.verify_torch_questions(
            release, submitted, source, skip=done, isolate=isolate
        ):
            gid = job["grade_id"]
            given = None if scores is None else scores.get(gid)
            verdicts.append(
                _verdict(
                    gid, ", ".join(job["names"]), job["points"], given, passed, message,
                    list(job["flags"]), [label for label, _ in job["cells"]], assignment,
                )
            )  # fmt: skip
    return verdicts


def _verdict(
    gid: str, fn: str, pts: float, given: float | None, passed: bool, message: str,
    flags: list[Flag], cells: list[str], assignment: str,
) -> Verdict:  # fmt: skip
    """The final score min(nbgrader, clean) of one question, and flags where they disagree.

    When the clean run failed for the grader's own reason (``message`` starts with
    :data:`GRADER_ERROR`), the question keeps nbgrader's score and gets a "grader error:
    needs review" flag, never a tampering flag.
    """
    if message.startswith(GRADER_ERROR):
        reason = message.removeprefix(GRADER_ERROR)
        flags.append(
            Flag(
                "grader-error",
                gid,
                f"grader error: needs review ({fn}): {reason}; nbgrader's score stands",
                tampering=False,
            )
        )
        return Verdict(gid, fn, pts, given, None, given, message, flags, cells)
    clean = pts if passed else 0.0
    final = clean if given is None else min(float(given), clean)
    if given is not None and float(given) > clean:
        first = message.strip().splitlines()
        flags.append(
            Flag(
                "verdict-mismatch",
                gid,
                f"SUSPECTED TAMPERING: nbgrader gave {given:g}/{pts:g} in {assignment}, "
                f"but {fn} fails when re-tested in a clean process: " + " / ".join(first[:3]),
            )
        )
    elif given is not None and float(given) < clean:
        flags.append(
            Flag(
                "verdict-mismatch",
                gid,
                f"nbgrader gave {given:g}/{pts:g} but {fn} passes in a clean process: the "
                "notebook broke it later, wrote to stderr, timed out or killed its kernel; "
                "the lower score stands",
                tampering=False,
            )
        )
    return Verdict(gid, fn, pts, given, passed, final, message, flags, cells)


# ----------------------------------------------------------------------------- audit

_MODULES = {
    "np", "numpy", "torch", "nn", "F", "relu_course", "checks", "checks_torch", "builtins",
    "math", "sys", "os",
}  # fmt: skip
_GRADER_NAMES = {
    "check_activation",
    "check_numerical_grad",
    "checks_torch",
    "isinstance",
    "type",
    "AssertionError",
    "print",
    "np",
    "numpy",
    "torch",
    "relu_course",
}
_HOOKS = {
    "set_custom_exc": "installs an IPython custom exception handler (swallows test errors)",
    "showtraceback": "replaces IPython's traceback display",
    "_showtraceback": "replaces IPython's traceback display",
    "excepthook": "replaces the exception hook",
    "input_transformers_post": "rewrites the source of later cells (the tests)",
    "input_transformers_cleanup": "rewrites the source of later cells (the tests)",
    "ast_transformers": "rewrites the code of later cells (the tests)",
    "run_cell": "replaces IPython's cell runner",
    "run_cell_async": "replaces IPython's cell runner",
    "register": "registers an IPython event hook or atexit handler",
    "InteractiveTB": "replaces the traceback formatter",
}
_DUNDERS = {
    "__eq__",
    "__ne__",
    "__bool__",
    "__array_ufunc__",
    "__array_function__",
    "__array_finalize__",
    "__array_wrap__",
    "__array_priority__",
    "__instancecheck__",
    "__subclasscheck__",
    "__getattr__",
    "__getattribute__",
    "__torch_function__",
    "__torch_dispatch__",
}
# torch's own override machinery: a mode or library kernel that answers for every op
_TORCH_OVERRIDES = {
    "TorchFunctionMode",
    "TorchDispatchMode",
    "DisableTorchFunction",
    "DisableTorchFunctionSubclass",
    "_push_on_torch_function_stack",
    "_push_on_torch_dispatch_stack",
    "Library",
    "impl",
    "custom_op",
    "register_kernel",
}
_CALLS = {
    ("os", "_exit"): ("kills-kernel", "ends the kernel process (os._exit)"),
    ("os", "kill"): ("kills-kernel", "sends a signal to a process (os.kill)"),
    ("os", "abort"): ("kills-kernel", "aborts the kernel process"),
    ("os", "killpg"): ("kills-kernel", "signals a process group"),
    ("sys", "exit"): ("kills-kernel", "exits the kernel (sys.exit)"),
    ("os", "fork"): ("processes", "forks processes"),
    ("os", "forkpty"): ("processes", "forks processes"),
    ("os", "setsid"): ("processes", "detaches a process from the kernel's session"),
    ("os", "system"): ("processes", "runs a shell command"),
    ("os", "popen"): ("processes", "runs a shell command"),
    ("os", "remove"): ("files", "deletes files"),
    ("os", "unlink"): ("files", "deletes files"),
    ("os", "rename"): ("files", "renames files"),
    ("os", "replace"): ("files", "replaces files"),
    ("os", "walk"): ("files", "walks the file system"),
    ("os", "listdir"): ("files", "lists folders"),
    ("os", "scandir"): ("files", "lists folders"),
    ("os", "chdir"): ("files", "changes the working folder"),
    ("sys", "_getframe"): ("introspection", "inspects interpreter frames"),
    ("sys", "modules"): ("introspection", "inspects sys.modules (is a kernel running me?)"),
    ("sys", "setprofile"): ("introspection", "hooks every function call"),
    ("sys", "settrace"): ("introspection", "hooks every line executed"),
}
_IMPORTS = {
    "subprocess": ("processes", "imports subprocess"),
    "multiprocessing": ("processes", "imports multiprocessing"),
    "pty": ("processes", "imports pty"),
    "signal": ("kills-kernel", "imports signal"),
    "socket": ("network", "imports socket"),
    "urllib": ("network", "imports urllib"),
    "http": ("network", "imports http"),
    "requests": ("network", "imports requests"),
    "ftplib": ("network", "imports ftplib"),
    "shutil": ("files", "imports shutil"),
    "glob": ("files", "imports glob"),
    "pathlib": ("files", "imports pathlib"),
    "sqlite3": ("files", "imports sqlite3 (the gradebook is an SQLite file)"),
    "ctypes": ("introspection", "imports ctypes (raw memory access)"),
    "gc": ("introspection", "imports gc (reaches objects it was not given)"),
    "inspect": ("introspection", "imports inspect"),
    "importlib": ("introspection", "imports importlib"),
    "builtins": ("patches-grader", "imports builtins"),
    "IPython": ("ipython-hook", "imports IPython"),
    "atexit": ("ipython-hook", "imports atexit"),
    "relu_course": ("reference", "imports the course package (its reference implementation)"),
}
_DYNAMIC = {
    "exec": "runs code built at run time (exec)",
    "eval": "runs code built at run time (eval)",
    "compile": "compiles code at run time",
    "__import__": "imports modules dynamically",
    "setattr": "sets attributes by name (setattr)",
    "globals": "reaches the notebook's global namespace",
    "get_ipython": "drives IPython itself",
    "open": "opens files",
    "exit": "exits the kernel",
    "quit": "exits the kernel",
}
_PATH_WORDS = re.compile(r"solutions|gradebook|submitted|autograded|feedback|/work/|/root|\.\./")


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


def scan_source(source: str, cell: str = "cell", *, depth: int = 0) -> list[Flag]:
    """Flags for code in one student cell that no honest answer to an exercise needs.

    Looks for: patches of NumPy/torch/relu_course/builtins (assignments, ``setattr``,
    redefining the checking functions, torch function/dispatch modes and operator
    libraries), IPython/exception hooks, catch-all comparison dunders (``__eq__``,
    ``__torch_function__``, ...) and ndarray/Tensor subclasses, killing the kernel,
    processes, files, the network, introspection and dynamic code, and paths of the
    course folders.

    Examples
    --------
    >>> [f.kind for f in scan_source("def relu(x):\\n    return np.maximum(x, 0.0)")]
    []
    >>> sorted({f.kind for f in scan_source("import os\\nos._exit(0)")})
    ['kills-kernel']
    """
    tree = _parse(source)
    if tree is None:
        return []
    flags: dict[tuple[str, str], Flag] = {}
    # `!cmd` and `%magic` lines become get_ipython() calls in the parsed text: only a
    # get_ipython the student wrote is an IPython hook; a shell escape is noted
    explicit = "get_ipython" in source
    benign = {"reference", "shell-command"}

    def add(kind: str, reason: str) -> None:
        flags.setdefault((kind, reason), Flag(kind, cell, reason, tampering=kind not in benign))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for t in targets:
                if isinstance(t, (ast.Attribute, ast.Subscript)):
                    root = _root_name(t)
                    if root in _MODULES or root == "get_ipython":
                        add("patches-grader", f"assigns to {ast.unparse(t)}")
                    if isinstance(t, ast.Attribute) and t.attr in _HOOKS:
                        add("ipython-hook", _HOOKS[t.attr])
                elif isinstance(t, ast.Name) and t.id in _GRADER_NAMES:
                    add("patches-grader", f"rebinds {t.id}, which the tests use")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name in _GRADER_NAMES:
                add("patches-grader", f"redefines {node.name}, which the tests use")
            if node.name in _DUNDERS:
                add("fake-equality", f"defines {node.name} (objects that fool comparisons)")
            if isinstance(node, ast.ClassDef):
                for base in node.bases:
                    text = ast.unparse(base)
                    if text.split(".")[-1] in ("ndarray", "Tensor", "float", "float64"):
                        add("fake-equality", f"subclasses {text}")
        elif isinstance(node, ast.Attribute):
            if node.attr == "load_digits":
                add("test-data", _TEST_DATA)
            if not explicit and _root_name(node) == "get_ipython":
                if node.attr in ("system", "getoutput"):
                    add("shell-command", "runs a shell command (a `!` line)")
                continue
            if node.attr in _HOOKS and node.attr != "register":
                add("ipython-hook", _HOOKS[node.attr])
            if node.attr in ("__class__", "__dict__", "__globals__", "__subclasses__"):
                add("introspection", f"uses {node.attr}")
            if node.attr in _TORCH_OVERRIDES - {"impl"} or (
                node.attr in ("overrides", "library", "_python_dispatch")
                and _root_name(node) == "torch"
            ):
                add("patches-grader", f"overrides torch operations ({ast.unparse(node)})")
            if node.attr in ("testing",) and _root_name(node) in ("np", "numpy", "torch"):
                add("patches-grader", f"touches {ast.unparse(node)}")
            key = (_root_name(node) or "", node.attr)
            if key in _CALLS:
                add(*_CALLS[key])
            if node.attr in ("Popen", "spawnl", "spawnv", "execv", "execvp", "fork"):
                add("processes", f"starts processes ({node.attr})")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                mods.append(node.module)
                for alias in node.names:
                    if alias.name in ("_exit", "kill", "fork", "system", "setsid"):
                        add("processes", f"imports os.{alias.name}")
            for mod in mods:
                if mod.startswith("sklearn.datasets") or mod == "relu_course.data":
                    add("test-data", _TEST_DATA)
                top = mod.split(".")[0]
                if top in _IMPORTS:
                    add(*_IMPORTS[top])
                if mod in ("numpy.testing", "torch.testing"):
                    add("patches-grader", f"imports {mod}")
                if mod in ("torch.overrides", "torch.library", "torch.utils._python_dispatch"):
                    add("patches-grader", f"imports {mod} (overrides torch operations)")
        elif isinstance(node, ast.Name) and node.id == "load_digits":
            add("test-data", _TEST_DATA)
        elif isinstance(node, ast.Name) and node.id in _DYNAMIC:
            if node.id == "get_ipython" and not explicit:
                continue
            kind = "ipython-hook" if node.id == "get_ipython" else "dynamic-code"
            kind = "files" if node.id == "open" else kind
            kind = "kills-kernel" if node.id in ("exit", "quit") else kind
            add(kind, _DYNAMIC[node.id])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _PATH_WORDS.search(node.value)
            if match:
                add("files", f"names a course path ({match.group(0)!r})")
    for magic, args in _magics(tree) if not explicit and depth < 3 else []:
        if magic in _SHELL_MAGICS:
            add("shell-command", f"runs a shell command (%{magic})")
        for text in args:  # %time np.allclose = ...: the code inside a magic counts too
            for flag in scan_source(text, cell, depth=depth + 1):
                flags.setdefault((flag.kind, flag.reason), flag)
    return list(flags.values())


_TEST_DATA = (
    "loads the digits dataset, which holds the held-out images the tests score on: check "
    "that the answer does not look them up"
)
_SHELL_MAGICS = {"system", "sx", "bash", "sh", "script", "run", "load", "writefile"}


def _magics(tree: ast.AST) -> list[tuple[str, list[str]]]:
    """``(name, [code arguments])`` of each ``get_ipython().run_*_magic`` call."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("run_line_magic", "run_cell_magic")
            and _root_name(node.func) == "get_ipython"
            and node.args
            and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
        ):
            name, *rest = [a.value for a in node.args]
            found.append((name, [t for t in rest if t.strip()]))
    return found


def _checksum(cell: Mapping[str, Any]) -> str | None:
    try:
        from nbformat import from_dict
        from nbgrader.utils import compute_checksum
    except ImportError:  # pragma: no cover - nbgrader is a grading dependency
        return None
    return compute_checksum(from_dict(dict(cell, source=_source(cell))))  # raw JSON: lists


def _text(outputs: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for out in outputs:
        parts.append(_source({"source": out.get("text", "")}))
        for value in (out.get("data") or {}).values():
            parts.append(_source({"source": value}) if isinstance(value, (str, list)) else "")
        parts.extend(out.get("traceback", []))
        parts.append(str(out.get("evalue", "")))
    return "\n".join(parts)


def _hidden_lines(source_nb: Mapping[str, Any]) -> set[str]:
    lines: set[str] = set()
    for cell in source_nb.get("cells", []):
        inside = False
        for line in _source(cell).splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) >= 20:
                lines.add(line.strip())
    return lines


def audit_notebook(
    release_nb: Any,
    submitted_nb: Any,
    *,
    autograded_nb: Any = None,
    source_nb: Any = None,
    cell_timeout: float | None = None,
) -> list[Flag]:
    """Flags for a submission: test-cell tampering, suspicious student code, run-time signs.

    ``release_nb`` is the released notebook (its test cells and points are the truth),
    ``submitted_nb`` the student's file as handed in. With ``autograded_nb`` (nbgrader's
    executed copy) it also flags test cells that never ran, resource limits hit (memory,
    processes, time) and dead kernels; with ``source_nb`` (the instructor's notebook with
    hidden tests) it flags hidden-test lines that were printed into an output (they would
    show in feedback).
    """
    release, submitted = _load(release_nb), _load(submitted_nb)
    flags: list[Flag] = []
    rel, sub = _by_grade_id(release), _by_grade_id(submitted)
    for gid, cells in sub.items():
        if len(cells) > 1:
            flags.append(Flag("duplicate-cell", gid, f"grade id {gid} appears {len(cells)} times"))
    for gid, [(_, rcell), *_] in rel.items():
        rmeta = _meta(rcell)
        if not (rmeta.get("grade") or rmeta.get("locked")):
            continue
        if gid not in sub:
            same = [
                c
                for c in submitted.get("cells", [])
                if _source(c).strip() == _source(rcell).strip()
            ]
            if same and not _meta(same[0]):
                flags.append(
                    Flag(
                        "metadata-missing",
                        gid,
                        "nbgrader metadata stripped (an editor?); restored from the release",
                        tampering=False,
                    )
                )
            else:
                flags.append(Flag("deleted-test-cell", gid, "the release's cell is missing"))
            continue
        scell = sub[gid][0][1]
        smeta = _meta(scell)
        if scell.get("cell_type") != rcell.get("cell_type"):
            flags.append(
                Flag(
                    "retagged-test-cell",
                    gid,
                    f"cell type changed from {rcell.get('cell_type')} to {scell.get('cell_type')}",
                )
            )
        for key in ("grade", "solution", "locked", "points", "task"):
            if key in rmeta and smeta.get(key) != rmeta.get(key):
                flags.append(
                    Flag(
                        "retagged-test-cell" if key != "points" else "changed-points",
                        gid,
                        f"nbgrader {key} changed from {rmeta.get(key)!r} to {smeta.get(key)!r}",
                    )
                )
        if _source(scell).strip() != _source(rcell).strip():
            flags.append(Flag("edited-test-cell", gid, "the locked cell's source was edited"))
        if "checksum" in smeta:
            expected = _checksum(scell)
            if expected is not None and smeta["checksum"] != expected:
                flags.append(
                    Flag("checksum", gid, "nbgrader checksum does not match the cell's source")
                )
    for gid, cells in sub.items():
        meta = _meta(cells[0][1])
        if gid not in rel and (meta.get("grade") or meta.get("points")):
            flags.append(
                Flag(
                    "unknown-graded-cell",
                    gid,
                    f"graded cell not in the release (points {meta.get('points')!r})",
                )
            )
    for label, src, _ in _student_cells(release, submitted):
        flags.extend(scan_source(src, label))
    if isinstance(autograded_nb, (str, Path)) and not Path(autograded_nb).is_file():
        flags.append(
            Flag(
                "not-graded",
                "notebook",
                "nbgrader produced no graded notebook (a time limit, a dead kernel or an "
                "error: see the grading log)",
            )
        )
    elif autograded_nb is not None:
        flags.extend(_runtime_flags(release, _load(autograded_nb), source_nb, cell_timeout))
    return flags


_LIMIT_ERRORS = {
    "MemoryError": "hit the memory limit",
    "BlockingIOError": "hit the process limit",
    "DeadKernelError": "the kernel died",
}
# a cell stopped by the time limit: slow or looping code, not a sign of tampering
_TIMEOUT_ERRORS = {"CellTimeoutError", "KeyboardInterrupt"}


def timeout_reason(cell_timeout: float | None = None) -> str:
    """What a timed-out cell means and what to do about it."""
    limit = f"the {cell_timeout:g} s per-cell limit" if cell_timeout else "the per-cell limit"
    return (
        f"timeout: the cell ran longer than {limit} and was stopped (an endless loop, or "
        "slow code); if the code is correct but slow, regrade this student with a larger "
        "limit: relu-course grade ASSIGNMENT --student ID --force --cell-timeout SECONDS"
    )


def _runtime_flags(
    release: Mapping[str, Any],
    autograded: Mapping[str, Any],
    source_nb: Any,
    cell_timeout: float | None = None,
) -> list[Flag]:
    flags: list[Flag] = []
    tests = {gid for gid, [(_, c), *_] in _by_grade_id(release).items() if _meta(c).get("grade")}
    hidden = _hidden_lines(_load(source_nb)) if source_nb is not None else set()
    ran = set()
    for i, cell in enumerate(autograded.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        gid = _meta(cell).get("grade_id") or f"cell {i}"
        outputs = cell.get("outputs", [])
        if gid in tests and (cell.get("execution_count") is not None or outputs):
            ran.add(gid)
        for out in outputs:
            ename = out.get("ename", "")
            if ename in _TIMEOUT_ERRORS:
                flags.append(Flag("timeout", gid, timeout_reason(cell_timeout), tampering=False))
            elif ename in _LIMIT_ERRORS:
                flags.append(Flag("resource-limit", gid, f"{_LIMIT_ERRORS[ename]} ({ename})"))
        if hidden and gid not in tests:
            text = _text(outputs)
            leaked = sorted(line for line in hidden if line in text)
            if leaked:
                flags.append(
                    Flag(
                        "hidden-test-leak",
                        gid,
                        f"{len(leaked)} hidden-test line(s) printed into this cell's output; "
                        "strip it before sharing feedback",
                    )
                )
    missing = sorted(tests - ran)
    if missing:
        flags.append(
            Flag(
                "not-executed",
                ", ".join(missing),
                "test cells never ran (the kernel died or execution stopped early)",
                # after a time limit stopped the notebook: the timeout is the story
                tampering=not any(f.kind == "timeout" for f in flags),
            )
        )
    return flags


def check_submission(
    release_nb: Any,
    submitted_nb: Any,
    assignment: str,
    *,
    scores: Mapping[str, float | None] | None = None,
    autograded_nb: Any = None,
    source_nb: Any = None,
    limits: Limits = VERIFY_LIMITS,
    isolate: bool | None = None,
) -> Audit:
    """:func:`verify_submission` and :func:`audit_notebook` together (what a grader calls)."""
    verdicts = verify_submission(
        release_nb,
        submitted_nb,
        assignment,
        scores=scores,
        source_nb=source_nb,
        limits=limits,
        isolate=isolate,
    )
    flags = audit_notebook(
        release_nb, submitted_nb, autograded_nb=autograded_nb, source_nb=source_nb
    )
    return Audit(verdicts, flags)
