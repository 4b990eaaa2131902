"""Notebook twins of the MyST chapters, and launch buttons that open them.

The chapters are MyST markdown notebooks (``chapters/*.md``). Colab and Binder open
``.ipynb`` files only, and sphinx-book-theme builds its launch links from the source
file's own path, so a ``.md`` chapter would get a Colab link to a markdown file. This
module fixes both ends:

* ``python _ext/notebook_twins.py`` (or ``make notebooks``) writes an output-free
  ``notebooks/<chapter>.ipynb`` for every chapter that has a kernel. ``--check`` only
  compares and exits 1 when a twin is stale. A twin is made to run, and to read well, in
  a plain Jupyter or Colab session that has only ``pip install relu-course``:

  - a setup cell after the title installs the course package when it is missing (with
    :func:`install_line`, the same line as the README and the assignments) and prints
    the device that the notebook computes on;
  - ``from myst_nb import glue`` becomes ``relu_course.notebook.glue``, which shows each
    glued value where it is computed; a cell tagged ``raises-exception`` prints its
    error instead of stopping "Run all"; folded cells (``hide-input``) stay folded;
  - the MyST-only syntax of the text becomes plain Markdown (:func:`myst_to_markdown`):
    admonitions become quotes, dropdowns ``<details>`` blocks, ``{term}`` links to the
    website's glossary, ``{cite}`` author-year links to its references page, ``{ref}``,
    ``{doc}`` and ``{numref}`` plain words or website links, and a glued number
    (``{glue:text}`name:fmt```) the name in code font: the cell that computes it prints
    ``name = value`` (the values are not copied from a build, so a twin depends only on
    the sources).

* As a Sphinx extension (``sphinx: local_extensions`` in ``_config.yml``) it rewrites
  every launch link of a chapter page so that it points to ``notebooks/<chapter>.ipynb``
  and warns (an error under ``-W``) when that twin is missing.

The repository URL and branch are read from ``_config.yml`` (``repository:``): the one
place where they are set. The website's address is ``html: baseurl:`` there when it is
set, else the repository's GitHub Pages address.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = "chapters"
TWINS = "notebooks"

__all__ = [
    "Book",
    "check_twins",
    "chapter_sources",
    "install_line",
    "load_book",
    "make_twin",
    "myst_to_markdown",
    "repository",
    "site_url",
    "twin_path",
    "write_twins",
]


# ------------------------------------------------------------------ the configuration


def _config(root: Path) -> dict[str, Any]:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf8")) or {}


def repository(root: Path = ROOT) -> tuple[str, str]:
    """Return ``(url, branch)`` from the ``repository:`` section of ``_config.yml``."""
    repo = _config(root).get("repository") or {}
    if "url" not in repo:
        raise KeyError("_config.yml has no repository: url: ...; add the GitHub URL there")
    return str(repo["url"]).rstrip("/"), str(repo.get("branch", "main"))


def install_line(root: Path = ROOT) -> str:
    """The one line that installs the course package in a notebook (Colab or Jupyter).

    README, chapter twins and assignments all show this line. ``%pip`` installs into the
    kernel's own environment, in Colab and in any IPython kernel.

    >>> install_line()
    '%pip install -q "relu-course @ git+https://github.com/relu-course/relu-course@main"'
    """
    url, branch = repository(root)
    return f'%pip install -q "relu-course @ git+{url}@{branch}"'


def site_url(root: Path = ROOT) -> str:
    """The published website: ``html: baseurl:`` of ``_config.yml``, else GitHub Pages.

    >>> site_url()
    'https://relu-course.github.io/relu-course'
    """
    base = (_config(root).get("html") or {}).get("baseurl")
    if base:
        return str(base).rstrip("/")
    url, _ = repository(root)
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?", url)
    if not match:
        raise ValueError(f"cannot derive the website from {url}; set html: baseurl: in _config.yml")
    owner, name = match.groups()
    return f"https://{owner.lower()}.github.io/{name}"


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


# ------------------------------------------------------------ what the text points to

# A fence that opens a block: ``` or ~~~ (code, or a directive when the info is {name}),
# or ::: (a MyST colon-fence directive).
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:.+-]+)\}\s*(?P<arg>.*)$")
_TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
_HEADING = re.compile(r"^(?P<hashes>#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_EQ_LABEL = re.compile(r"^(?P<head>.*)\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
_NUMBERED = {"figure": "Figure", "glue:figure": "Figure", "table": "Table", "list-table": "Table"}


# NamedTuples and a plain class, not dataclasses: tests and Sphinx load this file by path,
# and a dataclass needs its module registered in sys.modules.
class Target(NamedTuple):
    """Something a label names: a section, a numbered figure or table, an equation."""

    doc: str  # "chapters/05_variants"
    kind: str  # "section", "Figure", "Table" or "Equation"
    title: str  # the section's heading; empty for numbered things
    number: int = 0  # the figure's, table's or equation's number within its twin


class Book:
    """What the chapters' text refers to, collected once from the sources (:func:`load_book`)."""

    def __init__(self, root: Path, site: str, repo: str, branch: str) -> None:
        self.root = root
        self.site = site  # https://relu-course.github.io/relu-course
        self.repo = repo  # https://github.com/relu-course/relu-course
        self.branch = branch
        self.targets: dict[str, Target] = {}  # label -> what it names
        self.terms: dict[str, str] = {}  # lower-case glossary term -> its anchor id
        self.glossary = "chapters/glossary"  # the page with the {glossary} block
        self.references = "chapters/references"  # the page with the {bibliography} block
        self.citations: dict[str, tuple[str, str]] = {}  # bibtex key -> (authors, year)
        self.substitutions: dict[str, str] = {}  # myst_substitutions of _config.yml
        self.warnings: list[str] = []  # constructs shown in a generic form

    def page(self, doc: str, anchor: str = "") -> str:
        """The website's address of ``doc`` (``chapters/02_relu``), with an anchor."""
        return f"{self.site}/{doc}.html" + (f"#{anchor}" if anchor else "")

    def raw(self, path: str) -> str:
        """A file of the repository, as GitHub serves it (images, downloads)."""
        owner_name = self.repo.removeprefix("https://github.com/")
        return f"https://raw.githubusercontent.com/{owner_name}/{self.branch}/{path}"

    def title(self, doc: str) -> str:
        """A page's title: the first ``#`` heading of its ``.md`` or ``.ipynb`` source."""
        for suffix in (".md", ".ipynb"):
            path = self.root / f"{doc}{suffix}"
            if not path.exists():
                continue
            if suffix == ".md":
                text = path.read_text(encoding="utf8")
            else:
                cells = nbformat.read(path, as_version=4).cells
                text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
            for line in text.splitlines():
                if match := _HEADING.match(line):
                    if len(match["hashes"]) == 1:
                        return match["title"]
        raise ValueError(f"{doc} has no page with a # title (looked for .md and .ipynb)")


def _blocks(lines: list[str]) -> Iterable[tuple[str, Any]]:
    """Split MyST lines into ("line", text) and ("fence", (indent, fence, info, body))."""
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            yield "line", lines[i]
            i += 1
            continue
        fence = match["fence"]
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(i + 1, len(lines)) if closing.match(lines[j])), len(lines))
        yield "fence", (match["indent"], fence, match["info"].strip(), lines[i + 1 : end])
        i = end + 1


def _options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's ``:key: value`` lines (or a ``---`` YAML block), then its content."""
    if body and body[0].strip() == "---":
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            options = yaml.safe_load("\n".join(body[1:end])) or {}
            return {str(k): str(v) for k, v in options.items()}, body[end + 1 :]
    options: dict[str, str] = {}
    i = 0
    while i < len(body) and (match := _OPTION.match(body[i])):
        options[match["key"]] = match["value"].strip()
        i += 1
    return options, body[i:]


def _scan_targets(doc: str, text: str, targets: dict[str, Target]) -> None:
    """Record the labels of one page: ``(label)=`` sections, ``:name:`` figures, equations."""
    counts: dict[str, int] = {}
    pending: str | None = None

    def number(kind: str) -> int:
        counts[kind] = counts.get(kind, 0) + 1
        return counts[kind]

    def walk(lines: list[str]) -> None:
        nonlocal pending
        for kind, item in _blocks(lines):
            if kind == "line":
                if match := _TARGET.match(item):
                    pending = match["label"]
                elif pending and (heading := _HEADING.match(item)):
                    targets[pending] = Target(doc, "section", heading["title"])
                    pending = None
                elif match := _EQ_LABEL.match(item):
                    targets[match["label"]] = Target(doc, "Equation", "", number("Equation"))
                elif item.strip():
                    pending = None  # a label names the heading or directive right below it
                continue
            _, _, info, body = item
            directive = _DIRECTIVE.match(info)
            label, pending = pending, None
            if not directive:
                continue
            name = directive["name"]
            options, content = _options(body)
            label = options.get("name") or options.get("label") or label
            if name in _NUMBERED and label:  # numbered as they come; unnamed ones are not
                kind_name = _NUMBERED[name]
                targets[label] = Target(doc, kind_name, "", number(kind_name))
            elif name in _NUMBERED:
                pass
            elif name == "math" and label:
                targets[label] = Target(doc, "Equation", "", number("Equation"))
            elif label:  # a labelled admonition, say: {ref} shows its title
                targets[label] = Target(doc, "section", directive["arg"] or name.capitalize())
            if name not in ("code-cell", "glossary"):
                walk(content)

    walk(text.splitlines())


def _glossary_terms(text: str) -> dict[str, str]:
    """Terms of a ``{glossary}`` block: lower-case term -> Sphinx's anchor ``term-...``."""
    terms: dict[str, str] = {}
    for kind, item in _blocks(text.splitlines()):
        if kind != "fence" or not item[2].startswith("{glossary}"):
            continue
        _, content = _options(item[3])
        for line in content:
            if line.strip() and not line[0].isspace():
                terms[line.strip().lower()] = _sphinx_id(f"term-{line.strip()}")
    return terms


def _sphinx_id(text: str) -> str:
    """The HTML id Sphinx gives a term (``sphinx.util.nodes._make_id``: case kept)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ident = re.sub(r"[^a-zA-Z0-9._]+", "-", " ".join(ascii_text.split()))
    return re.sub(r"^[-0-9._]+|-+$", "", ident)


def _citations(bibfile: Path) -> dict[str, tuple[str, str]]:
    """Bibtex key -> (authors, year) as the site's author-year style shows them."""
    from pybtex.database import parse_file
    from pybtex.plugin import find_plugin
    from pybtex.richtext import Text

    # render(backend) is render_as("text") without a plugin look-up per name (each one
    # scans every installed package's entry points: a second per citation under load)
    text = find_plugin("pybtex.backends", "text")()
    found = {}
    for key, entry in parse_file(str(bibfile)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [
            Text.from_latex(" ".join(p.prelast_names + p.last_names)).render(text) for p in people
        ]
        if not names:
            who = Text.from_latex(entry.fields.get("organization", key)).render(text)
        elif len(names) == 1:
            who = names[0]
        elif len(names) == 2:
            who = f"{names[0]} and {names[1]}"
        else:
            who = f"{names[0]} et al."
        found[key] = (who, str(entry.fields.get("year", "n.d.")))
    return found


def load_book(root: Path = ROOT) -> Book:
    """Collect labels, glossary terms, citations and substitutions of the whole site."""
    url, branch = repository(root)
    config = _config(root)
    book = Book(root=root, site=site_url(root), repo=url, branch=branch)
    book.substitutions = {
        str(k): str(v)
        for k, v in ((config.get("parse") or {}).get("myst_substitutions") or {}).items()
    }
    for path in [*sorted(root.glob("*.md")), *sorted((root / CHAPTERS).glob("*.md"))]:
        doc = path.relative_to(root).with_suffix("").as_posix()
        text = path.read_text(encoding="utf8")
        _scan_targets(doc, text, book.targets)
        if "```{glossary}" in text or ":::{glossary}" in text:
            book.glossary = doc
            book.terms.update(_glossary_terms(text))
        if "{bibliography}" in text.replace("`{bibliography}`", ""):
            book.references = doc
    for bibfile in config.get("bibtex_bibfiles") or []:
        book.citations.update(_citations(root / bibfile))
    return book


# ------------------------------------------------------------- MyST -> plain Markdown


class _Page(NamedTuple):
    """The page being converted, for links and messages."""

    book: Book
    doc: str  # chapters/02_relu
    source: str  # 02_relu.md

    def warn(self, message: str) -> None:
        self.book.warnings.append(f"{self.source}: {message}")

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{self.source}: {message}")


_ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
    "todo": "To do",
}
_TITLED = {"admonition", "margin", "sidebar", "topic", "card", "tab-item", "grid-item-card"}
_QUOTES = {"epigraph", "pull-quote", "highlights", "blockquote"}
_TRANSPARENT = {"div", "container", "grid", "grid-item", "tab-set", "only", "rst-class", "cssclass"}
_DROPPED = {"toctree", "tableofcontents", "contents", "index", "code-cell-options"}
_GLUE_BLOCKS = {"glue", "glue:", "glue:any", "glue:math", "glue:md"}
_CODE_BLOCKS = {"code-block", "code", "sourcecode", "ipython"}


def _quote(title: str, content: list[str]) -> list[str]:
    """A block quote that opens with a bold title; display math kept on one line each."""
    while content and not content[0].strip():
        content = content[1:]
    lines = [f"**{title}**", ""] if title else []
    lines += _one_line_math(content)
    while lines and not lines[-1].strip():
        lines.pop()
    return [f"> {line}".rstrip() for line in lines]


def _one_line_math(lines: list[str]) -> list[str]:
    """Join each ``$$ ... $$`` block into one line (``> `` inside would reach MathJax)."""
    out: list[str] = []
    block: list[str] | None = None
    for line in lines:
        if block is None:
            if line.strip().startswith("$$") and line.strip().count("$$") == 1:
                block = [line.strip()]
            else:
                out.append(line)
        else:
            block.append(line.strip())
            if "$$" in line:
                out.append(" ".join(part for part in block if part))
                block = None
    if block is not None:
        out.extend(block)
    return out


def _list_table(content: list[str]) -> list[str]:
    """``* - a\\n  - b`` rows of a ``{list-table}`` as a Markdown table (first row = head)."""
    rows: list[list[str]] = []
    for line in content:
        stripped = line.strip()
        if stripped.startswith("* -"):
            rows.append([stripped[3:].strip()])
        elif stripped.startswith("- ") and rows:
            rows[-1].append(stripped[2:].strip())
        elif stripped and rows:
            rows[-1][-1] += " " + stripped
    if not rows:
        return []
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    table = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    return table + ["| " + " | ".join(r) + " |" for r in rows[1:]]


def _directive(page: _Page, name: str, arg: str, body: list[str]) -> list[str]:
    """One MyST directive as plain Markdown lines."""
    options, content = _options(body)
    classes = options.get("class", "").split()
    if name in _CODE_BLOCKS:
        language = arg.split()[0] if arg else options.get("language", "")
        return ["```" + language, *content, "```"]
    if name == "math":
        label = options.get("label") or options.get("name")
        tag = _equation_tag(page, label) if label else ""
        return ["$$", *content, *([tag] if tag else []), "$$"]
    if name in _DROPPED:
        return []
    if name == "raw":
        return content if arg.strip() == "html" else []
    if name in ("literalinclude", "include"):
        path = (page.book.root / page.doc).parent / arg.strip()
        text = path.read_text(encoding="utf8").splitlines()
        if name == "include":
            return _convert_lines(page, text)
        return ["```" + options.get("language", ""), *text, "```"]
    if name == "glossary":
        return [f"[The glossary]({page.book.page(page.book.glossary)}) lists these terms."]
    if name == "bibliography":
        return [f"[The references]({page.book.page(page.book.references)}) list these works."]

    converted = _convert_lines(page, content)
    if name in _NUMBERED:
        kind = _NUMBERED[name]
        label = options.get("name")
        target = page.book.targets.get(label) if label else None
        number = target.number if target else 0
        heading = f"**{kind} {number}.**" if number else f"**{kind}.**"
        if name == "list-table":
            caption = [f"{heading} {arg}".rstrip()] if arg else []
            return [*caption, "", *_list_table(content)]
        if name == "table":
            return [f"{heading} {arg}".rstrip(), "", *converted]
        caption = " ".join(line.strip() for line in converted if line.strip())
        lines = []
        if name == "figure":
            alt = options.get("alt", "")
            lines = [f"![{alt}]({_file_link(page, arg.strip(), image=True)})", ""]
        return [*lines, f"{heading} {caption}".rstrip()]
    if name == "image":
        return [f"![{options.get('alt', '')}]({_file_link(page, arg.strip(), image=True)})"]
    if name in _GLUE_BLOCKS:
        key = _glue_key(arg)
        return [f"(The value `{key}`, printed by the code above.)"]
    if name == "dropdown" or "dropdown" in classes:
        title = arg or _ADMONITIONS.get(name, "Details")
        return [f"<details><summary>{title}</summary>", "", *converted, "", "</details>"]
    if name in _ADMONITIONS:
        first = [arg] if arg else []
        return _quote(_ADMONITIONS[name], _convert_lines(page, first + content))
    if name in _TITLED:
        return _quote(arg, converted)
    if name in _QUOTES:
        return _quote("", converted)
    if name in _TRANSPARENT:
        return converted
    page.warn(f"no plain-Markdown form for the directive {{{name}}}; shown as a quote")
    return _quote(f"{name.capitalize()}{': ' + arg if arg else ''}", converted)


def _equation_tag(page: _Page, label: str) -> str:
    target = page.book.targets.get(label)
    return rf"\tag{{{target.number}}}" if target and target.number else ""


def _convert_lines(page: _Page, lines: list[str]) -> list[str]:
    """Block-level pass: directives, targets, comments and equation labels."""
    out: list[str] = []
    for kind, item in _blocks(lines):
        if kind == "line":
            if _TARGET.match(item) or item.startswith("%"):
                continue
            if match := _EQ_LABEL.match(item):  # "$$ (label)": MathJax numbers it with \tag
                tag = _equation_tag(page, match["label"])
                head = match["head"].rstrip()
                if head:  # "$$ x $$ (label)" on one line, or "x $$ (label)"
                    item = f"{head} {tag} $$" if tag else f"{head} $$"
                else:
                    out.extend([tag] if tag else [])
                    item = "$$"
            out.append(item)
            continue
        indent, fence, info, body = item
        directive = _DIRECTIVE.match(info)
        if directive:
            out.extend(_directive(page, directive["name"], directive["arg"], body))
        else:
            out.extend([indent + fence + info, *body, indent + fence])
    return out


# A role with its content, or an inline code span (left alone).
_INLINE = re.compile(
    r"(?P<role>\{(?P<name>[A-Za-z][\w:.+-]*)\}(?P<rt>`+)(?P<body>.+?)(?P=rt)(?!`))"
    r"|(?P<code>(?P<ct>`+).+?(?P=ct)(?!`))",
    re.DOTALL,
)
_LINK = re.compile(r"(?P<bang>!?)\[(?P<text>[^\]]*)\]\((?P<url>[^)\s]+)(?P<rest>[^)]*)\)")
_SUBSTITUTION = re.compile(r"\{\{\s*(?P<key>[\w.-]+)\s*\}\}")


def _text_and_target(body: str) -> tuple[str, str]:
    """``text <target>`` -> (text, target); a bare ``target`` -> (target, target)."""
    body = " ".join(body.split())
    if match := re.fullmatch(r"(?P<text>.*?)\s*<(?P<target>[^<>]+)>", body):
        return match["text"] or match["target"], match["target"]
    return body, body


def _glue_key(body: str) -> str:
    """``name:.3f`` (or ``notebook.ipynb::name:.3f``) -> ``name``."""
    return body.split("::")[-1].split(":")[0].strip()


def _resolve(page: _Page, path: str) -> str:
    """A path of the repository, from one relative to the page (or absolute: ``/...``)."""
    if path.startswith("/"):
        return path.lstrip("/")
    parts: list[str] = []
    for part in [*PurePosixPath(page.doc).parent.parts, *PurePosixPath(path).parts]:
        if part == "..":
            if not parts:
                raise page.fail(f"{path} points outside the repository")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _doc_name(page: _Page, target: str) -> str:
    """A ``{doc}`` target or a link to a page: ``../x/y.ipynb`` -> ``x/y``."""
    return _resolve(page, target).removesuffix(".md").removesuffix(".ipynb")


def _file_link(page: _Page, url: str, image: bool = False) -> str:
    """A relative link of the page as an absolute one: a website page, or a file on GitHub."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^#", url):
        return url
    path, _, anchor = url.partition("#")
    if path.endswith((".md", ".ipynb")) and not image:
        return page.book.page(_doc_name(page, path), anchor)
    book = page.book
    resolved = _resolve(page, path)
    return book.raw(resolved) if image else f"{book.repo}/blob/{book.branch}/{resolved}"


def _cite(page: _Page, name: str, body: str) -> str:
    keys = [k.strip() for k in body.split(",") if k.strip()]
    refs = page.book.page(page.book.references)
    found = []
    for key in keys:
        if key not in page.book.citations:
            raise page.fail(f"{{cite}}`{key}` is not in the bibliography (references.bib)")
        found.append(page.book.citations[key])
    if name in ("cite:t", "cite:ts", "cite:alt"):  # the site: Glorot et al. [2011]
        return ", ".join(f"[{who} [{year}]]({refs})" for who, year in found)
    if name == "cite:author":
        return ", ".join(f"[{who}]({refs})" for who, _ in found)
    if name in ("cite:year", "cite:yearpar"):
        years = ", ".join(f"[{year}]({refs})" for _, year in found)
        return f"({years})" if name == "cite:yearpar" else years
    inner = "; ".join(f"[{who}, {year}]({refs})" for who, year in found)
    return f"[{inner}]"  # the site's author-year style: [Glorot et al., 2011]


def _ref(page: _Page, name: str, body: str) -> str:
    text, label = _text_and_target(body)
    target = page.book.targets.get(label)
    if target is None:
        raise page.fail(f"{{{name}}}`{body}`: no label ({label})= or :name: {label} in the book")
    here = target.doc == page.doc
    if name == "eq":
        words = f"({target.number})"
    elif name == "numref":
        words = f"{target.kind} {target.number}" if target.number else target.title
        if "%s" in text or "{number}" in text:
            words = text.replace("%s", str(target.number)).replace("{number}", str(target.number))
        elif text != label:
            words = text
        if not here:  # numbers are counted per notebook: name the page instead
            words = f"a {target.kind.lower()} in {page.book.title(target.doc)}"
    else:
        words = target.title if text == label else text
    if here:
        return f"*{words}*" if name == "ref" else words
    return f"[{words}]({page.book.page(target.doc, label)})"


def _role(page: _Page, name: str, body: str) -> str:
    """One MyST role as plain Markdown."""
    book = page.book
    if name in ("glue", "glue:", "glue:text", "glue:any", "glue:md"):
        return f"`{_glue_key(body)}`"
    if name == "term":
        text, term = _text_and_target(body)
        anchor = book.terms.get(term.lower())
        if anchor is None:
            raise page.fail(f"{{term}}`{body}`: no such term in the glossary ({book.glossary})")
        return f"[{text}]({book.page(book.glossary, anchor)})"
    if name == "cite" or name.startswith("cite:"):
        return _cite(page, name, body)
    if name in ("ref", "numref", "eq"):
        return _ref(page, name, body)
    if name == "doc":
        text, target = _text_and_target(body)
        doc = _doc_name(page, target)
        return f"[{book.title(doc) if text == target else text}]({book.page(doc)})"
    if name == "download":
        text, target = _text_and_target(body)
        return f"[{text}]({_file_link(page, target)})"
    if name == "math":
        return f"${body}$"
    if name in ("sub", "sup", "kbd"):
        return f"<{name}>{body}</{name}>"
    if name in ("abbr", "index", "u", "del"):
        return _text_and_target(body)[0]
    if name in ("code", "literal", "samp", "file", "command", "program", "envvar", "option") or (
        name.startswith("py:")
        or name in ("func", "class", "meth", "mod", "attr", "data", "obj", "exc", "any")
    ):
        text, target = _text_and_target(body)
        if text == target:
            text = target.lstrip("~").split(".")[-1] if target.startswith("~") else target
        return f"`{text}`"
    page.warn(f"no plain-Markdown form for the role {{{name}}}; kept its text")
    return _text_and_target(body)[0]


def _inline(page: _Page, text: str) -> str:
    """Roles, relative links and substitutions in a stretch of Markdown (not code)."""

    def replace(match: re.Match[str]) -> str:
        if match["code"]:
            return match["code"]
        return _role(page, match["name"], match["body"])

    def link(match: re.Match[str]) -> str:
        url = _file_link(page, match["url"], image=bool(match["bang"]))
        return f"{match['bang']}[{match['text']}]({url}{match['rest']})"

    def substitute(match: re.Match[str]) -> str:
        return page.book.substitutions.get(match["key"], match[0])

    pieces = []
    last = 0
    for match in _INLINE.finditer(text):
        plain = text[last : match.start()]
        pieces.append(_SUBSTITUTION.sub(substitute, _LINK.sub(link, plain)))
        pieces.append(replace(match))
        last = match.end()
    pieces.append(_SUBSTITUTION.sub(substitute, _LINK.sub(link, text[last:])))
    return "".join(pieces)


def _inline_outside_code(page: _Page, lines: list[str]) -> list[str]:
    """Apply :func:`_inline` to every stretch of lines between code fences."""
    out: list[str] = []
    stretch: list[str] = []
    for kind, item in _blocks(lines):
        if kind == "line":
            stretch.append(item)
            continue
        if stretch:
            out.extend(_inline(page, "\n".join(stretch)).split("\n"))
            stretch = []
        indent, fence, info, body = item
        out.extend([indent + fence + info, *body, indent + fence])
    if stretch:
        out.extend(_inline(page, "\n".join(stretch)).split("\n"))
    return out


def myst_to_markdown(text: str, book: Book, doc: str, source: str = "") -> str:
    """Turn one markdown cell of the MyST page ``doc`` into Markdown Jupyter and Colab show.

    Directives and roles are converted as the module docstring says; an unknown
    directive becomes a quote and an unknown role its text, each with a warning in
    ``book.warnings``. A ``{term}``, ``{cite}``, ``{ref}`` or ``{numref}`` that names
    nothing raises ``ValueError`` (the strict book build fails on it too).
    """
    page = _Page(book, doc, source or doc)
    lines = _inline_outside_code(page, _convert_lines(page, text.splitlines()))
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)


# --------------------------------------------------------------------- the notebooks

_GLUE_IMPORT = re.compile(r"^(?P<indent>[ \t]*)from myst_nb import glue[ \t]*$", re.MULTILINE)
_HIDDEN_TAGS = {"hide-input", "remove-input", "remove-cell"}


def _setup_cell(root: Path) -> nbformat.NotebookNode:
    source = (
        "# Setup: installs the course package when it is missing (Colab, a fresh laptop)\n"
        "# and says which device this notebook computes on. On a GPU runtime it is CUDA.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("relu_course") is None:\n'
        f"    {install_line(root)}\n"
        "\n"
        "import relu_course\n"
        "from relu_course.training import get_device\n"
        "\n"
        'print(f"relu_course {relu_course.__version__}, running on: {get_device()}")'
    )
    return nbformat.v4.new_code_cell(source, metadata={"tags": ["remove-cell"]})


def _guide(book: Book, doc: str, glue_example: str | None) -> str:
    """The note under a twin's title: what this notebook is and how its text differs."""
    text = (
        f"> *The notebook version of [{book.title(doc)}]({book.page(doc)}), from the course "
        "website.* Run it from the top (in Colab: *Runtime > Run all*); the setup cell "
        "installs the course package when it is missing and prints the device."
    )
    if glue_example:
        text += (
            " Numbers that the website writes into the text appear here as names in code "
            f"font, such as `{glue_example}`: the code cell before the sentence prints them."
        )
    return text + " Links open the website."


def _code_cell(cell: nbformat.NotebookNode, source: Path) -> nbformat.NotebookNode:
    """A chapter's code cell as it runs without myst-nb; raises-exception cells go on."""
    text = _GLUE_IMPORT.sub(r"\g<indent>from relu_course.notebook import glue", cell.source)
    if "myst_nb" in text:
        raise ValueError(
            f"{source.name}: a code cell uses myst_nb beyond `from myst_nb import glue`, "
            "which a plain notebook cannot run; give relu_course.notebook a stand-in"
        )
    tags = set(cell.metadata.get("tags", []))
    if "raises-exception" in tags:
        body = "\n".join(f"    {line}" if line.strip() else "" for line in text.splitlines())
        text = (
            "# This cell fails on purpose: its error is printed, and the notebook goes on.\n"
            f"try:\n{body}\n"
            "except Exception as error:  # the error is the lesson\n"
            '    print(f"{type(error).__name__}: {error}")'
        )
    cell.source = text
    if tags & _HIDDEN_TAGS:
        cell.metadata.setdefault("jupyter", {})["source_hidden"] = True
    return cell


def make_twin(source: Path, root: Path = ROOT, book: Book | None = None) -> nbformat.NotebookNode:
    """Convert one MyST chapter to an output-free notebook that runs and reads in Colab.

    The setup cell follows the first markdown cell (the title), whose heading is followed
    by a short guide. Cell ids are numbered (``cell-0``, ``cell-1``, ...) and jupytext's
    own metadata is dropped, so the same sources always give the same bytes.
    """
    book = book or load_book(root)
    doc = source.relative_to(root).with_suffix("").as_posix()
    notebook = jupytext.read(source)
    notebook.metadata.pop("jupytext", None)
    glue_keys = re.findall(r"\{glue(?::\w*)?\}`([^`]+)`", source.read_text(encoding="utf8"))
    example = _glue_key(glue_keys[0]) if glue_keys else None
    cells = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = myst_to_markdown(cell.source, book, doc, source.name)
        elif cell.cell_type == "code":
            cell = _code_cell(cell, source)
        cells.append(cell)
    first = next((i for i, c in enumerate(cells) if c.cell_type == "markdown"), None)
    if first is None:
        cells.insert(0, nbformat.v4.new_markdown_cell(_guide(book, doc, example)))
        first = 0
    else:
        head, sep, rest = cells[first].source.partition("\n")
        if head.startswith("# "):
            guide = _guide(book, doc, example)
            cells[first].source = f"{head}\n\n{guide}\n\n{rest.lstrip(sep)}".rstrip()
        else:
            cells[first].source = f"{_guide(book, doc, example)}\n\n{cells[first].source}"
    cells.insert(first + 1, _setup_cell(root))
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


def _each_twin(root: Path) -> Iterable[tuple[Path, Path, Callable[[], str]]]:
    book = load_book(root)
    for source in chapter_sources(root):
        yield source, twin_path(source, root), lambda s=source: _dumps(make_twin(s, root, book))
    for message in dict.fromkeys(book.warnings):
        print(f"warning: {message}", file=sys.stderr)


def write_twins(root: Path = ROOT) -> list[Path]:
    """(Re)write every twin and delete twins whose chapter is gone; return the paths written."""
    written = []
    wanted = set()
    for _, target, render in _each_twin(root):
        wanted.add(target)
        target.parent.mkdir(exist_ok=True)
        text = render()
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
    for source, target, render in _each_twin(root):
        wanted.add(target)
        rel = target.relative_to(root)
        if not target.exists():
            problems.append(f"{rel} is missing")
        elif target.read_text(encoding="utf8") != render():
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
