"""collect: LMS names to student ids, renamed files, problems reported, sources untouched."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from relu_course.grading.collect import collect, load_manifest, parse_name
from relu_course.grading.course import CourseError, find_course
from relu_course.grading.toy import make_toy_course

NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


@pytest.mark.parametrize(
    ("path", "lms", "name", "lms_id", "late", "filename"),
    [
        (
            "doejane_12345_6789012_ps1_activations.ipynb",
            "canvas",
            "doejane",
            "12345",
            False,
            "ps1_activations.ipynb",
        ),
        (
            "doejane_LATE_12345_6789012_ps1_activations-1.ipynb",
            "canvas",
            "doejane",
            "12345",
            True,
            "ps1_activations-1.ipynb",
        ),
        ("export/smith-jones_7_8_hw.ipynb", "canvas", "smith-jones", "7", False, "hw.ipynb"),
        (
            "Jane Doe_123456_assignsubmission_file_/ps1_activations (1).ipynb",
            "moodle",
            "Jane Doe",
            "123456",
            False,
            "ps1_activations (1).ipynb",
        ),
        (
            "a/b/Jane Doe_123456_assignsubmission_file_/x.ipynb",
            "moodle",
            "Jane Doe",
            "123456",
            False,
            "x.ipynb",
        ),
        (
            "Jane Doe_123456_assignsubmission_file_ps1.ipynb",
            "moodle",
            "Jane Doe",
            "123456",
            False,
            "ps1.ipynb",
        ),
        ("jdoe/ps1_activations.ipynb", "folder", "jdoe", "", False, "ps1_activations.ipynb"),
    ],
)
def test_parse_name(path, lms, name, lms_id, late, filename):
    owner = parse_name(path)
    assert owner is not None
    assert (owner.lms, owner.name, owner.lms_id, owner.late, owner.filename) == (
        lms,
        name,
        lms_id,
        late,
        filename,
    )


def test_parse_name_gives_up_on_a_loose_file():
    assert parse_name("ps1_activations.ipynb") is None


@pytest.fixture
def course(tmp_path):
    return find_course(make_toy_course(tmp_path / "course"))


def _export(folder: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def _hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_collect_maps_canvas_moodle_and_folders_and_never_touches_the_source(course, tmp_path):
    files = {
        "doejane_12345_1_toy.ipynb": NB,
        "roeric_LATE_222_2_toy (1).ipynb": NB + b" ",
        "Ann Lee_333_assignsubmission_file_/Copy of toy.ipynb": NB + b"  ",
        "Ann Lee_333_assignsubmission_file_/notes.txt": b"hi",
        "nested/deeper/ozzy/homework.ipynb": NB + b"   ",
        "__MACOSX/._doejane_12345_1_toy.ipynb": b"junk",
        "loose.ipynb": NB,
    }
    src = _export(tmp_path / "export", files)
    before = _hashes(src)
    report = collect(course, "toy", src)
    assert _hashes(src) == before
    got = {c.student: c for c in report.collected}
    assert sorted(got) == ["ann_lee", "doejane", "ozzy", "roeric"]
    assert got["roeric"].late and got["roeric"].renamed_from == "toy (1).ipynb"
    assert got["ann_lee"].renamed_from == "Copy of toy.ipynb"
    assert got["ozzy"].renamed_from == "homework.ipynb"
    assert got["doejane"].renamed_from is None
    for sid, item in got.items():
        stored = course.submitted_notebook("toy", sid)
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == item.sha256
    assert [p.source for p in report.problems] == ["loose.ipynb"]
    assert "whose file" in report.problems[0].reason
    assert any("notes.txt" in i for i in report.ignored)
    assert set(load_manifest(course, "toy")["students"]) == set(got)


def test_collect_from_zip_with_roster(course, tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("submissions/doejane_12345_1_toy.ipynb", NB)
        zf.writestr("submissions/Ann Lee_333_assignsubmission_file_/toy.ipynb", NB)
        zf.writestr("submissions/stranger_999_3_toy.ipynb", NB)
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "student_id,lms_id,first_name,last_name\ns001,12345,Jane,Doe\ns002,,Ann,Lee\n"
    )
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    report = collect(course, "toy", archive, roster=roster)
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before
    assert sorted(c.student for c in report.collected) == ["s001", "s002"]
    assert len(report.problems) == 1 and "not on the roster" in report.problems[0].reason


def test_collect_again_reports_unchanged_and_replaced(course, tmp_path):
    src = _export(tmp_path / "e1", {"a/toy.ipynb": NB, "b/toy.ipynb": NB})
    collect(course, "toy", src)
    (src / "b" / "toy.ipynb").write_bytes(NB + b"\n")
    report = collect(course, "toy", src)
    assert {c.student: c.status for c in report.collected} == {"a": "unchanged", "b": "replaced"}


def test_two_notebooks_for_one_student_is_a_problem_not_a_guess(course, tmp_path):
    src = _export(
        tmp_path / "e", {"a/draft.ipynb": NB, "a/final.ipynb": NB + b" ", "b/toy.ipynb": NB}
    )
    report = collect(course, "toy", src)
    assert [c.student for c in report.collected] == ["b"]
    assert "cannot tell which one" in report.problems[0].reason


def test_dry_run_writes_nothing(course, tmp_path):
    src = _export(tmp_path / "e", {"a/toy.ipynb": NB})
    report = collect(course, "toy", src, dry_run=True)
    assert [c.student for c in report.collected] == ["a"]
    assert not (course.root / "submitted").exists()


@pytest.mark.parametrize("kind", ["empty_zip", "no_notebooks", "missing", "not_zip"])
def test_bad_exports_raise_a_clear_error(course, tmp_path, kind):
    path = tmp_path / "export.zip"
    if kind == "empty_zip":
        zipfile.ZipFile(path, "w").close()
    elif kind == "no_notebooks":
        path = _export(tmp_path / "e", {"a/readme.txt": b"x"})
    elif kind == "not_zip":
        path.write_bytes(b"this is no zip")
    with pytest.raises(CourseError, match="no .ipynb|does not exist|not a zip"):
        collect(course, "toy", path)


def test_unknown_assignment_names_the_known_ones(course, tmp_path):
    with pytest.raises(CourseError, match="unknown assignment 'ps9'.*Known assignments: toy"):
        collect(course, "ps9", tmp_path)


def test_roster_without_student_id_column_is_rejected(course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("name,email\nAnn,a@x\n")
    src = _export(tmp_path / "e", {"a/toy.ipynb": NB})
    with pytest.raises(CourseError, match="student_id"):
        collect(course, "toy", src, roster=roster)
