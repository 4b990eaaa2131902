"""Grading on a Dask cluster (issue 16, item 5): a class graded through a
``dask.distributed.LocalCluster`` of 2 worker processes gets the same gradebook as the
local executor; a worker that dies while grading gives an infrastructure error (not a 0)
and a run that the next ``grade`` finishes; a submission past the timeout scores 0 as a
timeout and leaves no process behind; a scheduler that does not answer is a clear error."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from relu_course.grading.course import CourseError, find_course, nbgrader_env
from relu_course.grading.executors import DaskExecutor, dask_task, import_distributed
from relu_course.grading.grade import grade, load_results
from relu_course.grading.gradebook import graded_keys
from relu_course.grading.release import release
from relu_course.grading.run import INFRA_ERROR
from relu_course.grading.toy import TOY_ANSWERS, make_toy_course

os.environ["PATH"] = nbgrader_env()["PATH"]  # nbgrader calls alembic; workers inherit it
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demo"))
import make_demo  # noqa: E402

PERFECT = {k: v + "\n" for k, v in TOY_ANSWERS.items()}
CLASS = {
    "perfect": PERFECT,
    "half": {"relu": TOY_ANSWERS["relu"] + "\n"},
    "crasher": {"relu": "    import os\n    os._exit(1)\n"},
    "victim": PERFECT,  # graded normally, except where a test kills its worker
}


def test_without_distributed_the_cluster_option_says_what_to_install(monkeypatch, tmp_path):
    from relu_course.grading.cli import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    course = make_toy_course(tmp_path / "toy")
    with pytest.raises(CourseError, match=r'pip install "relu-course\[cluster\]"'):
        import_distributed()
    assert main(["--course", str(course), "grade", "toy", "--scheduler", "tcp://x:8786"]) == 2


@pytest.fixture(scope="module")
def cluster():
    import dask

    distributed = pytest.importorskip("distributed")

    # a worker that dies once fails its task at once (no retry on another worker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        with distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=40,
        ) as c:
            yield c


def _toy_class(root: Path):
    course = find_course(make_toy_course(root))
    release(course, "toy")
    for sid, answers in CLASS.items():
        nb = make_demo.fill(nbformat.read(course.release_notebook("toy"), as_version=4), answers)
        dest = course.submitted_notebook("toy", sid)
        dest.parent.mkdir(parents=True)
        nbformat.write(nb, dest)
    dest = course.submitted_notebook("toy", "corrupt")
    dest.parent.mkdir(parents=True)
    dest.write_text('{"cells": [', encoding="utf-8")
    return course


def _gradebook(course) -> dict:
    """Per student and question, what the gradebook and the saved results say (no
    timestamps, durations or paths)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(course.db_url, "toy-course") as gb:
        for sub in gb.assignment_submissions("toy"):
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[sub.student.id, g.name] = (g.auto_score, g.max_score, g.needs_manual_grade)
                for c in nb.comments:
                    out[sub.student.id, "comment", c.name] = c.auto_comment
                out[sub.student.id, "flagged"] = nb.flagged
    for sid, row in graded_keys(course, "toy").items():
        out[sid, "row"] = (row["key"], row["status"], row["cells"])
    for sid, res in load_results(course, "toy").items():
        out[sid, "result"] = (res.status, res.message, res.repairs, res.flags, res.score, res.mode)
        out[sid, "autograded"] = course.autograded_notebook("toy", sid).exists()
    return out


@pytest.mark.slow
def test_a_class_graded_on_dask_gets_the_same_gradebook_as_local_processes(cluster, tmp_path):
    local = _toy_class(tmp_path / "local")
    on_dask = find_course(shutil.copytree(local.root, tmp_path / "dask"))
    grade(local, "toy", jobs=2, cell_timeout=10, progress=False)
    summary = grade(
        on_dask, "toy", scheduler=cluster.scheduler_address, cell_timeout=10, progress=False
    )
    assert sorted(r.student for r in summary.graded) == sorted([*CLASS, "corrupt"])
    assert summary.infra_errors == []
    want, got = _gradebook(local), _gradebook(on_dask)
    assert got == want
    results = load_results(on_dask, "toy")
    scores = {s: r.score for s, r in results.items()}
    assert scores == {"perfect": 5, "victim": 5, "half": 2, "crasher": 0, "corrupt": 0}
    assert results["crasher"].status == "kernel_died" and results["corrupt"].status == "corrupt"
    # resumable on the cluster too: nothing changed, nothing regraded
    again = grade(on_dask, "toy", scheduler=cluster.scheduler_address, progress=False)
    assert again.graded == [] and sorted(again.skipped) == sorted(results)


def _dies_on_victim(job, template):
    if job.student == "victim":
        os._exit(1)  # the worker process dies in the middle of this submission
    return dask_task(job, template)


@pytest.mark.slow
def test_a_worker_dying_mid_task_is_an_infrastructure_error_and_the_run_resumes(cluster, tmp_path):
    course = _toy_class(tmp_path / "course")
    dying = DaskExecutor(cluster.scheduler_address, task_fn=_dies_on_victim)
    summary = grade(course, "toy", executor=dying, cell_timeout=10, progress=False)
    hit = {r.student: r for r in summary.infra_errors}
    assert "victim" in hit and hit["victim"].status == INFRA_ERROR
    assert "KilledWorker" in hit["victim"].message and hit["victim"].grades == []
    # not scored, not merged: no gradebook row, no saved result, no 0
    assert "victim" not in graded_keys(course, "toy")
    assert "victim" not in load_results(course, "toy")
    assert not (course.state_dir / "results" / "toy" / "victim").exists()
    graded = {r.student: r.score for r in summary.graded}
    assert all(graded[s] == {"perfect": 5, "half": 2}.get(s, 0) for s in graded)
    # the next run grades what the failure left out, and only that
    cluster.wait_for_workers(2)
    again = grade(course, "toy", scheduler=cluster.scheduler_address, progress=False)
    assert sorted(r.student for r in again.graded) == sorted(hit)
    assert again.infra_errors == [] and sorted(again.skipped) == sorted(graded)
    assert {s: r.score for s, r in load_results(course, "toy").items()} == {
        "perfect": 5,
        "victim": 5,
        "half": 2,
        "crasher": 0,
        "corrupt": 0,
    }


@pytest.mark.slow
def test_no_scheduler_at_the_address_says_how_to_start_one(tmp_path):
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    course = _toy_class(tmp_path / "course")
    executor = DaskExecutor(address, connect_timeout=2)
    with pytest.raises(CourseError, match="no Dask scheduler answered at .*dask scheduler"):
        grade(course, "toy", executor=executor, progress=False)
    assert load_results(course, "toy") == {} and graded_keys(course, "toy") == {}


@pytest.mark.slow
def test_a_submission_past_the_timeout_on_dask_scores_zero_and_its_worker_restarts(
    cluster, tmp_path
):
    import time

    course = find_course(make_toy_course(tmp_path / "course"))
    release(course, "toy")
    marker = str(71000 + os.getpid() % 9000)
    slow = (
        f"{TOY_ANSWERS['relu']}\nimport subprocess, time\n"
        f"subprocess.Popen(['sleep', '{marker}'])\ntime.sleep(600)\n"
    )
    for sid, answers in {"slow": {**PERFECT, "relu": slow}, "perfect": PERFECT}.items():
        nb = make_demo.fill(nbformat.read(course.release_notebook("toy"), as_version=4), answers)
        dest = course.submitted_notebook("toy", sid)
        dest.parent.mkdir(parents=True)
        nbformat.write(nb, dest)
    start = time.monotonic()
    summary = grade(  # 60 s: the honest submission must not time out on a loaded machine
        course, "toy", scheduler=cluster.scheduler_address, timeout=60, cell_timeout=900,
        progress=False,
    )  # fmt: skip
    assert time.monotonic() - start < 60 + 120
    results = load_results(course, "toy")
    assert (results["slow"].status, results["slow"].score) == ("timeout", 0)
    assert "grading took more than 60 s" in results["slow"].message
    assert results["perfect"].score == 5 and summary.infra_errors == []
    cluster.wait_for_workers(2)  # the restarted worker is back
    time.sleep(1.0)  # the kernel and sandbox of the stopped submission were killed
    from test_attacks import marker_processes

    assert not marker_processes(f"sleep {marker}"), "a process of the stopped submission survived"
