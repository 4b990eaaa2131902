"""Autograde a class: repair, grade in parallel, merge, resume.

``grade(course, "ps1_activations")`` does, for every submission in ``submitted/``:

1. skip it when its content hash (submission + release) was merged before (resume);
   reuse a finished worker result of an interrupted run;
2. in a worker process: copy a per-assignment template (a small gradebook made by
   ``nbgrader generate_assignment``) into a private folder, repair the notebook against
   the released one (:mod:`.repair`), run :func:`.run.autograde_one`;
3. merge every new result into ``gradebook.db`` at once (:func:`.gradebook.merge_results`)
   and copy the autograded notebooks to ``autograded/``.

A worker that exceeds the per-submission timeout is killed (with its kernel) and
replaced; the submission scores what its finished cells earned... nothing, as nbgrader
would: 0 and flagged. A corrupt file scores 0 and is flagged. The class always finishes.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .course import Course, CourseError, file_sha256, run_nbgrader
from .gradebook import (
    RETRY_STATUSES,
    course_id,
    ensure_assignment,
    graded_keys,
    merge_results,
)
from .repair import CorruptSubmission, Repair, repair_file
from .run import GradeRecord, Result, autograde_one

__all__ = ["Task", "GradeSummary", "grade", "grade_task", "load_results", "release_key"]


@dataclass
class Task:
    """Everything a worker needs to grade one submission (picklable)."""

    course: Course
    assignment: str
    student: str
    key: str
    template: Path
    workroot: Path
    results: Path
    max_scores: dict[str, float]
    cell_timeout: int = 60
    renamed_from: str | None = None
    sandbox: bool = True
    isolate: bool | None = None  # None: bubblewrap when it works; False: --unsandboxed


@dataclass
class GradeSummary:
    assignment: str
    graded: list[Result] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    backup: Path | None = None
    seconds: float = 0.0
    mode: str = ""  # how student code ran (relu_course.grading.sandbox.sandbox_mode)
    not_graded: list[tuple[str, str]] = field(default_factory=list)  # (folder, why)
    #: manual grades kept on cells that changed (see gradebook.Recheck)
    recheck: list[Any] = field(default_factory=list)
    #: why everyone was regraded: the grading parts of the source that changed
    release_changes: list[str] = field(default_factory=list)


def grading_cells(course: Course, assignment: str) -> dict[str, str]:
    """What grading depends on in the source, as a hash per part: every code cell and
    every graded or answer cell (source, points, nbgrader metadata) by its grade id or
    position, and each support file of the assignment folder. Prose (markdown without
    nbgrader grading) is left out, so fixing a typo regrades no one."""
    import nbformat

    parts: dict[str, str] = {}
    nb = nbformat.read(course.source_notebook(assignment), as_version=4)
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" and not (meta.get("grade") or meta.get("solution")):
            continue
        name = meta.get("grade_id") or f"cell {i}"
        keep = {k: meta.get(k) for k in ("grade", "solution", "points", "locked")}
        text = json.dumps([cell.cell_type, cell.source, keep], sort_keys=True)
        parts[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = course.source_notebook(assignment).parent
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix != ".ipynb" and ".ipynb_checkpoints" not in path.parts:
            parts[f"file {path.relative_to(folder).as_posix()}"] = file_sha256(path)[:16]
    return parts


def release_key(course: Course, assignment: str) -> str:
    """Hash of what grading depends on in the source (:func:`grading_cells`): a change of
    tests, points or code regrades everyone; a change of prose does not."""
    cells = grading_cells(course, assignment)
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()[:16]


def _release_changes(course: Course, assignment: str, cells: dict[str, str]) -> list[str]:
    """Which grading parts changed since the last grading (saved in the state folder)."""
    path = course.state_dir / "state" / f"{assignment}.release.json"
    if not path.exists():
        return []
    old = json.loads(path.read_text(encoding="utf-8"))
    changed = sorted(k for k in cells.keys() & old.keys() if cells[k] != old[k])
    changed += [f"{k} (new)" for k in sorted(cells.keys() - old.keys())]
    changed += [f"{k} (removed)" for k in sorted(old.keys() - cells.keys())]
    return changed


def _results_dir(course: Course, assignment: str) -> Path:
    return course.state_dir / "results" / assignment


def _state_path(course: Course, assignment: str) -> Path:
    return course.state_dir / "state" / f"{assignment}.json"


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def load_results(course: Course, assignment: str) -> dict[str, Result]:
    """The merged result of every student (as last graded), by student id."""
    path = _state_path(course, assignment)
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {sid: Result.from_dict(r) for sid, r in data.items()}


def recheck_path(course: Course, assignment: str) -> Path:
    return course.state_dir / "state" / f"{assignment}.recheck.json"


def _save_recheck(course: Course, assignment: str, regraded: list[str], new: list[Any]) -> None:
    """Keep the list of manual grades to look at again until their student is regraded."""
    path = recheck_path(course, assignment)
    old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    keep = [r for r in old if r["student"] not in regraded]
    _write_json(path, keep + [vars(r) for r in new])


def _template(course: Course, assignment: str, rkey: str) -> Path:
    """A tiny course with only this assignment in its gradebook, made once per release."""
    folder = course.state_dir / "template" / f"{assignment}-{rkey}"
    if (folder / "ok").exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    src = folder / course.source_directory / assignment
    shutil.copytree(course.source_notebook(assignment).parent, src)
    (folder / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {course_id(course)!r}\n"
        f"c.CourseDirectory.source_directory = {course.source_directory!r}\n"
        f"c.CourseDirectory.release_directory = {course.release_directory!r}\n"
        "c.ClearOutput.enabled = True\n",
        encoding="utf-8",
    )
    proc = run_nbgrader(["generate_assignment", assignment, "--force"], folder)
    if proc.returncode != 0:
        raise CourseError(
            f"nbgrader generate_assignment {assignment} failed, so nothing can be graded:\n"
            f"{proc.stderr.strip()[-2000:]}"
        )
    (folder / "ok").write_text(rkey)
    return folder


def _zero_result(task: Task, status: str, message: str) -> Result:
    grades = [GradeRecord(n, 0.0, m) for n, m in sorted(task.max_scores.items())]
    return Result(task.student, task.assignment, status, message, grades, key=task.key)


def grade_task(task: Task) -> Result:
    """Prepare a private course folder for one submission, repair it, autograde it and
    save the result (``result.json`` and the autograded notebook) under ``task.results``.
    """
    start = time.perf_counter()
    work = task.workroot / task.student
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy2(task.template / "gradebook.db", work / "gradebook.db")
    src = task.template / task.course.source_directory / task.assignment
    shutil.copytree(
        src,
        work / task.course.source_directory / task.assignment,
        ignore=shutil.ignore_patterns("*.ipynb"),
    )
    release = task.template / task.course.release_directory / task.assignment
    target = work / "submitted" / task.student / task.assignment / f"{task.assignment}.ipynb"
    repairs: list[Repair] = []
    if task.renamed_from:
        repairs.append(Repair("renamed", "", f"handed in as {task.renamed_from!r}"))
    try:
        repairs += repair_file(
            task.course.submitted_notebook(task.assignment, task.student),
            release / f"{task.assignment}.ipynb",
            target,
        )
    except CorruptSubmission as err:
        result = _zero_result(task, "corrupt", str(err))
    else:
        result = autograde_one(
            task.course,
            task.assignment,
            task.student,
            work,
            course_id=course_id(task.course),
            source_directory=task.course.source_directory,
            cell_timeout=task.cell_timeout,
            sandbox=task.sandbox,
            isolate=task.isolate,
        )
        result.key = task.key
        if not result.grades:
            result.grades = _zero_result(task, "", "").grades
    result.repairs = [r.as_dict() for r in repairs]
    out = task.results / task.student
    out.mkdir(parents=True, exist_ok=True)
    if result.autograded:
        shutil.copy2(result.autograded, out / f"{task.assignment}.ipynb")
        result.autograded = str(out / f"{task.assignment}.ipynb")
    result.seconds = time.perf_counter() - start
    _write_json(out / "result.json", result.as_dict())
    shutil.rmtree(work, ignore_errors=True)
    return result


# ---------------------------------------------------------------- worker processes


def _worker_main(conn: Connection, log: str) -> None:
    os.setpgrp()  # so a timeout can stop this worker together with what it started
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)  # kernels' chatter goes to the log, not over the progress bar
    os.environ.setdefault("RELU_COURSE_PROGRESS", "0")
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        try:
            conn.send(grade_task(task).as_dict())
        except Exception as err:  # a bug or an nbgrader crash must not stop the class
            conn.send(_zero_result(task, "error", f"{type(err).__name__}: {err}").as_dict())


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(stat.parent.name)
            found += [child, *_children(child)]
    return found


def _kill_tree(proc: mp.process.BaseProcess) -> None:
    pids = _children(proc.pid) if proc.pid and Path("/proc").is_dir() else []
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, TypeError):
        proc.kill()
    proc.join(5)


def run_pool(
    tasks: list[Task],
    jobs: int,
    timeout: float,
    on_result: Callable[[Result], None],
) -> None:
    """Grade ``tasks`` in ``jobs`` worker processes; a task running longer than
    ``timeout`` seconds is killed and reported as a timeout."""
    ctx = mp.get_context("spawn")
    logs = tasks[0].course.state_dir / "logs" if tasks else Path(".")
    logs.mkdir(parents=True, exist_ok=True)
    queue = list(reversed(tasks))
    workers: dict[Connection, tuple[Any, Task | None, float]] = {}

    def start() -> None:
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker_main, args=(child, str(logs / "workers.log")), daemon=True
        )
        proc.start()
        child.close()
        workers[parent] = (proc, None, 0.0)

    def feed(conn: Connection) -> None:
        proc = workers[conn][0]
        if queue:
            task = queue.pop()
            conn.send(task)
            workers[conn] = (proc, task, time.monotonic())
        else:
            conn.send(None)
            proc.join(10)
            del workers[conn]

    for _ in range(max(1, min(jobs, len(tasks)))):
        start()
    for conn in list(workers):
        feed(conn)
    try:
        while workers:
            for conn in wait(list(workers), timeout=0.5):
                proc, task, _ = workers[conn]
                try:
                    on_result(Result.from_dict(conn.recv()))
                except (EOFError, OSError):
                    _kill_tree(proc)
                    del workers[conn]
                    if task is not None:
                        on_result(_zero_result(task, "error", "the grading worker crashed"))
                    if queue:
                        start()
                        feed(list(workers)[-1])
                    continue
                feed(conn)
            now = time.monotonic()
            for conn, (proc, task, began) in list(workers.items()):
                if task is not None and now - began > timeout:
                    _kill_tree(proc)
                    del workers[conn]
                    on_result(
                        _zero_result(task, "timeout", f"grading took more than {timeout:.0f} s")
                    )
                    if queue:
                        start()
                        feed(list(workers)[-1])
    finally:
        for proc, _, _ in list(workers.values()):
            _kill_tree(proc)


# ---------------------------------------------------------------- the command


def grade(
    course: Course,
    assignment: str,
    *,
    students: Iterable[str] | None = None,
    force: bool = False,
    jobs: int | None = None,
    timeout: float = 600.0,
    cell_timeout: int = 60,
    progress: bool = True,
    sandbox: bool = True,
    isolate: bool | None = None,
) -> GradeSummary:
    """Autograde every new or changed submission of ``assignment`` (all with ``force``).

    Returns a :class:`GradeSummary`; raises :class:`CourseError` for an unknown
    assignment or when there is nothing in ``submitted/``.
    """
    from tqdm.auto import tqdm

    from relu_course.grading.sandbox import sandbox_mode

    from .collect import load_manifest
    from .submitted import sweep_submitted

    t0 = time.perf_counter()
    course.check_assignment(assignment)
    sweep = sweep_submitted(course, assignment)  # misnamed notebooks renamed, rest listed
    everyone = course.students(assignment)
    if students is not None:
        wanted = list(students)
        missing = [s for s in wanted if s not in everyone]
        if missing:
            raise CourseError(
                f"no submission of {assignment} for {', '.join(missing)} in "
                f"{course.root / 'submitted'}: check the id or run relu-course collect"
            )
        everyone = wanted
    if not everyone:
        raise CourseError(
            f"no submissions of {assignment} under {course.root / 'submitted'}: run "
            f"relu-course collect {assignment} EXPORT.zip first"
        )
    summary = GradeSummary(assignment, not_graded=sweep.not_graded)
    summary.mode = sandbox_mode(isolate) if sandbox else "no-sandbox"
    rkey = release_key(course, assignment)
    template = _template(course, assignment, rkey)
    ensure_assignment(course, assignment)
    from .gradebook import grade_cells

    max_scores = grade_cells(
        f"sqlite:///{template / 'gradebook.db'}", course_id(course), assignment
    )
    if max_scores != grade_cells(course.db_url, course_id(course), assignment):
        ensure_assignment(course, assignment, update=True)  # tests or points changed
    merged = load_results(course, assignment)
    in_db = graded_keys(course, assignment)  # the gradebook is the truth
    cells = grading_cells(course, assignment)
    summary.release_changes = _release_changes(course, assignment, cells)
    manifest = load_manifest(course, assignment)["students"]
    results_dir = _results_dir(course, assignment)
    todo: list[Task] = []
    ready: list[Result] = []
    for sid in everyone:
        key = hashlib.sha256(
            (file_sha256(course.submitted_notebook(assignment, sid)) + rkey).encode()
        ).hexdigest()[:24]
        db_row = in_db.get(sid, {})
        if (
            not force
            and db_row.get("key") == key
            and db_row.get("status") not in RETRY_STATUSES
            and sid in merged
            and merged[sid].key == key
        ):
            summary.skipped.append(sid)
            continue
        saved = results_dir / sid / "result.json"
        if not force and saved.exists():
            old = Result.from_dict(json.loads(saved.read_text(encoding="utf-8")))
            if old.key == key and old.status not in RETRY_STATUSES:
                ready.append(old)
                summary.reused.append(sid)
                continue
        info = manifest.get(sid, {})  # type: ignore[union-attr]
        todo.append(
            Task(
                course,
                assignment,
                sid,
                key,
                template,
                course.state_dir / "work" / f"{assignment}-{os.getpid()}",
                results_dir,
                max_scores,
                cell_timeout,
                info.get("renamed_from") or sweep.renamed.get(sid),
                sandbox,
                isolate,
            )
        )
    # one worker more than cores: a worker waits for its kernel to start and answer
    # (ZMQ handshakes, polling), so cores + 1 keeps every core busy (measured on 2
    # cores, 30 ps1 submissions: 50.3 s with 2 workers, 46.8 s with 3, 47.9 s with 4)
    jobs = jobs or (os.cpu_count() or 1) + 1
    if todo:
        bar = tqdm(total=len(todo), desc=f"grading {assignment}", unit="nb", disable=not progress)

        def done(res: Result) -> None:
            ready.append(res)
            bar.update(1)
            bar.set_postfix_str(f"{res.student}: {res.score:g}/{res.max_score:g}")

        try:
            run_pool(todo, jobs, timeout, done)
        finally:
            bar.close()
    for res in ready:  # a corrupt file or a killed worker: the mode the run had
        res.mode = res.mode or summary.mode
    summary.graded = [r for r in ready if r.student not in summary.reused]
    if ready:
        summary.backup = merge_results(course, assignment, ready, recheck=summary.recheck)
        for res in ready:
            page = course.feedback_dir(assignment, res.student) / f"{assignment}.html"
            page.unlink(missing_ok=True)  # out of date: relu-course feedback writes it again
            dest = course.autograded_notebook(assignment, res.student)
            shutil.rmtree(dest.parent, ignore_errors=True)
            if res.autograded and Path(res.autograded).exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(res.autograded, dest)
            merged[res.student] = res
        _write_json(_state_path(course, assignment), {s: r.as_dict() for s, r in merged.items()})
        _save_recheck(course, assignment, [r.student for r in ready], summary.recheck)
    if students is None:
        _write_json(course.state_dir / "state" / f"{assignment}.release.json", cells)
    summary.seconds = time.perf_counter() - t0
    return summary
