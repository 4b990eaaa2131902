"""Import submissions the way an LMS exports them into nbgrader's ``submitted/`` folder.

Understood names (one archive may mix them; nested folders are fine)::

    Canvas   doejane_12345_6789012_ps1_activations.ipynb         (name_userid_subid_file)
             doejane_LATE_12345_6789012_ps1_activations-1.ipynb  (late, resubmitted)
    Moodle   Jane Doe_123456_assignsubmission_file_/ps1_activations (1).ipynb
    folder   jdoe/ps1_activations.ipynb                          (folder = student id)

Each student becomes ``submitted/<student>/<assignment>/<assignment>.ipynb``. A student
with one notebook under another name (``ps1_activations (1).ipynb``, ``Copy of ...``,
``my_homework.ipynb``) is collected under the right name and the rename is recorded.
With a roster CSV (column ``student_id``; optional ``lms_id``, ``first_name``,
``last_name``, ``email``) LMS ids and names map to roster ids; without one the LMS name
becomes the id. The archive or folder given is only ever read.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from .course import Course, CourseError, file_sha256

__all__ = [
    "CollectReport",
    "Collected",
    "Problem",
    "Roster",
    "collect",
    "parse_name",
    "pick_notebook",
    "load_manifest",
]

_CANVAS = re.compile(
    r"^(?P<name>[a-z0-9-]+?)(?P<late>_late)?_(?P<uid>\d+)_(?P<subid>\d+)_(?P<file>.+)$",
    re.IGNORECASE,
)
_MOODLE = re.compile(
    r"^(?P<name>.+?)_(?P<uid>\d+)_assign(?:submission|feedback)_[a-z]+_?(?P<file>.*)$",
    re.IGNORECASE,
)
_COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|-\d+|\s+copy(\s*\d+)?|_copy)$", re.IGNORECASE)
_SKIP_PARTS = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store"}


@dataclass(frozen=True)
class Owner:
    """Whose file: the LMS that named it, the name and id the LMS used, late or not."""

    lms: str
    name: str
    lms_id: str
    late: bool
    filename: str


@dataclass
class Collected:
    student: str
    source: str
    lms: str
    sha256: str
    late: bool = False
    renamed_from: str | None = None
    status: str = "new"  # new | unchanged | replaced
    submitted_at: str | None = None  # UTC time of the file in the export


@dataclass
class Problem:
    source: str
    reason: str


@dataclass
class CollectReport:
    assignment: str
    collected: list[Collected] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    roster: str = ""  # where the ids came from

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def parse_name(path: str) -> Owner | None:
    """Tell whose file ``path`` (relative, ``/``-separated) is from its LMS-style name.

    Examples
    --------
    >>> parse_name("doejane_LATE_12345_6789012_ps1_activations.ipynb")
    Owner(lms='canvas', name='doejane', lms_id='12345', late=True, filename='ps1_activations.ipynb')
    >>> parse_name("export/Jane Doe_123456_assignsubmission_file_/ps1 (1).ipynb").name
    'Jane Doe'
    >>> parse_name("jdoe/ps1_activations.ipynb").lms
    'folder'
    >>> parse_name("lonely.ipynb") is None
    True
    """
    parts = PurePosixPath(path).parts
    base = parts[-1]
    for part in parts[:-1]:
        m = _MOODLE.match(part)
        if m and not m["file"]:
            return Owner("moodle", m["name"].strip(), m["uid"], False, base)
    m = _MOODLE.match(base)
    if m and m["file"]:
        return Owner("moodle", m["name"].strip(), m["uid"], False, m["file"])
    m = _CANVAS.match(base)
    if m:
        return Owner("canvas", m["name"], m["uid"], bool(m["late"]), m["file"])
    if len(parts) >= 2:
        return Owner("folder", parts[-2], "", False, base)
    return None


def _fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: 'Jane Doé' -> 'janedoe'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_text.lower())


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


class Roster:
    """Student ids from a CSV with a ``student_id`` column (and optionally ``lms_id``,
    ``first_name``, ``last_name``, ``email``); looks up LMS ids and names."""

    def __init__(self, path: Path | None, rows: list[dict[str, str]] | None = None) -> None:
        self.source = "the roster stored in gradebook.db" if path is None else str(path)
        if path is not None:
            if not path.is_file():
                raise CourseError(
                    f"roster file {path} does not exist: nothing was collected; give the path "
                    "of your roster CSV (student_id, lms_id, first_name, last_name, email)"
                )
            with path.open(newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
            if not rows or "student_id" not in rows[0]:
                raise CourseError(
                    f"roster {path} needs a header row with a 'student_id' column "
                    "(optional: lms_id, first_name, last_name, email)"
                )
        self.rows = rows or []
        self._keys: dict[str, str] = {}
        for row in rows:
            sid = row["student_id"].strip()
            first, last = row.get("first_name", "").strip(), row.get("last_name", "").strip()
            keys = [sid, row.get("lms_id", ""), row.get("email", "").split("@")[0]]
            if first or last:
                keys += [f"{first} {last}", f"{last} {first}", row.get("name", "")]
            for key in keys:
                if _fold(key):
                    self._keys.setdefault(_fold(key), sid)

    def lookup(self, owner: Owner) -> str | None:
        for key in (owner.lms_id, owner.name):
            if _fold(key) in self._keys:
                return self._keys[_fold(key)]
        return None


def _entries(source: Path) -> Iterator[tuple[str, bytes, dt.datetime]]:
    """(relative path, bytes, time in UTC) of every file in a zip or folder, junk
    skipped."""
    if source.is_dir():
        for path in sorted(source.rglob("*")):
            rel = path.relative_to(source).as_posix()
            if path.is_file() and not _junk(rel):
                when = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
                yield rel, path.read_bytes(), when
    else:
        try:
            with zipfile.ZipFile(source) as zf:
                for info in zf.infolist():
                    if not info.is_dir() and not _junk(info.filename):
                        when = dt.datetime(*info.date_time).astimezone().astimezone(dt.UTC)
                        yield info.filename, zf.read(info), when
        except zipfile.BadZipFile as err:
            raise CourseError(f"{source} is not a zip archive or a folder ({err})") from err


def _exchange_times(entries: list[tuple[str, bytes, dt.datetime]]) -> dict[str, dt.datetime]:
    """Folder -> the time in its ``timestamp.txt`` (nbgrader's exchange writes one beside
    each submission), as aware UTC."""
    from nbgrader.utils import parse_utc

    found = {}
    for rel, data, _ in entries:
        path = PurePosixPath(rel)
        if path.name == "timestamp.txt":
            try:
                when = parse_utc(data.decode("utf-8", "replace").strip())
            except Exception:  # noqa: BLE001, S112  (a damaged file: use the file time)
                continue
            found[str(path.parent)] = when.replace(tzinfo=dt.UTC)
    return found


def _junk(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return any(p in _SKIP_PARTS or p.startswith("._") for p in parts)


def _canonical(filename: str) -> str:
    """'Copy of ps1 (1).ipynb' -> 'ps1'."""
    stem = filename[:-6] if filename.lower().endswith(".ipynb") else filename
    stem = re.sub(r"^copy of\s+", "", stem.strip(), flags=re.IGNORECASE)
    while _COPY_SUFFIX.search(stem):
        stem = _COPY_SUFFIX.sub("", stem)
    return stem.strip()


def pick_notebook(assignment: str, files: list[tuple[str, bytes]]) -> int | None:
    """Which of one student's ``(file name, content)`` notebooks is ``assignment``'s.

    The one whose name is the assignment's up to copy suffixes (``Copy of ps1 (1)``);
    the exact name when several such copies are identical; the only notebook; else
    ``None`` (the student must say).

    >>> pick_notebook("ps1", [("notes.ipynb", b"a"), ("ps1 (1).ipynb", b"b")])
    1
    >>> pick_notebook("ps1", [("homework.ipynb", b"a")]), pick_notebook("ps1", [])
    (0, None)
    """
    named = [i for i, (name, _) in enumerate(files) if _canonical(name) == assignment]
    exact = [i for i in named if files[i][0] == f"{assignment}.ipynb"]
    if len(named) == 1:
        return named[0]
    if len(exact) == 1 and len(named) > 1 and len({files[i][1] for i in named}) == 1:
        return exact[0]
    if len(files) == 1:
        return 0
    return None


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "student"


def collect(
    course: Course,
    assignment: str,
    source: Path,
    *,
    roster: Path | None = None,
    dry_run: bool = False,
) -> CollectReport:
    """Copy the submissions in ``source`` (a zip or a folder) into the course.

    Parameters
    ----------
    course : Course
        The course to collect into.
    assignment : str
        Assignment id, e.g. ``"ps1_activations"``.
    source : Path
        The LMS export: a ``.zip`` file or a folder (read only, never modified).
    roster : Path, optional
        CSV mapping LMS ids and names to student ids.
    dry_run : bool
        Report what would happen without writing anything.

    Returns
    -------
    CollectReport
        What was collected, what could not be mapped (with the reason), what was ignored.
    """
    course.check_assignment(assignment)
    if not source.exists():
        raise CourseError(f"{source} does not exist: give the LMS export (a .zip or a folder)")
    people = Roster(roster) if roster else stored_roster(course)
    entries = list(_entries(source))
    report = CollectReport(assignment, roster=people.source if people else "")
    if not any(rel.lower().endswith(".ipynb") for rel, _, _ in entries):
        raise CourseError(
            f"{source} holds no .ipynb file ({len(entries)} other files): is it the right "
            "export? Download the submissions again from the LMS"
        )
    times = {rel: when for rel, _, when in entries}
    stamps = _exchange_times(entries)
    by_student: dict[str, list[tuple[str, Owner, bytes]]] = {}
    for rel, data, _ in entries:
        if PurePosixPath(rel).name == "timestamp.txt":
            continue  # nbgrader exchange: the submission time of the notebooks beside it
        if not rel.lower().endswith(".ipynb"):
            report.ignored.append(f"{rel}: not a notebook")
            continue
        owner = parse_name(rel)
        parts = PurePosixPath(rel).parts
        if owner is not None and owner.lms == "folder" and len(parts) >= 3:
            if _canonical(owner.name + ".ipynb") == assignment:  # student/ps1/ps1.ipynb
                owner = Owner("folder", parts[-3], "", False, owner.filename)
        if owner is None:
            report.problems.append(
                Problem(
                    rel,
                    "cannot tell whose file this is: no LMS name pattern "
                    "(Canvas name_userid_subid_file, Moodle 'Name_id_assignsubmission_file_/'), "
                    "not in a per-student folder; move it to a folder named after the student",
                )
            )
            continue
        if people is not None:
            sid = people.lookup(owner)
            if sid is None:
                report.problems.append(
                    Problem(
                        rel,
                        f"{owner.lms} name {owner.name!r} (id {owner.lms_id or '-'}) "
                        "is not on the roster: add a row for them or fix the roster",
                    )
                )
                continue
        elif owner.lms == "canvas":
            sid = owner.name
        elif owner.lms == "moodle":
            sid = _slug(owner.name)
        else:
            sid = owner.name
        by_student.setdefault(_safe_id(sid), []).append((rel, owner, data))

    for sid, files in sorted(by_student.items()):
        index = pick_notebook(assignment, [(f[1].filename, f[2]) for f in files])
        if index is None:
            report.problems.append(
                Problem(
                    ", ".join(f[0] for f in files),
                    f"student {sid!r} has {len(files)} notebooks and relu-course cannot "
                    f"tell which one is {assignment}.ipynb: keep one and collect again",
                )
            )
            continue
        rel, owner, data = files[index]
        item = Collected(sid, rel, owner.lms, "", owner.late)
        when = stamps.get(str(PurePosixPath(rel).parent), times[rel])
        item.submitted_at = when.strftime("%Y-%m-%d %H:%M:%S UTC")
        if owner.filename != f"{assignment}.ipynb":
            item.renamed_from = owner.filename
        report.collected.append(_store(course, assignment, item, data, dry_run))
    report.warnings += _new_id_warnings(course, assignment, report, people)
    if not dry_run:
        _write_manifest(course, report)
        if roster:
            store_roster(course, people)
    return report


def known_students(course: Course, assignment: str) -> set[str]:
    """Student ids seen before: in the gradebook and in other assignments' collects."""
    from .gradebook import roster_rows

    seen = {row["student_id"] for row in roster_rows(course)}
    for path in (course.state_dir / "collect").glob("*.json"):
        if path.stem != assignment:
            seen |= set(json.loads(path.read_text(encoding="utf-8"))["students"])
    return seen


def _new_id_warnings(
    course: Course, assignment: str, report: CollectReport, people: Roster | None
) -> list[str]:
    if people is not None:  # a roster decided every id; unknown names are problems
        return []
    seen = known_students(course, assignment)
    if not seen:
        return []
    new = sorted({c.student for c in report.collected} - seen)
    return [
        f"new student id {sid!r}: not on the roster and not in earlier weeks; if it is a "
        "known student under another name, collect again with --roster ROSTER.csv"
        for sid in new
    ]


def stored_roster(course: Course) -> Roster | None:
    """The roster kept in ``gradebook.db`` by an earlier ``collect --roster``, if any."""
    from .gradebook import roster_rows

    rows = [r for r in roster_rows(course) if any(r[k] for k in r if k != "student_id")]
    return Roster(None, rows) if rows else None


def store_roster(course: Course, people: Roster) -> None:
    """Write names, emails and LMS ids into nbgrader's Student table."""
    from .gradebook import store_students

    store_students(course, people.rows)


def _store(
    course: Course, assignment: str, item: Collected, data: bytes, dry_run: bool
) -> Collected:
    item.sha256 = hashlib.sha256(data).hexdigest()
    dest = course.submitted_notebook(assignment, item.student)
    if dest.exists():
        item.status = "unchanged" if file_sha256(dest) == item.sha256 else "replaced"
    if not dry_run and item.status != "unchanged":
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".ipynb.part")
        tmp.write_bytes(data)
        tmp.replace(dest)
    return item


def manifest_path(course: Course, assignment: str) -> Path:
    return course.state_dir / "collect" / f"{assignment}.json"


def load_manifest(course: Course, assignment: str) -> dict[str, object]:
    """The merged record of every collect run: ``students`` (id -> Collected fields) and
    the ``problems``/``ignored`` of the latest run."""
    path = manifest_path(course, assignment)
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"students": {}, "problems": [], "ignored": []}


def _write_manifest(course: Course, report: CollectReport) -> None:
    from .deadlines import parse_when, read_timestamp, refresh_late, write_timestamp

    def stamp(sid: str) -> object:
        return read_timestamp(course, report.assignment, sid)

    stamped: list[str] = []
    manifest = load_manifest(course, report.assignment)
    students = dict(manifest["students"])  # type: ignore[arg-type]
    for item in report.collected:
        students[item.student] = asdict(item)
        if item.submitted_at and (item.status != "unchanged" or not stamp(item.student)):
            when = parse_when(item.submitted_at)
            write_timestamp(course, report.assignment, item.student, when)
            stamped.append(item.student)
    manifest = {
        "students": students,
        "problems": [asdict(p) for p in report.problems],
        "ignored": report.ignored,
    }
    path = manifest_path(course, report.assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    tmp.replace(path)
    refresh_late(course, report.assignment, stamped)
