"""collect -> grade -> feedback -> export -> report in one call (used by the demo, the
tests and the benchmark)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .collect import CollectReport, collect
from .course import Course
from .feedback import FeedbackReport, generate_feedback
from .grade import GradeSummary, grade
from .gradebook import export_csv
from .report import write_report
from .results import load_results
from .run import Result

__all__ = ["Outputs", "run_all"]


@dataclass
class Outputs:
    collected: CollectReport
    graded: GradeSummary
    feedback: FeedbackReport
    results: dict[str, Result] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)


def run_all(
    course: Course,
    assignment: str,
    export: Path,
    roster: Path | None = None,
    *,
    jobs: int | None = None,
    progress: bool = True,
    isolate: bool | None = None,
) -> Outputs:
    """Run the whole workflow on ``export`` (an LMS zip or folder); print a line per step."""
    collected = collect(course, assignment, export, roster=roster)
    print(
        f"collect : {len(collected.collected)} submissions, "
        f"{len(collected.problems)} not mapped, {len(collected.ignored)} ignored"
    )
    graded = grade(course, assignment, jobs=jobs, progress=progress, isolate=isolate)
    print(f"grade   : {len(graded.graded)} graded in {graded.seconds:.1f} s ({graded.mode})")
    for who, why in graded.not_graded:
        print(f"  NOT GRADED {who}: {why}")
    feedback = generate_feedback(course, assignment)
    print(f"feedback: {len(feedback.written)} pages, {len(feedback.leaked)} withheld")
    csv_path = course.root / "grades.csv"
    csv_path.write_text(export_csv(course, assignment), encoding="utf-8")
    report = write_report(course, assignment)
    paths = {
        "grades": csv_path,
        "report": report / "report.md",
        "histogram": report / "scores.png",
        "feedback": course.root / "feedback",
        "gradebook": course.gradebook,
    }
    return Outputs(collected, graded, feedback, load_results(course, assignment), paths)
