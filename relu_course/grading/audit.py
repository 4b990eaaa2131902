"""The tamper audit: what a submission did to its notebook, and what its code tries.

:func:`audit_notebook` compares the submission as handed in with the release (test cells
deleted, edited, retagged or re-pointed, points changed, checksums, duplicate or unknown
graded cells), scans every student cell (:func:`scan_source`: patches of the grader,
exception hooks, catch-all comparisons, killing the kernel, processes, files, the network,
introspection, dynamic code) and, given nbgrader's executed copy, looks for test cells that
never ran, resource limits hit and hidden-test lines printed into outputs. Each finding is
a :class:`~relu_course.grading.notebook_cells.Flag` with its reason; ``tampering`` tells
attempts from honest damage. The clean re-verification is in
:mod:`relu_course.grading.verify`.

Examples
--------
>>> flags = scan_source("import numpy as np\\nnp.allclose = lambda *a, **k: True")
>>> flags[0].kind
'patches-grader'
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from relu_course.grading.notebook_cells import (
    Flag,
    cell_source,
    cells_by_grade_id,
    hidden_test_lines,
    load_notebook,
    nbgrader_meta,
    parse_cell,
    student_cells,
)

__all__ = ["audit_notebook", "scan_source", "timeout_reason"]


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
    tree = parse_cell(source)
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
    return compute_checksum(from_dict(dict(cell, source=cell_source(cell))))  # raw JSON: lists


def _text(outputs: Iterable[Mapping[str, Any]]) -> str:
    parts = []
    for out in outputs:
        parts.append(cell_source({"source": out.get("text", "")}))
        for value in (out.get("data") or {}).values():
            parts.append(cell_source({"source": value}) if isinstance(value, (str, list)) else "")
        parts.extend(out.get("traceback", []))
        parts.append(str(out.get("evalue", "")))
    return "\n".join(parts)


def _hidden_lines(source_nb: Mapping[str, Any]) -> set[str]:
    return {line for c in source_nb.get("cells", []) for line in hidden_test_lines(cell_source(c))}


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
    release, submitted = load_notebook(release_nb), load_notebook(submitted_nb)
    flags: list[Flag] = []
    rel, sub = cells_by_grade_id(release), cells_by_grade_id(submitted)
    for gid, cells in sub.items():
        if len(cells) > 1:
            flags.append(Flag("duplicate-cell", gid, f"grade id {gid} appears {len(cells)} times"))
    for gid, [(_, rcell), *_] in rel.items():
        rmeta = nbgrader_meta(rcell)
        if not (rmeta.get("grade") or rmeta.get("locked")):
            continue
        if gid not in sub:
            same = [
                c
                for c in submitted.get("cells", [])
                if cell_source(c).strip() == cell_source(rcell).strip()
            ]
            if same and not nbgrader_meta(same[0]):
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
        smeta = nbgrader_meta(scell)
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
        if cell_source(scell).strip() != cell_source(rcell).strip():
            flags.append(Flag("edited-test-cell", gid, "the locked cell's source was edited"))
        if "checksum" in smeta:
            expected = _checksum(scell)
            if expected is not None and smeta["checksum"] != expected:
                flags.append(
                    Flag("checksum", gid, "nbgrader checksum does not match the cell's source")
                )
    for gid, cells in sub.items():
        meta = nbgrader_meta(cells[0][1])
        if gid not in rel and (meta.get("grade") or meta.get("points")):
            flags.append(
                Flag(
                    "unknown-graded-cell",
                    gid,
                    f"graded cell not in the release (points {meta.get('points')!r})",
                )
            )
    for label, src, _ in student_cells(release, submitted):
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
        flags.extend(_runtime_flags(release, load_notebook(autograded_nb), source_nb, cell_timeout))
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
    tests = {
        gid
        for gid, [(_, c), *_] in cells_by_grade_id(release).items()
        if nbgrader_meta(c).get("grade")
    }
    hidden = _hidden_lines(load_notebook(source_nb)) if source_nb is not None else set()
    ran = set()
    for i, cell in enumerate(autograded.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        gid = nbgrader_meta(cell).get("grade_id") or f"cell {i}"
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
