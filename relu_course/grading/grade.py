"""Autograde a class: repair, grade in parallel, merge, resume.

``grade(course, "ps1_activations")`` does, for every submission in ``submitted/``:

1. skip it when its content hash (submission + release) was merged before (resume);
   reuse a finished result of an interrupted run;
2. hand the rest to an executor (:mod:`.executors`: local worker processes, or a Dask
   cluster with ``scheduler=``), which runs :func:`.run.grade_submission` for each: a
   private course folder, the notebook repaired against the released one
   (:mod:`.repair`), :func:`.run.autograde_one` in the sandbox;
3. here, the only writer: save each verdict as it comes (resume), then merge every new
   result into ``gradebook.db`` at once (:func:`.gradebook.merge_results`) and copy the
   autograded notebooks to ``autograded/``.

A submission that exceeds the per-submission timeout is stopped (its worker killed with
its kernel) and scores what nbgrader would give it: 0, flagged. A corrupt file scores 0
and is flagged. The class always finishes. A failure of the machinery (a worker process
dies, the cluster goes away) scores nothing: the submission is listed in
``GradeSummary.infra_errors``, its gradebook row is left as it was, and the next run
grades it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .course import Course, CourseError, file_sha256, run_nbgrader
from .executors import DaskExecutor, LocalPool, OnVerdict
from .gradebook import (
    RETRY_STATUSES,
    course_id,
    ensure_assignment,
    graded_keys,
    merge_results,
)
from .results import load_results, recheck_path, state_path
from .run import INFRA_ERROR, Job, Result, Verdict, grade_submission

__all__ = ["Task", "GradeSummary", "grade", "grade_task", "load_results", "release_key"]


class Executor(Protocol):
    """Runs :func:`.run.grade_submission` for each task somewhere and calls
    ``on_verdict`` here for each (:mod:`.executors`)."""

    def run(self, tasks: list[Task], timeout: float, on_verdict: OnVerdict) -> None: ...


@dataclass
class Task:
    """One submission to grade, as the coordinator sees it (paths on this machine);
    :meth:`job` gives what a worker gets."""

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

    def job(self) -> Job:
        """The plain, picklable unit of work: the notebook's bytes and the settings."""
        return Job(
            self.assignment,
            self.student,
            self.key,
            self.template.name.rsplit("-", 1)[-1],
            self.course.submitted_notebook(self.assignment, self.student).read_bytes(),
            dict(self.max_scores),
            course_id(self.course),
            self.course.source_directory,
            self.course.release_directory,
            self.cell_timeout,
            self.renamed_from,
            self.sandbox,
            self.isolate,
        )


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
    #: not graded because the machinery failed (not merged; the next run retries them)
    infra_errors: list[Result] = field(default_factory=list)


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


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


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


def _save(task: Task, verdict: Verdict) -> Result:
    """Keep a finished verdict (the coordinator's job): ``result.json`` and the autograded
    notebook under ``task.results``, so an interrupted run reuses it. An infrastructure
    error is not kept: the next run grades the submission again."""
    result = verdict.result
    if result.status == INFRA_ERROR:
        return result
    out = task.results / task.student
    out.mkdir(parents=True, exist_ok=True)
    nb = out / f"{task.assignment}.ipynb"
    nb.unlink(missing_ok=True)
    if verdict.notebook is not None:
        nb.write_bytes(verdict.notebook)
        result.autograded = str(nb)
    _write_json(out / "result.json", result.as_dict())
    return result


def grade_task(task: Task) -> Result:
    """Grade one submission in this process (:func:`.run.grade_submission`, what every
    worker runs) and save its result (``result.json`` and the autograded notebook) under
    ``task.results``."""
    return _save(task, grade_submission(task.job(), task.template, task.workroot))


def run_pool(
    tasks: list[Task],
    jobs: int,
    timeout: float,
    on_result: Callable[[Result], None],
    executor: Executor | None = None,
) -> None:
    """Grade ``tasks`` with ``executor`` (default: ``jobs`` local worker processes; a
    task running longer than ``timeout`` seconds is stopped and reported as a timeout),
    saving each result here as it comes (resume), then passing it to ``on_result``."""
    if executor is None:
        logs = tasks[0].course.state_dir / "logs" if tasks else Path(".")
        executor = LocalPool(jobs, logs / "workers.log")
    executor.run(tasks, timeout, lambda task, verdict: on_result(_save(task, verdict)))


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
    scheduler: str | None = None,
    executor: Executor | None = None,
) -> GradeSummary:
    """Autograde every new or changed submission of ``assignment`` (all with ``force``).

    ``jobs`` local worker processes grade them (default: cores + 1), or, with
    ``scheduler`` (``tcp://HOST:8786``), the workers of that Dask cluster; ``executor``
    replaces both (:mod:`.executors`).

    Returns a :class:`GradeSummary`; raises :class:`CourseError` for an unknown
    assignment, when there is nothing in ``submitted/``, or when the cluster cannot be
    used (distributed missing, no scheduler, no workers, a worker without a sandbox).
    """
    if scheduler is not None and executor is None:
        executor = DaskExecutor(scheduler)
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
            bar.update(1)
            if res.status == INFRA_ERROR:
                summary.infra_errors.append(res)
                bar.set_postfix_str(f"{res.student}: not graded ({res.status})")
                return
            ready.append(res)
            bar.set_postfix_str(f"{res.student}: {res.score:g}/{res.max_score:g}")

        try:
            if executor is None:
                run_pool(todo, jobs, timeout, done)
            else:
                run_pool(todo, jobs, timeout, done, executor)
        finally:
            bar.close()
    if executor is not None and ready:  # how the workers ran student code, not this machine
        summary.mode = ", ".join(sorted({r.mode for r in ready if r.mode})) or summary.mode
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
        _write_json(state_path(course, assignment), {s: r.as_dict() for s, r in merged.items()})
        _save_recheck(course, assignment, [r.student for r in ready], summary.recheck)
    if students is None:
        _write_json(course.state_dir / "state" / f"{assignment}.release.json", cells)
    summary.seconds = time.perf_counter() - t0
    return summary
