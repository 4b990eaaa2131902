"""Notebook twins of the MyST chapters, and launch buttons that open them.

The chapters are MyST markdown notebooks (``chapters/*.md``). Colab and Binder open
``.ipynb`` files only, and sphinx-book-theme builds its launch links from the source
file's own path, so a ``.md`` chapter would get a Colab link to a markdown file. This
module fixes both ends:

* ``python _ext/notebook_twins.py`` (or ``make notebooks``) writes an output-free
  ``notebooks/<chapter>.ipynb`` for every chapter that has a kernel, converted with
  jupytext, with one extra first cell that installs the course package when the
  notebook runs in Colab. ``--check`` only compares and exits 1 when a twin is stale.
* As a Sphinx extension (``sphinx: local_extensions`` in ``_config.yml``) it rewrites
  every launch link of a chapter page so that it points to ``notebooks/<chapter>.ipynb``
  and warns (an error under ``-W``) when that twin is missing.

The repository URL and branch are read from ``_config.yml`` (``repository:``): the one
place where they are set.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = "chapters"
TWINS = "notebooks"

__all__ = [
    "check_twins",
    "chapter_sources",
    "make_twin",
    "repository",
    "twin_path",
    "write_twins",
]


def repository(root: Path = ROOT) -> tuple[str, str]:
    """Return ``(url, branch)`` from the ``repository:`` section of ``_config.yml``."""
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf8"))
    repo = config.get("repository") or {}
    if "url" not in repo:
        raise KeyError("_config.yml has no repository: url: ...; add the GitHub URL there")
    return str(repo["url"]).rstrip("/"), str(repo.get("branch", "main"))


def chapter_sources(root: Path = ROOT) -> list[Path]:
    """Chapters that are notebooks: ``chapters/*.md`` whose jupytext header names a kernel."""
    found = []
    for path in sorted((root / CHAPTERS).glob("*.md")):
        notebook = jupytext.read(path)
        if notebook.metadata.get("kernelspec"):
            found.append(path)
    return found


def twin_path(source: Path, root: Path = ROOT) -> Path:
    """``chapters/02_relu.md`` -> ``notebooks/02_relu.ipynb``."""
    return root / TWINS / (source.stem + ".ipynb")


def _install_cell(url: str, branch: str) -> nbformat.NotebookNode:
    source = (
        "# Running in Google Colab? This cell installs the course package first.\n"
        "# (On your own machine, `make book` / `pip install -e .` did that already.)\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q "relu-course @ git+{url}@{branch}"'
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell"]})


def make_twin(source: Path, root: Path = ROOT) -> nbformat.NotebookNode:
    """Convert one MyST chapter to an output-free notebook with a Colab install cell.

    Cell ids are numbered (``cell-0``, ``cell-1``, ...) and jupytext's own metadata is
    dropped, so the same source always gives the same bytes.
    """
    url, branch = repository(root)
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    cells = [_install_cell(url, branch), *notebook.cells]
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
        if cell.cell_type == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook.cells = cells
    notebook.nbformat, notebook.nbformat_minor = 4, 5
    nbformat.validate(notebook)
    return notebook


def _dumps(notebook: nbformat.NotebookNode) -> str:
    return nbformat.writes(notebook) + "\n"


def write_twins(root: Path = ROOT) -> list[Path]:
    """(Re)write every twin and delete twins whose chapter is gone; return the paths written."""
    written = []
    wanted = set()
    for source in chapter_sources(root):
        target = twin_path(source, root)
        wanted.add(target)
        target.parent.mkdir(exist_ok=True)
        text = _dumps(make_twin(source, root))
        if not target.exists() or target.read_text(encoding="utf8") != text:
            target.write_text(text, encoding="utf8")
            written.append(target)
    for stale in (root / TWINS).glob("*.ipynb"):
        if stale not in wanted:
            stale.unlink()
            written.append(stale)
    return written


def check_twins(root: Path = ROOT) -> list[str]:
    """Problems with the twins (missing, stale, orphaned); an empty list means in sync."""
    problems = []
    wanted = set()
    for source in chapter_sources(root):
        target = twin_path(source, root)
        wanted.add(target)
        rel = target.relative_to(root)
        if not target.exists():
            problems.append(f"{rel} is missing")
        elif target.read_text(encoding="utf8") != _dumps(make_twin(source, root)):
            problems.append(f"{rel} is out of date with {source.relative_to(root)}")
    for orphan in sorted((root / TWINS).glob("*.ipynb")):
        if orphan not in wanted:
            problems.append(f"{orphan.relative_to(root)} has no chapter")
    return problems


# --------------------------------------------------------------------------- Sphinx


def _rewrite_launch_links(app: Any, pagename: str, templatename: str, context: dict, doctree: Any):
    """Point the launch buttons of ``chapters/<name>`` pages to ``notebooks/<name>.ipynb``."""
    if not pagename.startswith(CHAPTERS + "/"):
        return
    source = Path(app.env.doc2path(pagename))
    if source.suffix != ".md":
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        twin = twin_path(source, Path(app.srcdir))
        if not twin.exists():
            from sphinx.util import logging

            logging.getLogger(__name__).warning(
                f"{pagename}: no notebook twin {twin.relative_to(app.srcdir)} for its "
                "launch buttons; run `python _ext/notebook_twins.py` and commit notebooks/"
            )
            continue
        old = f"{pagename}.md"
        new = f"{TWINS}/{twin.name}"
        for button in group.get("buttons", []):
            if "url" in button:
                button["url"] = button["url"].replace(old, new)


def setup(app: Any) -> dict[str, Any]:
    # After sphinx-book-theme's add_launch_buttons (priority 501); the template reads the
    # button dictionaries only when it renders the page.
    app.connect("html-page-context", _rewrite_launch_links, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        problems = check_twins()
        for problem in problems:
            print(problem)
        if problems:
            print("run `python _ext/notebook_twins.py` and commit notebooks/", file=sys.stderr)
        return 1 if problems else 0
    for path in write_twins():
        print(f"wrote {path.relative_to(ROOT)}" if path.exists() else f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
