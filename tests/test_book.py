"""The Jupyter Book site: table of contents, execution, pages, launch links, no leaks.

Fast tests read the sources (``_toc.yml``, ``chapters/``, ``notebooks/``). Tests marked
``slow`` use the strict build of ``tests/conftest.py`` (``built_site``), which executes
every chapter the first time (about 3 minutes on a laptop) and reuses the cache after.
"""

from __future__ import annotations

import html
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import jupytext
import pytest
import yaml
from conftest import ROOT, BookBuild

SOLUTION_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# Files copied verbatim from installed packages (MathJax, theme bundles, fonts): not ours,
# large, and never built from the course's sources.
VENDORED = ("_static/mathjax/", "_static/vendor/", "_static/scripts/", "_static/styles/")
BINARY_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".woff", ".woff2", ".ttf", ".eot", ".ico"}


def _load_twins_module():
    spec = importlib.util.spec_from_file_location(
        "notebook_twins", ROOT / "_ext" / "notebook_twins.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("chapters", []) + entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def _notebook_chapters() -> list[Path]:
    return [
        p
        for p in sorted((ROOT / "chapters").glob("*.md"))
        if jupytext.read(p).metadata.get("kernelspec")
    ]


def _exercise_notebooks() -> list[Path]:
    return sorted((ROOT / "exercises").glob("*/*.ipynb"))


# ------------------------------------------------------------------------- fast: sources


def test_every_chapter_and_exercise_is_in_the_toc() -> None:
    listed = set(_toc_files())
    wanted = [
        p.relative_to(ROOT).with_suffix("").as_posix()
        for p in sorted((ROOT / "chapters").glob("*.md"))
    ]
    wanted += [p.relative_to(ROOT).with_suffix("").as_posix() for p in _exercise_notebooks()]
    missing = [name for name in wanted if name not in listed]
    assert not missing, (
        f"not in _toc.yml (so never built): {missing}; add a `- file:` entry for each"
    )
    for name in listed:
        candidates = [ROOT / f"{name}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), (
            f"_toc.yml lists {name}, which has no .md or .ipynb"
        )


def test_chapters_are_text_notebooks_without_outputs() -> None:
    chapters = _notebook_chapters()
    assert len(chapters) >= 4, f"expected chapters 00-03 at least, found {chapters}"
    for path in chapters:
        text = path.read_text(encoding="utf8")
        assert text.startswith("---\njupytext:"), f"{path.name} must start with a jupytext header"
        assert '"outputs"' not in text, f"{path.name} contains notebook outputs"


def test_notebook_twins_are_in_sync_with_the_chapters() -> None:
    twins = _load_twins_module()
    problems = twins.check_twins(ROOT)
    assert not problems, (
        "notebooks/ is out of sync with chapters/: "
        + "; ".join(problems)
        + ". Regenerate with `python _ext/notebook_twins.py` and commit notebooks/."
    )


def test_notebook_twins_are_output_free_and_install_the_package_in_colab() -> None:
    twins = _load_twins_module()
    url, branch = twins.repository(ROOT)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), (
            f"{path.name} has outputs"
        )
        first = "".join(code[0]["source"])
        assert f"git+{url}@{branch}" in first and twins.install_line(ROOT) in first, (
            f"{path.name}: first cell should install relu-course from {url}@{branch} in Colab"
        )
    # the conversion itself (cells kept, MyST made plain) is tested in test_plain_env.py


# ------------------------------------------------------------------------- slow: the build


@pytest.mark.slow
def test_strict_build_succeeds_without_warnings(book_build: BookBuild) -> None:
    assert book_build.returncode == 0, f"strict build failed:\n{book_build.tail()}"
    warnings = [
        line
        for line in book_build.log.splitlines()
        if "WARNING" in line and "IPKernelApp" not in line  # kernel's own TCP notice
    ]
    assert not warnings, "build warnings:\n" + "\n".join(warnings[:20])
    assert "Executing notebook failed" not in book_build.log


@pytest.mark.slow
def test_every_chapter_is_built_and_executed_without_errors(built_site: Path) -> None:
    executed = ROOT / "_build" / "jupyter_execute"
    for source in _notebook_chapters():
        name = source.relative_to(ROOT).with_suffix("")
        page = built_site / f"{name}.html"
        assert page.is_file(), f"{page} was not built"
        nb = json.loads((executed / f"{name}.ipynb").read_text(encoding="utf8"))
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        # myst-nb's jupyter_execute copy may lack the outputs of cached cells; the page has them
        assert 'class="cell_output' in page.read_text(encoding="utf8"), (
            f"{name}: no cell output on the page; was it executed?"
        )
        for cell in code:
            errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
            allowed = "raises-exception" in cell.get("metadata", {}).get("tags", [])
            assert allowed or not errors, (
                f"{name}: a cell raised {errors[0]['ename']}: {errors[0]['evalue']}"
            )


@pytest.mark.slow
def test_exercises_are_published_but_not_executed(built_site: Path) -> None:
    for notebook in _exercise_notebooks():
        name = notebook.relative_to(ROOT).with_suffix("")
        page = (built_site / f"{name}.html").read_text(encoding="utf8")
        assert "YOUR CODE HERE" in page, f"{name}: the student code cells are missing from the page"
        assert 'class="output traceback' not in page, (
            f"{name}: the exercise was executed (traceback shown)"
        )


@pytest.mark.slow
def test_glossary_and_references_pages_are_not_trivial(built_site: Path) -> None:
    glossary = (built_site / "chapters" / "glossary.html").read_text(encoding="utf8")
    terms = re.findall(r'<dt id="term-', glossary)
    assert len(terms) >= 10, f"the glossary defines only {len(terms)} terms"
    references = (built_site / "chapters" / "references.html").read_text(encoding="utf8")
    entries = re.findall(r'<div class="citation" id="id', references) + re.findall(
        r'<dt class="label" id="', references
    )
    assert len(entries) >= 10, f"the bibliography lists only {len(entries)} entries"
    for key in ("He2015", "Glorot2011", "Hornik1991", "Montufar2014"):
        assert key in (ROOT / "references.bib").read_text(encoding="utf8")
    # every citation in chapters 1-3 resolves to a link into the references page
    for chapter in ("01_why_nonlinearity", "02_relu", "03_vanishing_gradients"):
        page = (built_site / "chapters" / f"{chapter}.html").read_text(encoding="utf8")
        assert "references.html#id" in page, f"{chapter}: no resolved citation"


def _built_text_files(root: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or path.suffix.lower() in BINARY_SUFFIXES or rel.startswith(VENDORED):
            continue
        yield path, path.read_bytes().decode("utf8", errors="replace")


def _public_text() -> str:
    """Every line students may see: released notebooks, chapters, the package."""
    lines = [line.strip() for nb in _exercise_notebooks() for line in _sources(nb)]
    public = [
        *sorted((ROOT / "chapters").glob("*.md")),
        *sorted((ROOT / "relu_course").rglob("*.py")),
    ]
    for path in public:
        lines.extend(line.strip() for line in path.read_text(encoding="utf8").splitlines())
    return "\n".join(lines)


def _solution_lines() -> set[str]:
    """Distinctive lines of solution code and hidden tests that the students never see.

    Lines between nbgrader's BEGIN/END SOLUTION and BEGIN/END HIDDEN TESTS markers of
    ``solutions/*/*.ipynb`` and of their text sources ``assignments/*.md``, longer than 25
    characters, and found in no public source, not even inside a longer line (a generic
    line such as ``return nn.Sequential(*layers)`` is no secret).
    """
    public = _public_text()
    found = set()
    notebooks = [*(ROOT / "solutions").glob("*/*.ipynb"), *(ROOT / "assignments").glob("*.md")]
    for notebook in sorted(notebooks):
        for cell_lines in _cell_sources(notebook):
            inside = False
            for line in cell_lines:
                stripped = line.strip()
                if re.search(r"BEGIN (SOLUTION|HIDDEN TESTS)", stripped):
                    inside = True
                elif re.search(r"END (SOLUTION|HIDDEN TESTS)", stripped):
                    inside = False
                elif inside and len(stripped) > 25 and stripped not in public:
                    found.add(stripped)
    return found


def _cell_sources(notebook: Path) -> list[list[str]]:
    if notebook.suffix == ".md":  # a jupytext source
        return [cell.source.splitlines() for cell in jupytext.read(notebook).cells]
    nb = json.loads(notebook.read_text(encoding="utf8"))
    return [
        "".join(c["source"]).splitlines()
        if isinstance(c["source"], list)
        else c["source"].splitlines()
        for c in nb["cells"]
    ]


def _sources(notebook: Path) -> list[str]:
    return [line for cell in _cell_sources(notebook) for line in cell]


@pytest.mark.slow
def test_no_solution_or_hidden_test_reaches_the_site(built_site: Path) -> None:
    lines = _solution_lines()
    if (ROOT / "solutions").is_dir() and any((ROOT / "solutions").glob("*/*.ipynb")):
        assert lines, "found no solution lines to look for: did the solution markers change?"
    leaks = []
    build_root = built_site.parent  # all of _build: html, _sources, jupyter_execute, ...
    for path, text in _built_text_files(build_root):
        if "assignments" in path.relative_to(build_root).parts:
            leaks.append(f"{path.relative_to(ROOT)}: built from an assignment's text source")
        unescaped = html.unescape(text)
        for marker in SOLUTION_MARKERS:
            if marker in text:
                leaks.append(f"{path.relative_to(ROOT)}: marker {marker!r}")
        for line in lines:
            if line in text or line in unescaped:
                leaks.append(f"{path.relative_to(ROOT)}: solution line {line!r}")
    assert not leaks, "solution text in the build:\n" + "\n".join(leaks[:20])


def _launch_links(page: str) -> list[str]:
    hrefs = re.findall(
        r'href="(https://(?:colab\.research\.google\.com|mybinder\.org)/[^"]+)"', page
    )
    return [html.unescape(h) for h in hrefs]


def _repo_path_of(url: str, repo: str, branch: str) -> str:
    parsed = urlparse(url)
    if parsed.netloc == "colab.research.google.com":
        prefix = f"/github/{repo}/blob/{branch}/"
        assert parsed.path.startswith(prefix), f"{url}: not {prefix}..."
        return parsed.path[len(prefix) :]
    prefix = f"/v2/gh/{repo}/{branch}"
    assert parsed.path == prefix, f"{url}: not {prefix}"
    match = re.fullmatch(r"urlpath=(?:lab/)?tree/(.+)", parsed.query)
    assert match, f"{url}: no urlpath=tree/..."
    return match.group(1)


@pytest.mark.slow
def test_every_launch_link_opens_a_notebook_of_the_repository(built_site: Path) -> None:
    twins = _load_twins_module()
    url, branch = twins.repository(ROOT)
    repo = urlparse(url).path.strip("/")
    pages = [p.relative_to(ROOT).with_suffix("").as_posix() for p in _notebook_chapters()]
    pages += [p.relative_to(ROOT).with_suffix("").as_posix() for p in _exercise_notebooks()]
    checked = 0
    for name in pages:
        links = _launch_links((built_site / f"{name}.html").read_text(encoding="utf8"))
        hosts = {urlparse(link).netloc for link in links}
        assert hosts == {"colab.research.google.com", "mybinder.org"}, (
            f"{name}: launch links {links}"
        )
        for link in links:
            target = _repo_path_of(link, repo, branch)
            assert target.endswith(".ipynb"), f"{name}: {link} opens {target}, not a notebook"
            assert (ROOT / target).is_file(), (
                f"{name}: {link} opens {target}, missing in the repository"
            )
            checked += 1
    # and no other page links anywhere else
    for page in built_site.rglob("*.html"):
        for link in _launch_links(page.read_text(encoding="utf8")):
            assert (ROOT / _repo_path_of(link, repo, branch)).is_file(), f"{page}: {link}"
    assert checked >= 2 * len(pages)


@pytest.mark.slow
def test_thebe_is_gone_and_favicon_and_offline_mathjax_are_there(built_site: Path) -> None:
    for page in built_site.rglob("*.html"):
        text = page.read_text(encoding="utf8")
        assert "THEBE_JS_URL" not in text, f"{page}: sphinx-thebe's inline script is back"
        # inline scripts share one global scope: a const/let declared twice is a SyntaxError
        scripts = re.findall(r"<script>(.*?)</script>", text, flags=re.S)
        names = [
            n for body in scripts for n in re.findall(r"\b(?:const|let)\s+([A-Za-z_$][\w$]*)", body)
        ]
        assert len(names) == len(set(names)), f"{page}: declared twice among {names}"
    intro = (built_site / "intro.html").read_text(encoding="utf8")
    assert 'rel="icon" href="_static/favicon.svg"' in intro
    assert (built_site / "_static" / "favicon.svg").is_file()
    assert 'src="_static/mathjax/tex-chtml.js' in intro, "MathJax is not served from _static"
    assert (built_site / "_static" / "mathjax" / "tex-chtml.js").is_file()


@pytest.mark.slow
def test_every_figure_is_an_image(built_site: Path) -> None:
    """A kernel on a non-inline matplotlib backend glues '<Figure size ...>' text, not a PNG."""
    for source in _notebook_chapters():
        name = source.relative_to(ROOT).with_suffix("").as_posix()
        page = (built_site / f"{name}.html").read_text(encoding="utf8")
        assert "&lt;Figure size" not in page, f"{name}: a figure was rendered as text"
        for figure in re.findall(
            r'<figure class="align-default" id="[^"]*">(.*?)</figure>', page, re.S
        ):
            assert "<img" in figure, f"{name}: a figure without an image: {figure[:200]}"
