"""Benchmark: what the sandbox and the clean re-verification cost per submission.

Usage (from the repository root)::

    python scripts/bench_sandbox.py                    # every assignment, 3 runs each
    python scripts/bench_sandbox.py --repeat 5 ps2_vanishing_gradients

For each assignment, one correct submission (the reference solutions typed into the
release) is graded, median of ``--repeat`` runs:

- ``nbgrader autograde`` as it comes (the kernel has the instructor's rights);
- ``nbgrader autograde`` with sandboxed kernels (
  :func:`~relu_course.grading.sandbox.configure_nbgrader`:
  bubblewrap, rlimits);
- the clean re-verification of that submission
  (:func:`relu_course.grading.verify.verify_submission`:
  ps1 by observation batteries, ps2-ps4 by the judge/student process pair).

``relu-course grade`` pays the second and the third. The release is generated once per
course beforehand and not timed. Prints a Markdown table (and writes it with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from bench import _harness  # noqa: E402 - tests/nbgrader_harness.py, loaded by path

ASSIGNMENTS = [
    "ps1_activations",
    "ps2_vanishing_gradients",
    "ps3_dying_relu",
    "ps4_gpu_training",
]


def _say(message: str) -> None:
    print(f"[bench_sandbox {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench(assignment: str, repeat: int, tmp: Path) -> list[tuple[str, list[float]]]:
    from relu_course.grading.sandbox import bwrap_available
    from relu_course.grading.verify import verify_submission

    harness = _harness()
    release = json.loads(json.dumps(harness.released_notebook(assignment)))
    submission = harness.fill_solutions(release, harness.solution_sources(assignment))
    source = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    plain = harness.generated_course(assignment, tmp / f"{assignment}-plain")
    boxed = harness.generated_course(assignment, tmp / f"{assignment}-sandbox")
    with open(boxed.root / "nbgrader_config.py", "a", encoding="utf-8") as f:
        f.write(
            "\nfrom relu_course.grading.sandbox import configure_nbgrader\nconfigure_nbgrader(c)\n"
        )
    if not bwrap_available():
        _say("bubblewrap is not available: the 'sandboxed' row has resource limits only")
    rows: list[tuple[str, list[float]]] = [
        ("nbgrader autograde, no sandbox", []),
        ("nbgrader autograde, sandboxed kernel", []),
        ("clean re-verification", []),
    ]
    for i in range(repeat):
        for (label, times), course in zip(rows[:2], (plain, boxed), strict=True):
            _say(f"{assignment}: {label} {i + 1}/{repeat}")
            start = time.perf_counter()
            result = course.autograde(assignment, {"student": submission})  # regrades one
            times.append(time.perf_counter() - start)
            lost = [q for q, s in result.scores["student"].items() if s.lost]
            if lost:
                raise SystemExit(f"{assignment} ({label}): the reference lost points on {lost}")
        _say(f"{assignment}: clean re-verification {i + 1}/{repeat}")
        start = time.perf_counter()
        verdicts = verify_submission(
            release, json.loads(json.dumps(submission)), assignment, source_nb=source
        )
        rows[2][1].append(time.perf_counter() - start)
        failed = [v.grade_id for v in verdicts if not v.clean_passed]
        if failed:
            raise SystemExit(f"{assignment}: the reference failed the clean run on {failed}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("assignments", nargs="*", default=ASSIGNMENTS)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (3)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    # nbgrader runs the venv's `alembic`: put the interpreter's bin/ first on PATH
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    lines = [
        "| assignment | what | median (s) | runs (s) | x plain |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="relu-bench-sandbox-") as tmp:
        for assignment in args.assignments:
            rows = bench(assignment, args.repeat, Path(tmp))
            base = statistics.median(rows[0][1])
            for label, times in rows:
                med = statistics.median(times)
                runs = ", ".join(f"{t:.2f}" for t in times)
                lines.append(f"| {assignment} | {label} | {med:.2f} | {runs} | {med / base:.2f} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = "\n".join(
        [
            f"One correct submission per assignment, median of {args.repeat}; "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"1-minute load average at the end {load:.2f}.",
            "",
            *lines,
        ]
    )
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
