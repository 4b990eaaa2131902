"""``relu-course``: the instructor's command line.

::

    relu-course release [ASSIGNMENT]           generate exercises/ from solutions/, check them
    relu-course collect ASSIGNMENT EXPORT      import an LMS export (zip or folder)
    relu-course grade ASSIGNMENT               autograde new/changed submissions in parallel
    relu-course feedback ASSIGNMENT            feedback HTML per student (no hidden tests)
    relu-course export [ASSIGNMENT]            grades CSV (the columns of nbgrader export)
    relu-course report ASSIGNMENT              pass rates, histogram, who needs a human
    relu-course demo [FOLDER]                  all of the above on a shipped demo class
    relu-course doctor                         which sandbox protections this machine gives

Run it inside the course folder (the one with ``nbgrader_config.py``) or pass
``--course PATH``. Exit codes: 0 done, 1 done but something needs attention, 2 bad input.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .grading.course import Course, CourseError, find_course

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``relu-course`` (all subcommands)."""
    parser = argparse.ArgumentParser(
        prog="relu-course",
        description="Instructor workflow for relu-course: release, collect, grade, feedback, "
        "export, report (nbgrader underneath).",
    )
    parser.add_argument(
        "--course",
        type=Path,
        default=None,
        help="course folder (default: the nearest folder up with nbgrader_config.py)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("release", help="generate exercises/ from solutions/ and check them")
    p.add_argument("assignment", nargs="?", help="assignment id (default: all)")

    p = sub.add_parser("collect", help="import an LMS export into submitted/")
    p.add_argument("assignment")
    p.add_argument("source", type=Path, help="the export: a .zip file or a folder")
    p.add_argument("--roster", type=Path, help="CSV with student_id (and lms_id, names, email)")
    p.add_argument("--dry-run", action="store_true", help="show the mapping, write nothing")
    p.add_argument("--strict", action="store_true", help="exit 1 when any file was not mapped")

    p = sub.add_parser("grade", help="autograde submissions (only new or changed ones)")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade every submission")
    p.add_argument(
        "--jobs", "-j", type=int, default=None, help="parallel workers (default: cores + 1)"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per submission (600)")
    p.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (60)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--unsandboxed",
        action="store_true",
        help="grade without bubblewrap (resource limits only, clean re-verification kept) "
        "where no sandbox works; student code can read the course folder",
    )
    p.add_argument(
        "--no-sandbox",
        action="store_true",
        help="UNSAFE: run student code with your rights and skip the clean re-verification",
    )

    p = sub.add_parser("feedback", help="feedback HTML per student, hidden tests removed")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")

    p = sub.add_parser("export", help="grades CSV, same columns and values as nbgrader export")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--to", type=Path, default=None, help="output file (default: grades.csv)")

    p = sub.add_parser("report", help="class report: pass rates, histogram, needs-review list")
    p.add_argument("assignment")
    p.add_argument("--to", type=Path, default=None, help="folder (default: reports/ASSIGNMENT)")

    p = sub.add_parser("demo", help="run the whole workflow on the shipped demo class")
    p.add_argument(
        "folder", nargs="?", type=Path, help="where to build it (default: a temp folder)"
    )
    p.add_argument("--jobs", "-j", type=int, default=None)

    sub.add_parser("doctor", help="which sandbox protections this machine gives (yes/no)")
    return parser


def _course(args: argparse.Namespace) -> Course:
    if args.course is not None and not (args.course / "nbgrader_config.py").is_file():
        raise CourseError(f"{args.course} has no nbgrader_config.py: is it a course folder?")
    return find_course(args.course)


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    from .grading.release import release

    ids = [args.assignment] if args.assignment else course.assignments()
    if not ids:
        raise CourseError(f"no assignments under {course.root / course.source_directory}")
    status = 0
    for aid in ids:
        report = release(course, aid)
        if report.ok:
            print(
                f"released {aid}: {course.release_notebook(aid).relative_to(course.root)} "
                "(no solution text, solution validates)"
            )
        else:
            status = 1
            print(f"released {aid} WITH PROBLEMS:")
            for problem in report.problems:
                print(f"  - {problem}")
    return status


def cmd_collect(course: Course, args: argparse.Namespace) -> int:
    from .grading.collect import collect

    report = collect(course, args.assignment, args.source, roster=args.roster, dry_run=args.dry_run)
    verb = "would collect" if args.dry_run else "collected"
    print(f"{verb} {len(report.collected)} submission(s) of {args.assignment} from {args.source}")
    for item in report.collected:
        extra = f" (renamed from {item.renamed_from!r})" if item.renamed_from else ""
        late = " LATE" if item.late else ""
        print(f"  {item.student:20s} <- {item.source}{extra}{late} [{item.status}]")
    for problem in report.problems:
        print(f"  NOT COLLECTED {problem.source}: {problem.reason}")
    for ignored in report.ignored:
        print(f"  ignored {ignored}")
    if not report.collected:
        print("nothing was collected: see the reasons above", file=sys.stderr)
        return 1
    return 1 if report.problems and args.strict else 0


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    from .grading.grade import grade
    from .sandbox import INSTALL_HINT, isolation

    course.check_assignment(args.assignment)  # a typo is reported before the sandbox
    found = isolation()
    if not args.no_sandbox and not args.unsandboxed and not found.isolated:
        raise CourseError(f"no sandbox here ({found.why_not}): {INSTALL_HINT}")
    if args.unsandboxed and not args.no_sandbox:
        print(
            "WARNING: --unsandboxed: student code runs with resource limits only (it can "
            "read solutions/ and the course folder); the clean re-verification still runs.",
            file=sys.stderr,
        )
    if args.no_sandbox:
        print(
            "WARNING: --no-sandbox: student code runs with YOUR rights (it can read "
            "solutions/, rewrite gradebook.db, reach the network) and verdicts are not "
            "re-verified. Use it only for trusted notebooks.",
            file=sys.stderr,
        )
    summary = grade(
        course,
        args.assignment,
        students=args.student,
        force=args.force,
        jobs=args.jobs,
        timeout=args.timeout,
        cell_timeout=args.cell_timeout,
        progress=not args.no_progress,
        sandbox=not args.no_sandbox,
        isolate=False if args.unsandboxed else None,
    )
    print(
        f"{args.assignment}: graded {len(summary.graded)}, resumed {len(summary.reused)}, "
        f"unchanged {len(summary.skipped)} ({summary.seconds:.1f} s); mode: {summary.mode}"
    )
    flagged = 0
    for res in sorted(summary.graded, key=lambda r: r.student):
        note = "" if not res.needs_review else "  <- needs review"
        flagged += res.needs_review
        print(f"  {res.student:20s} {res.score:5g} / {res.max_score:g}  {res.status}{note}")
    for who, why in summary.not_graded:
        print(f"  {who:20s} NOT GRADED: {why}")
    if summary.backup:
        print(f"gradebook updated; previous copy in {summary.backup}")
    return 1 if flagged or summary.not_graded else 0


def cmd_feedback(course: Course, args: argparse.Namespace) -> int:
    from .grading.feedback import generate_feedback

    report = generate_feedback(course, args.assignment, args.student)
    print(f"feedback for {len(report.written)} student(s) in {course.root / 'feedback'}")
    for sid in report.leaked:
        print(f"  REMOVED feedback of {sid}: it showed a hidden test line", file=sys.stderr)
    return 1 if report.leaked else 0


def cmd_export(course: Course, args: argparse.Namespace) -> int:
    from .grading.gradebook import export_csv

    text = export_csv(course, args.assignment)
    dest = args.to or course.root / "grades.csv"
    dest.write_text(text, encoding="utf-8")
    print(f"wrote {text.count(chr(10)) - 1} row(s) to {dest}")
    return 0


def cmd_report(course: Course, args: argparse.Namespace) -> int:
    from .grading.report import build_report, write_report

    folder = write_report(course, args.assignment, args.to)
    built = build_report(course, args.assignment)
    review = built.review
    print(f"report: {folder / 'report.md'} (histogram {folder / 'scores.png'})")
    print(f"grading mode: {', '.join(sorted({r.mode or 'unknown' for r in built.results}))}")
    print(f"{len(review)} submission(s) need a human:")
    for who, why in review:
        print(f"  {who}: {why}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    """Print each protection of the sandbox on this machine; 1 when there is no sandbox."""
    from .sandbox import INSTALL_HINT, isolation

    found = isolation()
    print(f"sandbox mode: {found.mode}" + (f" ({found.why_not})" if found.why_not else ""))
    for line in found.lines():
        print(f"  {line}")
    if not found.isolated:
        print(f"to sandbox student code: {INSTALL_HINT}")
    return 0 if found.isolated else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from .grading.demo import run_demo

    return run_demo(args.folder, jobs=args.jobs)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``relu-course`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    # nbgrader's gradebook runs the `alembic` executable from PATH: the one installed
    # next to this Python, so the command works from a venv that is not activated
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    try:
        if args.command in ("demo", "doctor"):
            return int(globals()[f"cmd_{args.command}"](args))
        course = _course(args)
        handler = globals()[f"cmd_{args.command}"]
        return int(handler(course, args))
    except CourseError as err:
        print(f"relu-course {args.command}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
