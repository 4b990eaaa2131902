"""The instructor workflow behind the ``relu-course`` command (nbgrader underneath).

One module per step::

    course     where a course lives, calling nbgrader
    build      write solutions/ from the assignments/*.md text sources (stable cell ids)
    release    generate exercises/ from solutions/ and check them
    collect    LMS exports (Canvas, Moodle, folders) -> submitted/
    repair     match damaged submissions to the release, restore metadata
    run        autograde_one: the single place student code executes
    grade      parallel, resumable grading of a class (the coordinator: the only writer)
    executors  where submissions are graded: local processes or a Dask cluster
    results    the merged results grading keeps, read by the later steps
    gradebook  merge into gradebook.db (manual grades kept, one transaction), export
    export     nbgrader, Canvas and Moodle grade CSVs
    late       submission times, extensions on file, the late-penalty plugin
    deadlines  setting due dates and extensions in the gradebook
    lock       one writer at a time per course
    restore    list and restore gradebook backups
    feedback   feedback HTML without hidden tests
    report     pass rates, histogram, who needs a human
    workflow   all steps in one call; demo: the shipped demo class; toy: a tiny course
    isolation  the sandbox: bubblewrap and rlimits for every process that runs student code
    cgroup     memory and task caps of a whole sandbox
    limits     every resource limit of grading
    sandbox    nbgrader's kernels in the sandbox (configure_nbgrader)
    codec      the one wire format between grading processes
    runner     the clean process that re-runs a submission's answers
    notebook_cells  reading nbgrader notebooks: cells, metadata, hidden tests
    audit      the tamper audit
    verify     clean re-verification of ps1
    verify_torch  clean re-verification of ps2-ps4 (torch_rpc: its judge and student
               processes; torch_wire: their wire; torch_layers: models as data)
    cli        the ``relu-course`` command

This layer sits above the student library: it imports ``relu_course.checks`` and friends,
and nothing in ``relu_course`` outside this folder imports it. Install it with the
``grading`` extra (``pip install "relu-course[grading]"``).

Submodules are imported on use, so ``import relu_course.grading`` does not import
nbgrader.
"""

from __future__ import annotations

__all__ = [
    "audit",
    "build",
    "cgroup",
    "cli",
    "codec",
    "collect",
    "course",
    "deadlines",
    "demo",
    "executors",
    "export",
    "feedback",
    "grade",
    "gradebook",
    "isolation",
    "late",
    "limits",
    "lock",
    "notebook_cells",
    "release",
    "repair",
    "report",
    "restore",
    "results",
    "run",
    "runner",
    "sandbox",
    "torch_layers",
    "torch_rpc",
    "torch_wire",
    "toy",
    "verify",
    "verify_torch",
    "workflow",
]
