"""The class report of one assignment: pass rate per question, a histogram of total
scores, and the submissions that need a human (with the reason).

Written to ``reports/<assignment>/``: ``report.md``, ``scores.png`` and
``needs_review.csv``.
"""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .collect import load_manifest
from .course import Course, CourseError
from .deadlines import late_plugin, late_rows
from .gradebook import Recheck
from .results import load_results, recheck_path
from .run import Result

__all__ = ["ClassReport", "Question", "build_report", "write_report", "review_reasons"]


@dataclass
class Question:
    """One graded cell: how many got full marks, and the mean score."""

    name: str
    max_score: float
    full: int = 0
    total: int = 0
    mean: float = 0.0

    @property
    def pass_rate(self) -> float:
        return self.full / self.total if self.total else 0.0


@dataclass
class ClassReport:
    assignment: str
    results: list[Result]
    questions: list[Question]
    review: list[tuple[str, str]] = field(default_factory=list)  # (who or file, why)
    duedate: object = None  # datetime (UTC) or None
    late: list[dict] = field(default_factory=list)  # deadlines.late_rows
    policy: str = ""

    @property
    def scores(self) -> list[float]:
        return [r.score for r in self.results]


def review_reasons(result: Result) -> list[str]:
    """Why a person should look at this submission (empty when nothing is odd).

    >>> review_reasons(Result("ada", "ps1", status="corrupt", message="not valid JSON"))
    ['corrupt: not valid JSON']
    """
    reasons = []
    if result.status != "graded":
        reasons.append(f"{result.status}: {result.message}")
    for rep in result.repairs:
        if rep.get("review", True):
            cell = f" {rep['cell']}" if rep.get("cell") else ""
            reasons.append(f"repair {rep['kind']}{cell}: {rep['how']}")
    for flag in getattr(result, "flags", []):
        tag = "TAMPERING? " if flag.get("tampering", True) else ""
        reasons.append(f"{tag}flag {flag['kind']} {flag['cell']}: {flag['reason']}")
    return reasons


def build_report(course: Course, assignment: str) -> ClassReport:
    """Collect the numbers of a report from the grading state and the collect record."""
    course.check_assignment(assignment)
    results = sorted(load_results(course, assignment).values(), key=lambda r: r.student)
    if not results:
        raise CourseError(
            f"nothing graded for {assignment} yet: run relu-course grade {assignment}"
        )
    questions: dict[str, Question] = {}
    for res in results:
        for g in res.grades:
            q = questions.setdefault(g.name, Question(g.name, g.max_score))
            q.total += 1
            q.full += int(g.score is not None and g.score >= g.max_score)
            q.mean += (g.score or 0.0) / len(results)
    review = []
    for res in results:
        why = review_reasons(res)
        if why:
            review.append((res.student, "; ".join(why)))
    manifest = load_manifest(course, assignment)
    path = recheck_path(course, assignment)
    for item in json.loads(path.read_text(encoding="utf-8")) if path.exists() else []:
        review.append((item["student"], Recheck(**item).line().split(": ", 1)[1]))
    duedate, late = late_rows(course, assignment)
    policy = late_plugin(course).describe() if duedate is not None else ""
    for item in manifest["students"].values():  # type: ignore[union-attr]
        if item.get("late") and duedate is None:
            review.append((item["student"], "the LMS marked it late (no due date is set)"))
    for problem in manifest["problems"]:  # type: ignore[union-attr]
        review.append((problem["source"], f"not collected: {problem['reason']}"))
    from .submitted import load_not_graded

    review += [(who, f"not graded: {why}") for who, why in load_not_graded(course, assignment)]
    return ClassReport(
        assignment,
        results,
        sorted(questions.values(), key=lambda q: q.name),
        review,
        duedate,
        late,
        policy,
    )


def _histogram(report: ClassReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = max((r.max_score for r in report.results), default=1.0) or 1.0
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    bins = min(20, max(5, int(top)))
    ax.hist(report.scores, bins=bins, range=(0, top), color="#3b75af", edgecolor="white")
    ax.set_xlabel(f"total score (points, out of {top:g})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{report.assignment}: {len(report.results)} submissions")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(course: Course, assignment: str, out: Path | None = None) -> Path:
    """Write ``report.md``, ``scores.png`` and ``needs_review.csv``; returns the folder."""
    report = build_report(course, assignment)
    folder = out or course.root / "reports" / assignment
    folder.mkdir(parents=True, exist_ok=True)
    _histogram(report, folder / "scores.png")
    scores = sorted(report.scores)
    mid = statistics.median(scores)
    top = report.results[0].max_score if report.results else 0
    lines = [
        f"# {assignment}: class report",
        "",
        f"{len(report.results)} submissions graded; mean score "
        f"{sum(scores) / len(scores):.2f} / {top:g}, median {mid:g}.",
        "",
        f"Grading mode (how student code ran): {_modes(report.results)}.",
        "",
        "![histogram of total scores](scores.png)",
        "",
        "## Questions",
        "",
        "| question | points | full marks | pass rate | mean score |",
        "|---|---:|---:|---:|---:|",
    ]
    for q in report.questions:
        rate = f"{q.full}/{q.total} | {q.pass_rate:.0%}"
        lines.append(f"| {q.name} | {q.max_score:g} | {rate} | {q.mean:.2f} |")
    lines += ["", "## Deadline", ""]
    if report.duedate is None:
        lines.append(f"No due date set (relu-course duedate {assignment} DATE).")
    else:
        lines.append(f"Due {report.duedate:%Y-%m-%d %H:%M} UTC. Late policy: {report.policy}.")
        if report.late:
            lines += ["", "| student | submitted | due (with extension) | hours late | penalty |"]
            lines.append("|---|---|---|---:|---:|")
            lines += [
                f"| {r['student']} | {r['submitted']} | {r['due']} | {r['hours_late']:.1f} "
                f"| {r['penalty']:g} |"
                for r in report.late
            ]
        else:
            lines.append("No submission was late.")
    lines += ["", f"## Needs a human ({len(report.review)})", ""]
    if report.review:
        lines += ["| submission | why |", "|---|---|"]
        lines += [f"| {who} | {why.replace('|', '/')} |" for who, why in report.review]
    else:
        lines.append("Nothing: every submission was read and graded without repairs.")
    lines += ["", "## Scores", "", "| student | score | status |", "|---|---:|---|"]
    lines += [
        f"| {r.student} | {r.score:g} / {r.max_score:g} | {r.status} |" for r in report.results
    ]
    (folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (folder / "needs_review.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["submission", "reason", "grading_mode"])
        modes = {r.student: r.mode for r in report.results}
        writer.writerows((who, why, modes.get(who, "")) for who, why in report.review)
    return folder


def _modes(results: list[Result]) -> str:
    """``bubblewrap`` or, when runs differed, ``unsandboxed (3), bubblewrap (27)``."""
    counts: dict[str, int] = {}
    for res in results:
        counts[res.mode or "unknown"] = counts.get(res.mode or "unknown", 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{mode} ({n})" for mode, n in sorted(counts.items()))
