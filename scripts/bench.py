"""One benchmark for relu-course: book build, chapters, grading and activations.

``make bench`` runs this file. It measures on the current machine and prints a Markdown
report, also written to ``--out`` (default ``bench-results/bench.md``, not committed):

* **machine**: CPU model and cores, memory, GPU (when torch sees CUDA), Python, torch,
  NumPy, jupyter-book and nbgrader versions, the git commit, and the load average at
  the start and the end (other work on the machine slows every number down);
* **book**: a cold ``jupyter-book build . -W --keep-going`` into a fresh temporary
  folder (its own execution cache, nothing reused), then a warm rebuild of that same
  folder with nothing changed; the execution time of each chapter, read from the
  jupyter-cache database of the cold build. With CUDA, every chapter and every
  solution notebook is also run with nbclient on ``RELU_COURSE_DEVICE=cpu`` and
  ``=cuda``;
* **grading**: ``nbgrader autograde`` of one and of ``--students`` correct submissions
  of ``--assignment`` (default ps1), per submission, against executing the same
  notebook with bare nbclient (no nbgrader, after one untimed warm-up run); parallel
  against serial grading comes from ``scripts/bench_grading.py --n --grading-n --jobs``
  (serial ``nbgrader autograde`` against ``relu-course grade --jobs``) when it exists;
* **activations**: ``scripts/bench_activations.py`` (NumPy reference, plain NumPy, torch
  mirror, torch built-in; forward and backward), its table included.

Usage::

    python scripts/bench.py                          # everything (4.5 min on 2 busy cores)
    python scripts/bench.py --only grading,activations --out /tmp/bench.md
    python scripts/bench.py --only book --keep       # keep the cold build folder
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
PARTS = ("book", "grading", "activations")
CELL_TIMEOUT = 600


# --------------------------------------------------------------------------------------
# Small helpers


def tool_env(**extra: str) -> dict[str, str]:
    """This environment with the venv's bin/ first on PATH and no ``MPLBACKEND``.

    ``MPLBACKEND`` (the Makefile exports ``Agg``) is removed, so notebooks run as on a
    student's machine: a kernel started with ``Agg`` has no inline backend and shows
    figures as the text ``<Figure size ...>``, which is also cheaper than drawing a PNG
    (the book's ``_ext/inline_figures.py`` restores PNGs, other notebooks would not).
    """
    env = dict(os.environ)
    first = [str(Path(sys.executable).parent), str(VENV_BIN)]
    env["PATH"] = os.pathsep.join([*dict.fromkeys(first), env.get("PATH", "")])
    env.pop("MPLBACKEND", None)
    env.update(PYTHONDONTWRITEBYTECODE="1", RELU_COURSE_PROGRESS="0")
    env.update(extra)
    return env


def executable(name: str) -> str:
    """Path of a console script of this environment (jupyter-book, nbgrader)."""
    found = shutil.which(name, path=tool_env()["PATH"])
    if found is None:
        raise SystemExit(f"{name} not found; install the dev extras: pip install -e '.[dev]'")
    return found


@dataclass
class Timed:
    """Wall time and outcome of one command."""

    seconds: float
    returncode: int
    tail: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def status(self) -> str:
        if self.ok:
            return "ok"
        last = [line for line in self.tail.splitlines() if line.strip()][-1:] or ["?"]
        return f"FAILED (exit {self.returncode}): {last[0][:120]}"


def run_timed(cmd: Sequence[str], cwd: Path, env: dict[str, str]) -> Timed:
    """Run ``cmd`` and time it; the last 4000 characters of its output are kept."""
    start = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    return Timed(seconds, proc.returncode, (proc.stdout + proc.stderr)[-4000:])


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table; floats get 2 decimals."""

    def cell(value: object) -> str:
        return f"{value:.2f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Machine


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_gib() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (" with uncommitted changes" if dirty else "")


def cuda_device() -> str | None:
    """Name of CUDA device 0, or None when torch sees no GPU."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine_rows(load_start: str) -> list[tuple[str, str]]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = cuda_device()
    return [
        ("date", dt.datetime.now().astimezone().isoformat(timespec="seconds")),
        ("commit", _git_commit()),
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} cores ({usable} usable)"),
        ("memory", _memory_gib()),
        ("GPU", gpu or "none (torch.cuda.is_available() is False)"),
        ("OS", platform.platform()),
        ("Python", platform.python_version()),
        ("torch / NumPy", f"{_version('torch')} / {_version('numpy')}"),
        ("jupyter-book / nbgrader", f"{_version('jupyter-book')} / {_version('nbgrader')}"),
        ("load average (1/5/15 min) at start", load_start),
    ]


# --------------------------------------------------------------------------------------
# Book: cold and warm build, chapter execution times


def bench_book(keep: bool) -> str:
    """Cold and warm strict builds in a fresh folder, and each chapter's execution time."""
    folder = Path(tempfile.mkdtemp(prefix="relu-bench-book-"))
    # _config.yml names the execution cache with a relative path (_build/.jupyter_cache),
    # which jupyter-cache resolves against the working directory: running the build
    # from `folder` puts that cache inside it, so the cold build starts with no cache.
    cmd = [executable("jupyter-book"), "build", str(REPO_ROOT), "--path-output", str(folder)]
    cmd += ["-W", "--keep-going"]
    env = tool_env()
    say(f"cold book build into {folder} (a few minutes)")
    cold = run_timed(cmd, folder, env)
    say(f"cold build: {cold.seconds:.1f} s, {cold.status()}")
    warm = run_timed(cmd, folder, env)
    say(f"warm build: {warm.seconds:.1f} s, {warm.status()}")

    html = folder / "_build" / "html"
    pages = [p for p in html.rglob("*.html") if p.relative_to(html).parts[0] != "_static"]
    size = sum(p.stat().st_size for p in html.rglob("*") if p.is_file()) / 2**20
    parts = [
        "## Book build",
        "",
        f"`jupyter-book build . -W --keep-going` into a fresh folder; {len(pages)} HTML "
        f"pages, {size:.1f} MiB in `_build/html`.",
        "",
        table(
            ["build", "wall time (s)", "result"],
            [
                ("cold (new folder, empty execution cache)", cold.seconds, cold.status()),
                ("warm (same folder, nothing changed)", warm.seconds, warm.status()),
            ],
        ),
        "",
        chapter_times(folder),
    ]
    if cuda_device():
        parts += ["", bench_notebooks_on_devices()]
    if keep:
        parts += ["", f"Cold build kept in `{folder}`."]
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return "\n".join(parts)


def _cache_folders(folder: Path) -> list[Path]:
    return [p.parent for p in folder.rglob("global.db") if p.parent.name == ".jupyter_cache"]


def chapter_times(folder: Path) -> str:
    """Execution seconds per notebook, from the cold build's jupyter-cache records."""
    from jupyter_cache import get_cache

    caches = _cache_folders(folder)
    header = "### Chapter execution (cold build, from its jupyter-cache records)"
    if not caches:
        return (
            f"{header}\n\nNo execution cache inside the build folder: _config.yml's "
            "`execute: cache:` may point elsewhere, or nothing was executed."
        )
    rows = []
    for record in get_cache(str(caches[0])).list_cache_records():
        seconds = (record.data or {}).get("execution_seconds")
        uri = Path(record.uri)
        name = uri.relative_to(REPO_ROOT) if uri.is_relative_to(REPO_ROOT) else uri
        rows.append((str(name), float(seconds) if seconds is not None else "?"))
    rows.sort()
    total = sum(s for _, s in rows if isinstance(s, float))
    rows.append(("**total**", total))
    return f"{header}\n\n" + table(["notebook", "execution (s)"], rows)


# --------------------------------------------------------------------------------------
# Notebooks with nbclient (bare execution; CPU against CUDA)


@contextlib.contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Replace ``os.environ`` by ``env`` inside the block (kernels started there inherit it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def execute_seconds(nb: object, cwd: Path, **env: str) -> float:
    """Wall time of executing notebook ``nb`` (a copy) with nbclient in ``cwd``."""
    import copy

    from nbclient import NotebookClient

    client = NotebookClient(
        copy.deepcopy(nb),
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
    )
    with environment(tool_env(**env)):
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start


def _notebooks_to_time() -> list[tuple[str, object, Path]]:
    import jupytext
    import nbformat

    found = []
    for md in sorted((REPO_ROOT / "chapters").glob("*.md")):
        nb = jupytext.read(md)
        if nb.metadata.get("kernelspec"):
            found.append((str(md.relative_to(REPO_ROOT)), nb, md.parent))
    for path in sorted((REPO_ROOT / "solutions").glob("*/*.ipynb")):
        found.append((str(path.relative_to(REPO_ROOT)), nbformat.read(path, 4), path.parent))
    return found


def bench_notebooks_on_devices() -> str:
    """Each chapter and solution notebook run with nbclient on CPU and on CUDA."""
    rows = []
    for name, nb, cwd in _notebooks_to_time():
        times = []
        for device in ("cpu", "cuda"):
            say(f"{name} on {device}")
            try:
                times.append(execute_seconds(nb, cwd, RELU_COURSE_DEVICE=device))
            except Exception as exc:  # a failing notebook is a result, not a crash
                times.append(f"failed: {type(exc).__name__}")
        ok = all(isinstance(t, float) for t in times)
        rows.append((name, *times, times[0] / times[1] if ok else "-"))
    return "### Chapters and solution notebooks, CPU against CUDA (nbclient)\n\n" + table(
        ["notebook", "RELU_COURSE_DEVICE=cpu (s)", "=cuda (s)", "cpu / cuda"], rows
    )


# --------------------------------------------------------------------------------------
# Grading: nbgrader autograde against bare nbclient; parallel against serial


def _harness() -> ModuleType:
    """tests/nbgrader_harness.py, loaded by path (``tests`` is not a package)."""
    path = REPO_ROOT / "tests" / "nbgrader_harness.py"
    spec = importlib.util.spec_from_file_location("nbgrader_harness", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def bench_grading(assignment: str, students: int, repeat: int) -> str:
    harness = _harness()
    os.environ["PATH"] = tool_env()["PATH"]  # the harness's nbgrader runs alembic
    say(f"{assignment}: generating the release and a correct submission")
    nb = harness.fill_solutions(
        harness.released_notebook(assignment), harness.solution_sources(assignment)
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="relu-bench-grading-") as tmp:
        say("bare nbclient execution, warm-up (not timed: first imports read from disk)")
        # the notebook as nbgrader runs it: same backend (the harness sets MPLBACKEND=Agg)
        # and NBGRADER_EXECUTION set, so both run exactly the same cells
        graded_env = {"MPLBACKEND": "Agg", "NBGRADER_EXECUTION": "autograde"}
        execute_seconds(nb, Path(tmp), **graded_env)
        bare = []
        for i in range(repeat):
            say(f"bare nbclient execution {i + 1}/{repeat}")
            bare.append(execute_seconds(nb, Path(tmp), **graded_env))
        bare_s = statistics.median(bare)
        rows.append((f"bare nbclient execution (median of {repeat})", bare_s, bare_s, 1.0))
        for n in sorted({1, students}):
            say(f"nbgrader autograde of {n} submission(s)")
            course = harness.generated_course(assignment, Path(tmp) / f"course-{n}")
            subs = {f"student{i:02d}": nb for i in range(n)}
            start = time.perf_counter()
            result = course.autograde(assignment, subs)
            total = time.perf_counter() - start
            full = sum(all(s.full for s in result.scores[student].values()) for student in subs)
            label = f"nbgrader autograde, {n} submission(s) in one call ({full}/{n} full marks)"
            rows.append((label, total, total / n, (total / n) / bare_s))
    parts = [
        "## Autograde against bare execution",
        "",
        f"`{assignment}` with every solution cell filled in (a correct submission). "
        "Autograde includes nbgrader's start, the gradebook and restoring the tests; "
        "`generate_assignment` is done once beforehand and not timed.",
        "",
        table(["what", "wall time (s)", "per submission (s)", "x bare"], rows),
    ]
    return "\n".join(parts)


def bench_parallel_grading(submissions: int, jobs: int | None) -> str:
    """``scripts/bench_grading.py`` (serial nbgrader against ``relu-course grade``), if present."""
    script = REPO_ROOT / "scripts" / "bench_grading.py"
    header = "## Parallel against serial grading"
    if not script.is_file():
        return f"{header}\n\nSkipped: scripts/bench_grading.py does not exist yet."
    cmd = [sys.executable, str(script), "--n", str(submissions)]
    cmd += ["--jobs", str(jobs)] if jobs else []
    say(f"{' '.join(cmd[1:])} (serial, then parallel)")
    proc = subprocess.run(
        cmd, cwd=REPO_ROOT, env=tool_env(), capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr)[-3000:]
        return (
            f"{header}\n\n`{' '.join(cmd[1:])}` exited with {proc.returncode}:\n\n```\n{log}\n```"
        )
    return f"{header}\n\n`{' '.join(cmd[1:])}`:\n\n" + _demote(proc.stdout.strip(), levels=2)


# --------------------------------------------------------------------------------------
# Activations


def _demote(markdown: str, levels: int = 1) -> str:
    """Push every heading ``levels`` down, so an included report nests under ours."""
    extra = "#" * levels
    return "\n".join(extra + ln if ln.startswith("#") else ln for ln in markdown.splitlines())


def bench_activations(out_dir: Path, size: int, repeat: int) -> str:
    out = out_dir / "activations.md"
    cmd = [sys.executable, str(REPO_ROOT / "scripts" / "bench_activations.py"), "--out", str(out)]
    cmd += ["--size", str(size), "--repeat", str(repeat)]
    say(f"scripts/bench_activations.py --size {size} --repeat {repeat}")
    result = run_timed(cmd, REPO_ROOT, tool_env())
    if not result.ok or not out.is_file():
        return f"## Activations\n\nscripts/bench_activations.py {result.status()}"
    return "## Activations, forward and backward\n\n" + _demote(out.read_text())


# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)",
    )
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench-results" / "bench.md")
    parser.add_argument("--assignment", default="ps1_activations", help="graded notebook")
    parser.add_argument("--students", type=int, default=4, help="submissions to autograde")
    parser.add_argument("--repeat", type=int, default=3, help="bare executions (median)")
    parser.add_argument(
        "--grading-n", type=int, default=100, help="submissions for parallel vs serial grading"
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="grading workers (default: relu-course's)"
    )
    parser.add_argument("--activation-size", type=int, default=1_000_000)
    parser.add_argument("--activation-repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the cold build folder")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(args.parts) - set(PARTS))
    if unknown or not args.parts:
        parser.error(f"--only {args.only!r}: choose from {', '.join(PARTS)} (comma-separated)")
    if args.students < 1 or args.repeat < 1:
        parser.error("--students and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    start, load_start = time.perf_counter(), load_average()
    sections = []
    if "book" in args.parts:
        sections.append(bench_book(args.keep))
    if "grading" in args.parts:
        sections.append(bench_grading(args.assignment, args.students, args.repeat))
        sections.append(bench_parallel_grading(args.grading_n, args.jobs))
    if "activations" in args.parts:
        sections.append(bench_activations(out_dir, args.activation_size, args.activation_repeat))
    machine = machine_rows(load_start)
    machine.append(("load average (1/5/15 min) at the end", load_average()))
    machine.append(("benchmark wall time", f"{time.perf_counter() - start:.0f} s"))
    report = "\n\n".join(
        [
            "# relu-course benchmark",
            f"Parts: {', '.join(args.parts)}. Produced by `make bench` (scripts/bench.py). "
            "Wall-clock times on this machine; a load average above the number of cores "
            "means other work shared the CPUs and the times are upper bounds.",
            "## Machine\n\n" + table(["", ""], machine),
            *sections,
        ]
    )
    print(report)
    args.out.write_text(report + "\n")
    say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
