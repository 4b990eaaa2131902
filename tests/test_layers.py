"""The package is a layered house: the student library below, the grader above.

Reads every module of ``relu_course`` with :mod:`ast` (every ``import``, also the ones
inside functions) and checks:

* the student library (everything outside ``relu_course.grading``) imports neither the
  grading layer nor the grader's dependencies (nbgrader, jupyter_client, nbconvert ...);
* no two modules import each other, directly or around a longer circle;
* no module uses another module's private names (leading underscore). A package split
  into sibling modules may share helpers through its own underscore modules (``_core``,
  ``_common``, ``_hooks``, ``_registry``): those names stay inside that package;
* importing every student module really leaves the grader's dependencies unloaded;
* a plain ``pip install`` (the core dependencies) does not bring the grader.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "relu_course"
GRADING = "relu_course.grading"
GRADER_DEPENDENCIES = ("nbgrader", "jupyter_client", "nbconvert", "traitlets", "nbclient")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@dataclass(frozen=True)
class Import:
    importer: str
    line: int
    target: str  # absolute dotted name of the module imported from
    name: str | None  # the name taken from it (``from target import name``), else None


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base.pop()
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(module: str) -> list[Import]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf8"))
    found = []
    for node in ast.walk(tree):  # module level, inside functions and inside classes alike
        if isinstance(node, ast.Import):
            found += [Import(module, node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            found += [Import(module, node.lineno, target, a.name) for a in node.names]
    return found


IMPORTS: list[Import] = [imp for module in MODULES for imp in _imports(module)]


def _internal_target(imp: Import) -> str | None:
    """The relu_course module an import loads: ``from pkg import sub`` names ``pkg.sub``."""
    if imp.name and f"{imp.target}.{imp.name}" in MODULES:
        return f"{imp.target}.{imp.name}"
    return imp.target if imp.target in MODULES else None


def _student(module: str) -> bool:
    return module != GRADING and not module.startswith(GRADING + ".")


def _where(imp: Import) -> str:
    return f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line}"


def test_the_package_is_read_whole() -> None:
    # the checks below would pass vacuously on a package they do not see
    for module in (
        "relu_course.activations",
        "relu_course.activations.relu_family",
        "relu_course.torch_activations._registry",
        "relu_course.diagnostics.units",
        "relu_course.grading.verify",
    ):
        assert module in MODULES
    assert any(i.importer == "relu_course.grading.cli" and i.target.startswith("relu_course")
               for i in IMPORTS)  # fmt: skip


# ------------------------------------------------------------------------ (a) layers


def test_the_student_library_never_imports_the_grader() -> None:
    offending = [
        f"{_where(i)} imports {i.target}{'.' + i.name if i.name else ''}"
        for i in IMPORTS
        if _student(i.importer)
        and (
            not _student(_internal_target(i) or "") or i.target.split(".")[0] in GRADER_DEPENDENCIES
        )
    ]
    assert offending == [], "\n".join(offending)


# ------------------------------------------------------------------------ (b) circles


def _graph(modules: set[str]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in IMPORTS:
        target = _internal_target(imp)
        if imp.importer in modules and target in modules and target != imp.importer:
            graph[imp.importer].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_in_the_student_library() -> None:
    student = {m for m in MODULES if _student(m)}
    assert _cycles(_graph(student)) == []


def _grading_cycles() -> list[list[str]]:
    return _cycles(_graph(set(MODULES)))


def test_no_import_circle_in_the_whole_package() -> None:
    assert _grading_cycles() == []


# -------------------------------------------------------------------- (c) private names


def _private_uses() -> list[tuple[Import, str]]:
    """(import, what) for every private name taken from outside the importer's package."""
    uses = []
    for imp in IMPORTS:
        target = _internal_target(imp)
        if target is None:
            continue
        pieces = [target.removeprefix("relu_course.").split(".")[-1]]
        if imp.name and target == imp.target:
            pieces.append(imp.name)  # a name from the module, not a submodule
        private = [p for p in pieces if _is_private(p)]
        if not private:
            continue
        owner = target if _is_private(target.split(".")[-1]) else None
        # allowed: a package's own underscore module, used by a module of that package
        package = target.rsplit(".", 1)[0]
        inside = imp.importer == package or imp.importer.startswith(package + ".")
        if owner and package != "relu_course" and inside:
            continue
        uses.append((imp, f"{target}: {', '.join(private)}"))
    return uses


def _private_attributes() -> list[str]:
    """``module._name`` on a relu_course module bound by an import (``act._check``)."""
    found = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf8"))
        aliases = {}
        imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
        for node in imports:
            for alias in node.names:
                if isinstance(node, ast.ImportFrom):
                    target = f"{_resolve(module, node)}.{alias.name}"
                else:
                    target = alias.name if alias.asname else None
                if target in MODULES:
                    aliases[alias.asname or alias.name] = target
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _is_private(node.attr)
            ):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.append(f"{where} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_private_name_rule_on_examples() -> None:
    ok = Import("relu_course.activations.smooth", 1, "relu_course.activations._core", "_check")
    shared = Import(
        "relu_course.torch_activations.gated", 1, "relu_course.activations._core", "_out"
    )
    sibling = Import("relu_course.grading.verify_torch", 1, "relu_course.grading.verify", "_meta")
    global IMPORTS
    saved, IMPORTS = IMPORTS, [ok, shared, sibling]
    try:
        flagged = [imp for imp, _ in _private_uses()]
    finally:
        IMPORTS = saved
    assert flagged == [shared, sibling]


def test_the_student_library_uses_no_private_name_of_another_module() -> None:
    offending = [
        f"{_where(imp)} takes {what}" for imp, what in _private_uses() if _student(imp.importer)
    ]
    offending += [a for a in _private_attributes() if not a.startswith("relu_course/grading/")]
    assert offending == [], "\n".join(offending)


def _grading_private_uses() -> list[str]:
    uses = [f"{_where(i)} takes {w}" for i, w in _private_uses() if not _student(i.importer)]
    return uses + [a for a in _private_attributes() if a.startswith("relu_course/grading/")]


def test_the_grading_layer_uses_no_private_name_of_another_module() -> None:
    assert _grading_private_uses() == []


# --------------------------------------------------------------- (d) what really loads


def test_importing_the_student_library_loads_no_grader() -> None:
    student = sorted(m for m in MODULES if _student(m))
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in student)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {GRADER_DEPENDENCIES!r}"
        + f" or m.startswith({GRADING!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout
    assert "relu_course.checks_torch" in student and "relu_course.interactive" in student


# ------------------------------------------------------------- (e) a plain pip install


def test_a_plain_install_does_not_bring_the_grader() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf8"))["project"]

    def names(requirements: list[str]) -> set[str]:
        return {
            r.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower()
            for r in requirements
        }

    core = names(project["dependencies"])
    assert core, "no core dependencies read"
    assert not core & {"nbgrader", "jupyter-client", "jupyter_client", "nbconvert", "nbclient"}
    assert "nbgrader" in names(project["optional-dependencies"]["grading"])
    # the CLI is the grader's entry point; it lives in the grading layer
    assert project["scripts"]["relu-course"].startswith(GRADING + ".")
