"""Benchmark: ``relu-course grade`` vs plain serial ``nbgrader autograde`` on a class of
ps1_activations submissions.

Usage (from the repository root)::

    python scripts/bench_grading.py            # 100 submissions
    python scripts/bench_grading.py --n 20 --jobs 2

Builds two identical temporary courses (the ps1 source and release, N submissions made
from the demo generator's answers: perfect, partly wrong, blank), releases the assignment
in both (untimed, as an instructor has done before grading), then times

- baseline: ``nbgrader autograde ps1_activations`` (one process, serial);
- relu-course: ``relu-course grade ps1_activations [--jobs J]`` (repair, sandboxed
  parallel workers, clean re-verification, merge);

checks that both gradebooks give every student the same score, prints a Markdown table
and writes it to ``bench-results/grading.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "demo"))
import make_demo  # noqa: E402

from relu_course.grading.course import nbgrader_env, run_nbgrader  # noqa: E402

AID = "ps1_activations"


def _course(folder: Path, n: int) -> None:
    folder.mkdir(parents=True)
    shutil.copy2(ROOT / "nbgrader_config.py", folder / "nbgrader_config.py")
    for sub in ("solutions", "exercises"):
        shutil.copytree(ROOT / sub / AID, folder / sub / AID)
    source = nbformat.read(ROOT / "solutions" / AID / f"{AID}.ipynb", as_version=4)
    release = nbformat.read(ROOT / "exercises" / AID / f"{AID}.ipynb", as_version=4)
    right = make_demo._answers(source)
    variants = [
        make_demo.fill(release, right),
        make_demo.fill(release, dict(right, **make_demo.WRONG)),
        release,
    ]
    for i in range(n):
        dest = folder / "submitted" / f"s{i:03d}" / AID / f"{AID}.ipynb"
        dest.parent.mkdir(parents=True)
        nbformat.write(variants[i % len(variants)], dest)


def _scores(folder: Path) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}", "relu-course") as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(AID)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument(
        "--jobs", type=int, default=None, help="workers (default: relu-course's, cores + 1)"
    )
    parser.add_argument("--out", default=None, help="Markdown file (bench-results/grading.md)")
    args = parser.parse_args()
    env = nbgrader_env()
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        base, ours = Path(tmp) / "baseline", Path(tmp) / "ours"
        _course(base, args.n)
        _course(ours, args.n)
        # both courses start released, as after `relu-course release` (not timed): the
        # gradebook already knows the assignment, as it does in a running course
        for course in (base, ours):
            assert run_nbgrader(["generate_assignment", AID, "--force"], course).returncode == 0
        t0 = time.perf_counter()
        proc = run_nbgrader(["autograde", AID], base)
        t_base = time.perf_counter() - t0
        assert proc.returncode == 0, proc.stderr[-2000:]
        exe = Path(sys.executable).with_name("relu-course")
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(exe),
                "--course",
                str(ours),
                "grade",
                AID,
                *(["--jobs", str(args.jobs)] if args.jobs else []),
                "--no-progress",
            ],
            env=env,
            check=False,
            capture_output=True,
        )
        t_ours = time.perf_counter() - t0
        same = _scores(base) == _scores(ours)
    load = os.getloadavg()[0]
    rows = [
        "| method | submissions | wall time (s) | per submission (s) | speed-up |",
        "|---|---:|---:|---:|---:|",
        f"| nbgrader autograde (serial) | {args.n} | {t_base:.1f} | "
        f"{t_base / args.n:.2f} | 1.00x |",
        f"| relu-course grade --jobs {args.jobs or 'default'} | {args.n} | {t_ours:.1f} | "
        f"{t_ours / args.n:.2f} | {t_base / t_ours:.2f}x |",
    ]
    note = (
        f"\nMachine: {os.cpu_count()} CPUs, load average {load:.1f} at the end, "
        f"Python {platform.python_version()}. Scores identical in both gradebooks: {same}.\n"
    )
    text = "# Grading benchmark (ps1_activations)\n\n" + "\n".join(rows) + "\n" + note
    print(text)
    out = Path(args.out) if args.out else ROOT / "bench-results" / "grading.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if not same:
        sys.exit("the two gradebooks disagree")


if __name__ == "__main__":
    main()
