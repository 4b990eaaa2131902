"""Benchmark: ``relu-course grade`` (local worker processes, and a Dask cluster) vs plain
serial ``nbgrader autograde`` on a class of ps1_activations submissions.

Usage (from the repository root)::

    python scripts/bench_grading.py            # 100 submissions
    python scripts/bench_grading.py --n 20 --jobs 2
    python scripts/bench_grading.py --n 12 --jobs 2 --no-baseline   # local vs Dask only

Builds two identical temporary courses (the ps1 source and release, N submissions made
from the demo generator's answers: perfect, partly wrong, blank), releases the assignment
in both (untimed, as an instructor has done before grading), then times

- baseline: ``nbgrader autograde ps1_activations`` (one process, serial);
- relu-course: ``relu-course grade ps1_activations [--jobs J]`` (repair, sandboxed
  parallel workers, clean re-verification, merge);
- relu-course on Dask: ``relu-course grade ps1_activations --scheduler ADDRESS`` against a
  ``dask.distributed.LocalCluster`` of J worker processes with one thread each (started
  before the clock, as a cluster is running before grading; ``--no-dask`` skips it);

checks that the gradebooks give every student the same score, prints a Markdown table
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


def _relu_course_grade(course: Path, extra: list[str]) -> float:
    exe = Path(sys.executable).with_name("relu-course")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "--course", str(course), "grade", AID, *extra, "--no-progress"],
        env=nbgrader_env(),
        check=False,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if "NOT GRADED" in proc.stdout or proc.returncode not in (0, 1):
        sys.exit(f"relu-course grade {' '.join(extra)} failed:\n{proc.stdout}\n{proc.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100, help="submissions (default 100)")
    parser.add_argument(
        "--jobs", type=int, default=None, help="workers (default: relu-course's, cores + 1)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip nbgrader autograde")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask executor")
    parser.add_argument("--out", default=None, help="Markdown file (bench-results/grading.md)")
    args = parser.parse_args()
    jobs = args.jobs or (os.cpu_count() or 1) + 1
    times: dict[str, float] = {}
    scores: dict[str, dict[str, float]] = {}
    loads: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        names = ["ours"] + ([] if args.no_baseline else ["baseline"])
        names += [] if args.no_dask else ["dask"]
        for name in names:
            _course(Path(tmp) / name, args.n)
            # every course starts released, as after `relu-course release` (not timed):
            # the gradebook already knows the assignment, as it does in a running course
            proc = run_nbgrader(["generate_assignment", AID, "--force"], Path(tmp) / name)
            assert proc.returncode == 0, proc.stderr[-2000:]
        if not args.no_baseline:
            t0 = time.perf_counter()
            proc = run_nbgrader(["autograde", AID], Path(tmp) / "baseline")
            times["nbgrader autograde (serial)"] = time.perf_counter() - t0
            assert proc.returncode == 0, proc.stderr[-2000:]
            scores["baseline"] = _scores(Path(tmp) / "baseline")
        loads.append(os.getloadavg()[0])
        times[f"relu-course grade --jobs {jobs} (local processes)"] = _relu_course_grade(
            Path(tmp) / "ours", ["--jobs", str(jobs)]
        )
        scores["ours"] = _scores(Path(tmp) / "ours")
        loads.append(os.getloadavg()[0])
        if not args.no_dask:
            from distributed import LocalCluster

            with LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster:
                address = cluster.scheduler_address
                name = f"relu-course grade --scheduler (Dask, {jobs} workers x 1 thread)"
                times[name] = _relu_course_grade(Path(tmp) / "dask", ["--scheduler", address])
            scores["dask"] = _scores(Path(tmp) / "dask")
            loads.append(os.getloadavg()[0])
    same = all(s == scores["ours"] for s in scores.values())
    first = next(iter(times.values()))
    rows = [
        "| method | submissions | wall time (s) | per submission (s) | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    rows += [
        f"| {name} | {args.n} | {sec:.1f} | {sec / args.n:.2f} | {first / sec:.2f}x |"
        for name, sec in times.items()
    ]
    note = (
        f"\nMachine: {os.cpu_count()} CPUs, load average (1 min) "
        f"{', '.join(f'{x:.1f}' for x in loads)} after each run, Python "
        f"{platform.python_version()}. Scores identical in every gradebook: {same}.\n"
    )
    text = "# Grading benchmark (ps1_activations)\n\n" + "\n".join(rows) + "\n" + note
    print(text)
    out = Path(args.out) if args.out else ROOT / "bench-results" / "grading.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text, encoding="utf-8")
    if not same:
        sys.exit("the gradebooks disagree")


if __name__ == "__main__":
    main()
