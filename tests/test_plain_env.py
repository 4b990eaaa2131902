"""The Colab buttons open notebooks that run, and read well, in a plain environment.

Fast tests read the sources: one install line everywhere, no MyST syntax left in the
chapter twins, the MyST-to-Markdown conversion construct by construct, the ``glue``
stand-in and the silent progress-bar fallback. The slow test builds a fresh virtual
environment with only torch, numpy, ``pip install .`` (no extras), ipykernel and nbclient
(``tests/plain_env.py``), and runs in it every chapter twin (``notebooks/*.ipynb``) and
every released assignment with its solution cells filled from ``solutions/``.
"""

from __future__ import annotations

import importlib.util
import io
import re
import sys
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import nbformat
import pytest
from plain_env import plain_venv
from test_book import _load_twins_module

ROOT = Path(__file__).resolve().parents[1]


twins = _load_twins_module()
BOOK = twins.load_book(ROOT)
TWINS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*/*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))


def _md(text: str, doc: str = "chapters/04_dying_relu") -> str:
    return twins.myst_to_markdown(text, BOOK, doc)


# ------------------------------------------------------------------ one install line


def _setup_source(path: Path) -> str:
    """The cell that installs the package: nbgrader's "setup" cell, else the first code cell."""
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    for cell in cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "setup":
            return cell.source
    return cells[0].source


def test_one_install_line_in_readme_twins_and_assignments() -> None:
    line = twins.install_line(ROOT)
    url, branch = twins.repository(ROOT)
    assert line == f'%pip install -q "relu-course @ git+{url}@{branch}"'
    assert line in (ROOT / "README.md").read_text(encoding="utf8"), "README lacks the line"
    notebooks = [*TWINS, *EXERCISES, *SOLUTIONS]
    assert len(TWINS) >= 8 and len(EXERCISES) >= 4, notebooks
    for path in notebooks:
        source = _setup_source(path)
        installs = [s.strip() for s in source.splitlines() if "pip" in s and "install" in s]
        assert installs == [line], f"{path.relative_to(ROOT)}: install lines {installs}"


def test_twin_setup_cell_prints_the_device_from_get_device() -> None:
    for path in TWINS:
        source = _setup_source(path)
        assert "from relu_course.training import get_device" in source, path.name
        assert "get_device()" in source.split("print(", 1)[1], path.name


# ----------------------------------------------------------------- twins read well

_MYST_LEFT = re.compile(r"\{[\w:.+-]+\}`|^:{3,}|^`{3,}\{|^\([^()\s]+\)=\s*$", re.MULTILINE)


def test_twins_have_no_myst_syntax_and_no_myst_nb_import() -> None:
    for path in TWINS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                left = _MYST_LEFT.findall(cell.source)
                assert not left, f"{path.name}: MyST left in the text: {left}"
            elif cell.cell_type == "code":
                assert "myst_nb" not in cell.source, f"{path.name}: imports myst_nb"


def test_twins_keep_every_chapter_cell_in_order() -> None:
    import jupytext

    for source in twins.chapter_sources(ROOT):
        chapter = jupytext.read(source)
        twin = twins.make_twin(source, ROOT, BOOK)
        setup = [c for c in twin.cells if "%pip install" in c.source]
        assert len(setup) == 1, source.name
        rest = [c for c in twin.cells if c is not setup[0]]
        assert [c.cell_type for c in rest] == [c.cell_type for c in chapter.cells], source.name
        for mine, theirs in zip(rest, chapter.cells, strict=True):
            if mine.cell_type == "code" and "raises-exception" not in theirs.metadata.get(
                "tags", []
            ):
                expected = theirs.source.replace(
                    "from myst_nb import glue", "from relu_course.notebook import glue"
                )
                assert mine.source == expected, f"{source.name}: a code cell changed"


def test_admonition_becomes_a_headed_quote_and_dropdown_a_details_block() -> None:
    text = ":::{admonition} What you will learn\n:class: tip\n\n- one\n- two $x$\n:::"
    assert _md(text) == "> **What you will learn**\n>\n> - one\n> - two $x$"
    assert _md(":::{note}\nMind the gap.\n:::") == "> **Note**\n>\n> Mind the gap."
    out = _md(":::{dropdown} Answers\n1. No.\n\n$$\na = b\n$$\n:::")
    assert out.startswith("<details><summary>Answers</summary>\n\n1. No.")
    assert out.endswith("\n</details>")
    nested = _md("::::{important}\n:::{tip}\ninner\n:::\n::::")
    assert nested == "> **Important**\n>\n> > **Tip**\n> >\n> > inner"
    quoted_math = _md(":::{note}\n$$\na = b\n+ c\n$$\n:::")
    assert "> $$ a = b + c $$" in quoted_math  # one line: no "> " inside the formula


def test_terms_link_to_the_glossary_anchor() -> None:
    glossary = f"{twins.site_url(ROOT)}/chapters/glossary.html"
    assert _md("a {term}`dead unit`") == f"a [dead unit]({glossary}#term-Dead-unit)"
    assert _md("{term}`kinks <Kink>`") == f"[kinks]({glossary}#term-Kink)"
    with pytest.raises(ValueError, match="no such term"):
        _md("{term}`no such thing`")


def test_citations_become_author_year_links_to_the_references() -> None:
    refs = f"{twins.site_url(ROOT)}/chapters/references.html"
    assert _md("{cite}`Glorot2011`") == f"[[Glorot et al., 2011]({refs})]"
    assert _md("{cite:p}`Nair2010,He2015`") == (
        f"[[Nair and Hinton, 2010]({refs}); [He et al., 2015]({refs})]"
    )
    assert _md("{cite:t}`Glorot2010`") == f"[Glorot and Bengio [2010]]({refs})"
    with pytest.raises(ValueError, match="not in the bibliography"):
        _md("{cite}`Nobody1900`")


def test_references_become_plain_words_or_website_links() -> None:
    site = twins.site_url(ROOT)
    fig = BOOK.targets["fig-dying-he"]
    assert fig.doc == "chapters/04_dying_relu" and fig.kind == "Figure"
    assert _md("in {numref}`fig-dying-he`.") == f"in Figure {fig.number}."
    assert _md("{numref}`Fig. %s <fig-dying-he>`") == f"Fig. {fig.number}"
    section = BOOK.targets["variants-compare"]
    assert _md("{ref}`variants-compare`", "chapters/07_myths") == (
        f"[{section.title}]({site}/chapters/05_variants.html#variants-compare)"
    )
    assert _md("{ref}`variants-compare`", "chapters/05_variants") == f"*{section.title}*"
    assert _md("Next: {doc}`01_why_nonlinearity`.", "chapters/00_how_to_use") == (
        f"Next: [{BOOK.title('chapters/01_why_nonlinearity')}]"
        f"({site}/chapters/01_why_nonlinearity.html)."
    )
    link = _md("[ps3](../exercises/ps3_dying_relu/ps3_dying_relu.ipynb)")
    assert link == f"[ps3]({site}/exercises/ps3_dying_relu/ps3_dying_relu.html)"


def test_glued_values_become_names_that_the_code_prints() -> None:
    assert _md("about {glue:text}`zero_per_input:.3f` in") == "about `zero_per_input` in"
    assert _md("{glue:}`acc`, {glue}`nb.ipynb::b`") == "`acc`, `b`"
    figure = _md(
        "```{glue:figure} fig_he\n:name: fig-dying-he\n:alt: A plot.\n\nDead *units*.\n```"
    )
    assert figure == f"**Figure {BOOK.targets['fig-dying-he'].number}.** Dead *units*."


def test_code_spans_math_labels_and_comments() -> None:
    assert _md("``{term}`dead unit` `` stays") == "``{term}`dead unit` `` stays"
    assert _md("(my-label)=\n## Title\n% a comment\ntext") == "## Title\ntext"
    assert _md("```python\n{term}`x`\n```") == "```python\n{term}`x`\n```"
    equation = "$$\na = b\n$$ (eq-test)"
    out = twins.myst_to_markdown(equation + "\n\nSee {eq}`eq-test`.", _book_with_equation(), "x/y")
    assert out == "$$\na = b\n\\tag{1}\n$$\n\nSee (1)."


def _book_with_equation():
    book = twins.load_book(ROOT)
    book.targets["eq-test"] = twins.Target("x/y", "Equation", "", 1)
    return book


def test_unknown_directive_becomes_a_quote_with_a_warning() -> None:
    book = twins.load_book(ROOT)
    out = twins.myst_to_markdown(":::{exotic} Title\nbody\n:::", book, "chapters/x")
    assert out == "> **Exotic: Title**\n>\n> body"
    assert any("exotic" in w for w in book.warnings)


def test_raises_exception_cells_print_their_error_and_go_on() -> None:
    cell = nbformat.v4.new_code_cell("x = 1\nraise ValueError('boom')")
    cell.metadata["tags"] = ["raises-exception"]
    out = twins._code_cell(cell, Path("chapters/x.md")).source
    namespace: dict = {}
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        exec(compile(out, "<cell>", "exec"), namespace)
    assert namespace["x"] == 1 and buffer.getvalue() == "ValueError: boom\n"


# ------------------------------------------------------------ stand-ins in the package


def test_glue_prints_values_and_shows_figures() -> None:
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    from relu_course.notebook import glue

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        glue("a", np.float32(0.25), display=False)
        glue("b", torch.tensor(3), display=False)
        glue("c", np.arange(3), display=False)
        fig = plt.figure()
        glue("fig", fig, display=False)
        plt.close(fig)
    lines = buffer.getvalue().splitlines()
    assert lines[:3] == ["a = 0.25", "b = 3", "c = [0 1 2]"]
    assert "Figure" in lines[3] and not lines[3].startswith("fig =")


def test_progress_bar_falls_back_to_text_on_stdout_without_ipywidgets(monkeypatch, capsys) -> None:
    from tqdm.std import tqdm as text_bar

    from relu_course import training

    real = importlib.util.find_spec
    monkeypatch.setattr(
        training.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real(name, *a),
    )
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel", object()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no TqdmWarning
        bar = training._progress_bar(range(2), disable=False, desc="train")
        assert type(bar) is text_bar
        assert list(bar) == [0, 1]
        bar.close()
    out, err = capsys.readouterr()
    assert "train" in out and "2/2" in out and err == ""


# --------------------------------------------------------- slow: the plain environment


def _filled(exercise: Path, out: Path) -> Path:
    """The released notebook with each solution cell replaced by the reference (by grade_id)."""
    source = SOLUTIONS_BY_NAME[exercise.name]
    reference = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(source, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    notebook = nbformat.read(exercise, as_version=4)
    filled = 0
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = reference[meta["grade_id"]]
            filled += 1
    assert filled == len(reference) > 0, f"{exercise.name}: filled {filled} of {len(reference)}"
    out.mkdir(parents=True, exist_ok=True)
    path = out / exercise.name
    nbformat.write(notebook, path)
    return path


SOLUTIONS_BY_NAME = {p.name: p for p in SOLUTIONS}


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_twins_and_assignments_run_in_a_plain_environment(tmp_path_factory) -> None:
    start = time.perf_counter()
    venv = plain_venv(tmp_path_factory.mktemp("plain"))
    built = time.perf_counter() - start
    work = tmp_path_factory.mktemp("notebooks")
    twins_copy = []
    for twin in TWINS:  # copied: the runner works outside the repository, as Colab does
        target = work / "twins" / twin.name
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(twin.read_bytes())
        twins_copy.append(target)
    exercises = [_filled(e, work / "exercises") for e in EXERCISES]
    results = venv.run_notebooks([*twins_copy, *exercises], timeout=3000)
    print(f"\nplain environment built in {venv.seconds:.0f} s (this test waited {built:.0f} s)")
    for result in results:
        print(f"{Path(result['path']).name:40s} {result['seconds']:6.1f} s")
    print(f"total wall time of this test: {time.perf_counter() - start:.0f} s")
    assert len(results) == len(TWINS) + len(EXERCISES)
    for result in results:
        name = Path(result["path"]).name
        assert result["error"] is None, f"{name} stopped with an error:\n{result['error']}"
        cells = result["cells"]
        assert all(c["executed"] for c in cells), f"{name}: not every code cell ran"
        setup = [c for c in cells if c["installs"]]
        assert len(setup) == 1, f"{name}: {len(setup)} cells install the package"
        assert re.search(r"(running on|device): (cpu|cuda|mps)", setup[0]["stdout"]), (
            f"{name}: the setup cell does not say which device runs: {setup[0]['stdout']!r}"
        )
        noisy = [(c["index"], c["first_line"], c["stderr"]) for c in cells if c["stderr"]]
        assert not noisy, f"{name}: output on stderr in a plain environment: {noisy}"


NEW_CHAPTER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A new chapter

:::{admonition} What you will learn
:class: tip
- one thing, see {numref}`fig-new`
:::

```{code-cell} ipython3
from myst_nb import glue

glue("answer", 42, display=False)
```

(new-section)=
## A section

The answer is {glue:text}`answer:d` {cite:t}`He2015`; a {term}`kink <Kink>`.

```{glue:figure} fig_x
:name: fig-new

A caption with $x$.
```

````{margin}
```{warning}
Careful.
```
````

```{math}
:label: eq-new
a = b
```

By {eq}`eq-new` and {ref}`new-section`, {doc}`glossary` says more.
"""


def test_a_new_chapter_gets_a_plain_twin(tmp_path: Path) -> None:
    """Chapters added later are converted without any change to the generator."""
    import shutil

    for name in ("_config.yml", "references.bib", "chapters/glossary.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "chapters" / "08_new.md").write_text(NEW_CHAPTER, encoding="utf8")
    written = twins.write_twins(tmp_path)
    assert [p.name for p in written] == ["08_new.ipynb"]
    twin = nbformat.read(tmp_path / "notebooks" / "08_new.ipynb", as_version=4)
    text = "\n".join(c.source for c in twin.cells if c.cell_type == "markdown")
    assert not _MYST_LEFT.findall(text), text
    for expected in (
        "see Figure 1",
        "The answer is `answer` [He et al. [2015]](",
        "**Figure 1.** A caption with $x$.",
        "> > **Warning**",
        "\\tag{1}",
        "By (1) and *A section*, [Glossary](",
    ):
        assert expected in text, f"{expected!r} not in:\n{text}"
    code = [c.source for c in twin.cells if c.cell_type == "code"]
    assert "%pip install" in code[0] and "from relu_course.notebook import glue" in code[1]
    assert twins.check_twins(tmp_path) == []


@pytest.mark.slow
def test_website_links_of_the_twins_exist_in_the_built_site(built_site: Path) -> None:
    """Every glossary, reference, section and page link of a twin lands on the site."""
    site = twins.site_url(ROOT)
    links = set()
    for path in TWINS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                links |= set(
                    re.findall(re.escape(site) + r"/([^)\s#]+)(?:#([^)\s]+))?", cell.source)
                )
    assert len(links) > 20, links
    for page, anchor in sorted(links):
        html = built_site / page
        assert html.exists(), f"{site}/{page}: no such page in the built site"
        if anchor:
            assert f'id="{anchor}"' in html.read_text(encoding="utf8"), f"{page}#{anchor}"
