"""``relu-course``: the instructor's command line.

::

    relu-course build [ASSIGNMENT]             write solutions/ from the assignments/*.md sources
    relu-course release [ASSIGNMENT]           generate exercises/ from solutions/, check them
    relu-course collect ASSIGNMENT EXPORT      import an LMS export (zip or folder)
    relu-course grade ASSIGNMENT               autograde new/changed submissions in parallel
    relu-course feedback ASSIGNMENT            feedback HTML per student (no hidden tests)
    relu-course export [ASSIGNMENT]            grades CSV: --format nbgrader|canvas|moodle
    relu-course report ASSIGNMENT              pass rates, histogram, who needs a human
    relu-course restore [BACKUP]               list the gradebook backups, restore one
    relu-course duedate ASSIGNMENT DATE        set a due date (the late policy applies)
    relu-course extend ASSIGNMENT STUDENT DAYS give a student an extension
    relu-course demo [FOLDER]                  all of the above on a shipped demo class
    relu-course doctor                         which sandbox protections this machine gives

Run it inside the course folder (the one with ``nbgrader_config.py``) or pass
``--course PATH``. Exit codes: 0 done, 1 done but something needs attention, 2 bad input.
Commands that write take the course's lock (:mod:`.grading.lock`): a second one refuses,
naming the running one, unless ``--wait SECONDS`` lets it wait.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from .course import Course, CourseError, find_course

__all__ = ["main", "build_parser"]

#: the commands that write to the course, one at a time (the course lock)
WRITERS = (
    "release",
    "collect",
    "grade",
    "feedback",
    "export",
    "report",
    "restore",
    "duedate",
    "extend",
)


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

    p = sub.add_parser("build", help="write solutions/<id>/<id>.ipynb from assignments/<id>.md")
    p.add_argument("assignment", nargs="?", help="assignment id (default: all)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if one is stale")
    p.add_argument("--force", action="store_true", help="overwrite notebooks edited by hand")

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
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="grade on the workers of this Dask scheduler (tcp://HOST:8786) instead of "
        "local processes; needs relu-course[cluster] here and on every worker",
    )
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

    p = sub.add_parser("export", help="grades CSV for nbgrader, Canvas or Moodle")
    p.add_argument("assignment", nargs="?")
    p.add_argument("--to", type=Path, default=None, help="output file (default: grades.csv)")
    p.add_argument(
        "--format",
        choices=["nbgrader", "canvas", "moodle"],
        default="nbgrader",
        help="nbgrader's columns (default), Canvas's or Moodle's grade import CSV",
    )
    p.add_argument(
        "--missing",
        choices=["zero", "blank"],
        default="zero",
        help="a student who did not submit gets 0 (default) or an empty cell",
    )
    p.add_argument(
        "--lms-id",
        action="append",
        default=[],
        metavar="ASSIGNMENT=ID",
        help="the LMS's id of an assignment, for Canvas's 'Name (id)' header (repeatable)",
    )

    p = sub.add_parser("report", help="class report: pass rates, histogram, needs-review list")
    p.add_argument("assignment")
    p.add_argument("--to", type=Path, default=None, help="folder (default: reports/ASSIGNMENT)")

    p = sub.add_parser("restore", help="list the gradebook backups, or restore one")
    p.add_argument("backup", nargs="?", help="its number in the list, or its file name")

    p = sub.add_parser("duedate", help="set (or clear with 'none') an assignment's due date")
    p.add_argument("assignment")
    p.add_argument("date", help="YYYY-MM-DD or 'YYYY-MM-DD HH:MM' (UTC), or none")

    p = sub.add_parser("extend", help="give a student an extension on an assignment")
    p.add_argument("assignment")
    p.add_argument("student")
    p.add_argument("days", type=float, help="days after the due date (0 removes it)")

    for name in WRITERS:
        sub.choices[name].add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait this long for another relu-course command on the course (default: "
            "refuse at once)",
        )

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


def cmd_build(course: Course, args: argparse.Namespace) -> int:
    from .build import BuildError, build

    try:
        wanted = [args.assignment] if args.assignment else None
        built = build(
            course.root,
            wanted,
            check=args.check,
            force=args.force,
            solutions=course.source_directory,
        )
    except BuildError as err:
        raise CourseError(str(err)) from err
    for item in built:
        state = ("STALE" if args.check else "written") if item.stale else "up to date"
        print(f"{item.notebook.relative_to(course.root)}: {state} (from {item.source.name})")
    return int(args.check and any(item.stale for item in built))


def cmd_release(course: Course, args: argparse.Namespace) -> int:
    from .release import release

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
    from .collect import collect

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
    if report.roster:
        print(f"student ids from {report.roster}")
    for warning in report.warnings:
        print(f"  WARNING {warning}", file=sys.stderr)
    if not report.collected:
        print("nothing was collected: see the reasons above", file=sys.stderr)
        return 1
    return 1 if report.problems and args.strict else 0


def cmd_grade(course: Course, args: argparse.Namespace) -> int:
    from .grade import grade
    from .sandbox import INSTALL_HINT, isolation

    course.check_assignment(args.assignment)  # a typo is reported before the sandbox
    if args.scheduler:
        from .executors import import_distributed

        import_distributed()  # a clear message with the pip command, before anything runs
    found = isolation()
    # on a cluster the workers run student code: their sandbox is checked there instead
    if not args.scheduler and not args.no_sandbox and not args.unsandboxed and not found.isolated:
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
        scheduler=args.scheduler,
    )
    where = f" on {args.scheduler}" if args.scheduler else ""
    print(
        f"{args.assignment}: graded {len(summary.graded)}, resumed {len(summary.reused)}, "
        f"unchanged {len(summary.skipped)} ({summary.seconds:.1f} s{where}); "
        f"mode: {summary.mode}"
    )
    flagged = 0
    for res in sorted(summary.graded, key=lambda r: r.student):
        note = "" if not res.needs_review else "  <- needs review"
        flagged += res.needs_review
        print(f"  {res.student:20s} {res.score:5g} / {res.max_score:g}  {res.status}{note}")
    for who, why in summary.not_graded:
        print(f"  {who:20s} NOT GRADED: {why}")
    for res in sorted(summary.infra_errors, key=lambda r: r.student):
        print(f"  {res.student:20s} NOT GRADED (infrastructure, not scored): {res.message}")
    if summary.infra_errors:
        print(
            f"{len(summary.infra_errors)} submission(s) hit a failure of the grading "
            f"machinery; their gradebook rows are unchanged: run relu-course grade "
            f"{args.assignment} again to grade them"
        )
    if summary.release_changes and summary.graded:
        print(
            "regraded because the tests or points of the source changed: "
            + ", ".join(summary.release_changes)
        )
    if summary.recheck:
        print(f"{len(summary.recheck)} manual grade(s) kept on a changed cell; check them:")
        for item in summary.recheck:
            print(f"  {item.line()}")
    if summary.backup:
        print(f"gradebook updated; previous copy in {summary.backup}")
    if summary.graded:
        print(f"their feedback is out of date: run relu-course feedback {args.assignment}")
    return 1 if flagged or summary.recheck or summary.not_graded or summary.infra_errors else 0


def cmd_feedback(course: Course, args: argparse.Namespace) -> int:
    from .feedback import generate_feedback

    report = generate_feedback(course, args.assignment, args.student)
    print(f"feedback for {len(report.written)} student(s) in {course.root / 'feedback'}")
    for sid in report.ungraded:
        print(f"  {sid}: could not be graded; the page says why and what to do (check it)")
    for page in report.removed:
        print(f"  removed stale {page.relative_to(course.root)}: no graded submission")
    for sid in report.leaked:
        print(f"  REMOVED feedback of {sid}: it showed a hidden test line", file=sys.stderr)
    return 1 if report.leaked or report.ungraded else 0


def cmd_export(course: Course, args: argparse.Namespace) -> int:
    from .export import export_text

    lms_ids = {}
    for item in args.lms_id:
        name, sep, ident = item.partition("=")
        if not sep or not ident:
            raise CourseError(f"--lms-id {item!r}: write it as ASSIGNMENT=ID, e.g. ps1=12345")
        lms_ids[name] = ident
    dest = args.to or course.root / "grades.csv"
    if not dest.parent.is_dir():
        raise CourseError(
            f"the folder {dest.parent} does not exist: nothing was written; create it or give "
            "--to a file in an existing folder"
        )
    text, rows = export_text(
        course, args.assignment, fmt=args.format, missing=args.missing, lms_ids=lms_ids
    )
    tmp = dest.with_name(dest.name + ".part")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {rows} row(s) ({args.format}) to {dest}")
    return 0


def cmd_report(course: Course, args: argparse.Namespace) -> int:
    from .report import build_report, write_report

    folder = write_report(course, args.assignment, args.to)
    built = build_report(course, args.assignment)
    review = built.review
    print(f"report: {folder / 'report.md'} (histogram {folder / 'scores.png'})")
    print(f"grading mode: {', '.join(sorted({r.mode or 'unknown' for r in built.results}))}")
    print(f"{len(review)} submission(s) need a human:")
    for who, why in review:
        print(f"  {who}: {why}")
    return 1 if review else 0


def cmd_restore(course: Course, args: argparse.Namespace) -> int:
    from .restore import list_backups, restore

    if not args.backup:
        backups = list_backups(course)
        if not backups:
            print(f"no backups in {course.state_dir / 'backups'}")
            return 0
        print(f"backups of {course.gradebook} (oldest first):")
        for i, item in enumerate(backups, 1):
            print(item.line(i))
        print("restore one with: relu-course restore NUMBER (the current one is saved first)")
        return 0
    chosen, saved = restore(course, args.backup)
    print(f"restored {chosen.name} as {course.gradebook}")
    if saved:
        print(f"the gradebook it replaced is in {saved}")
    print("run relu-course grade ASSIGNMENT to regrade what differs from the backup")
    return 0


def cmd_duedate(course: Course, args: argparse.Namespace) -> int:
    from .deadlines import parse_when, set_duedate

    course.check_assignment(args.assignment)
    when = None if args.date.lower() == "none" else parse_when(args.date)
    set_duedate(course, args.assignment, when)
    print(f"{args.assignment}: due {when or 'never'} (UTC); late penalties updated")
    return 0


def cmd_extend(course: Course, args: argparse.Namespace) -> int:
    from .deadlines import set_extension

    course.check_assignment(args.assignment)
    now = set_extension(course, args.assignment, args.student, args.days)
    where = "in the gradebook" if now else "kept until the submission is graded"
    print(f"{args.student}: {args.days:g} day(s) extension on {args.assignment} ({where})")
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
    from .demo import run_demo

    return run_demo(args.folder, jobs=args.jobs)


_OS_ADVICE = {
    errno.ENOSPC: "the disk is full; gradebook.db is only ever replaced whole, so it is as "
    "it was: free some space, then run the same command again",
    errno.EDQUOT: "your disk quota is used up; gradebook.db is as it was: free some space, "
    "then run the same command again",
    errno.EROFS: "the course folder is read-only; nothing was changed: run relu-course where "
    "you can write, or copy the course to a writable folder",
    errno.EACCES: "no permission to write there; nothing was changed: run relu-course as a "
    "user who can write in the course folder",
}


def _database_error(err: BaseException) -> bool:
    """A SQLite error, raw or wrapped by SQLAlchemy (nbgrader's Gradebook)."""
    import sqlite3

    return isinstance(err, sqlite3.DatabaseError) or isinstance(
        getattr(err, "orig", None), sqlite3.DatabaseError
    )


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
        if args.command not in WRITERS or getattr(args, "dry_run", False):
            return int(handler(course, args))
        from .gradebook import check_gradebook
        from .lock import course_lock

        with course_lock(course, args.command, wait=args.wait):
            if args.command != "restore":
                check_gradebook(course)
            return int(handler(course, args))
    except CourseError as err:
        print(f"relu-course {args.command}: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        if err.errno not in _OS_ADVICE:
            raise
        where = f" ({err.filename})" if err.filename else ""
        print(
            f"relu-course {args.command}: {os.strerror(err.errno)}{where}: {_OS_ADVICE[err.errno]}",
            file=sys.stderr,
        )
        return 2
    except Exception as err:
        if not _database_error(err):
            raise
        text = str(err).splitlines()[0]
        advice = (
            _OS_ADVICE[errno.ENOSPC]
            if "full" in text
            else "nothing was changed; run relu-course restore to list the backups of "
            "gradebook.db, then relu-course restore NUMBER"
        )
        message = f"relu-course {args.command}: the database failed ({text}): {advice}"
        print(message, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
