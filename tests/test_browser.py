"""The built site in a real browser: what a student sees, checked page by page.

The strict book build (the ``built_site`` fixture of ``tests/conftest.py``) is served
on ``127.0.0.1`` at a free port and every HTML page is opened once in Debian's headless
``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it), driven by Playwright for
Python. Playwright's own browser downloads are never used: they cannot work offline.

One visit per page records everything; the tests below then judge one property each,
so a failure names every page and element at fault, not just the first:

* no console errors and no uncaught JavaScript errors (one benign theme message is
  allowed, with its reason in ``BENIGN_CONSOLE``);
* no failed or >= 400 requests to the local server, and nothing fetched from outside it
  (the site must work on a classroom network with no internet);
* math is typeset: every ``.math`` element holds MathJax output (``mjx-container``) and
  no raw ``\\(`` / ``\\[`` delimiters are left in the visible text;
* every ``<img>`` loads (``naturalWidth > 0`` after scrolling through the page) and has
  alt text or a figure caption (an alt that is just the file name does not count);
* every internal link resolves to an existing file, and its ``#anchor`` to an id there;
* the Colab and Binder launch buttons point to ``.ipynb`` files tracked in this
  repository, on the repository and branch ``_config.yml`` names, and every chapter
  with a notebook twin (``notebooks/<chapter>.ipynb``) has a Colab button;
* the search page finds "dying" and links to the dying-ReLU chapter;
* each interactive figure (``relu_course.interactive``) answers its controls: moving a
  slider with the keyboard, or choosing from a menu, changes the data that is drawn.

Screenshots of three representative pages at desktop (1280x800) and phone (390x844)
width are written to ``_build/screenshots/`` (next to ``_build/html``).

Set ``RELU_COURSE_SITE=/path/to/_build/html`` to check an existing build instead of
building (handy while writing chapters); ``RELU_COURSE_CHROMIUM`` overrides the browser.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import yaml

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need Playwright: pip install playwright"
)

# book: the site comes from the strict build (through `site`), so the run schedules it last
pytestmark = [pytest.mark.slow, pytest.mark.book]

REPO_ROOT = Path(__file__).resolve().parents[1]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

#: Console messages that are not faults, each with the reason it is harmless.
BENIGN_CONSOLE: dict[str, str] = {
    "Got invalid theme mode": (
        "sphinx-book-theme reads the light/dark mode from localStorage, which is empty "
        "in a fresh browser profile; it logs this and falls back to the default mode"
    ),
}

#: Folders of the build that hold assets, not pages.
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads"}

#: Representative pages for the screenshots: (file stem of the PNG, page path).
SCREENSHOT_PAGES = [
    ("intro", "intro.html"),
    ("relu", "chapters/02_relu.html"),
    ("dying_relu", "chapters/04_dying_relu.html"),
]
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}

PAGE_TIMEOUT_MS = 30_000


# --------------------------------------------------------------------------------------
# What one visit records


@dataclass
class PageVisit:
    """Everything the browser saw on one page (paths are relative to the site root)."""

    path: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    math_total: int = 0
    math_unrendered: list[str] = field(default_factory=list)
    raw_delimiters: list[str] = field(default_factory=list)
    mathjax_error: str = ""
    images: list[dict[str, Any]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    figures: list[dict[str, Any]] = field(default_factory=list)
    content_images: int = 0
    figure_reprs: list[str] = field(default_factory=list)


# In-page scripts. MathJax 3 resolves startup.promise after the first typesetting pass.
JS_WAIT_MATHJAX = """
async () => {
  if (!document.querySelector('.math')) return '';
  for (let i = 0; i < 200 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(r => setTimeout(r, 50));
  if (!(window.MathJax && MathJax.startup && MathJax.startup.promise))
    return 'MathJax never loaded (window.MathJax.startup is missing)';
  try { await MathJax.startup.promise; } catch (e) { return 'MathJax failed: ' + e; }
  return '';
}
"""

JS_SCROLL_AND_WAIT_IMAGES = """
async () => {
  const step = Math.max(200, window.innerHeight - 100);
  for (let y = 0; y < document.body.scrollHeight; y += step) {
    window.scrollTo(0, y);
    await new Promise(r => setTimeout(r, 30));
  }
  window.scrollTo(0, 0);
  const settle = img => img.complete ? Promise.resolve() : new Promise(r => {
    img.addEventListener('load', r, {once: true});
    img.addEventListener('error', r, {once: true});
    setTimeout(r, 10000);
  });
  await Promise.all(Array.from(document.images).map(settle));
}
"""

JS_COLLECT = """
() => {
  const maths = Array.from(document.querySelectorAll('.math'));
  const unrendered = maths.filter(m => !m.querySelector('mjx-container'))
                          .map(m => m.textContent.trim().slice(0, 80));
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, textarea, mjx-container, .highlight')
      .forEach(n => n.remove());
  const text = body.textContent;
  const raw = [];
  const re = /\\\\\\(|\\\\\\[/g;
  let m;
  while ((m = re.exec(text)) !== null && raw.length < 5)
    raw.push(text.slice(Math.max(0, m.index - 30), m.index + 50).replace(/\\s+/g, ' '));
  const images = Array.from(document.images).map(img => {
    const fig = img.closest('figure');
    const cap = fig ? fig.querySelector('figcaption') : null;
    return {src: img.currentSrc || img.src, attr_src: img.getAttribute('src') || '',
            alt: (img.getAttribute('alt') || '').trim(), natural_width: img.naturalWidth,
            caption: cap ? cap.textContent.trim() : ''};
  });
  const links = Array.from(document.querySelectorAll('a[href]')).map(a => a.href);
  const article = document.querySelector('article') || document.body;
  const figures = Array.from(article.querySelectorAll('figure')).map(f => ({
    id: f.id || '', has_media: !!f.querySelector('img, svg, object, video, canvas'),
    caption: (f.querySelector('figcaption') || {textContent: ''})
               .textContent.trim().slice(0, 60)}));
  const content_images = article.querySelectorAll('img').length;
  const reprs = (article.innerText.match(/<(Figure|matplotlib\\.[\\w.]+) [^>]*>/g) || [])
                  .slice(0, 5);
  return {math_total: maths.length, unrendered, raw, images, links, figures, content_images,
          reprs};
}
"""


# --------------------------------------------------------------------------------------
# Fixtures: the site, a local server, one browser


@pytest.fixture(scope="module")
def site(request: pytest.FixtureRequest) -> Path:
    """The built HTML folder: ``built_site`` (strict build), or ``$RELU_COURSE_SITE``."""
    override = os.environ.get("RELU_COURSE_SITE")
    if override:
        root = Path(override).resolve()
        if not (root / "intro.html").is_file():
            pytest.fail(f"RELU_COURSE_SITE={override} holds no intro.html; point it at _build/html")
        return root
    return Path(request.getfixturevalue("built_site")).resolve()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    """``http://127.0.0.1:<free port>/`` serving ``site`` from a thread; stopped afterwards."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _chromium_path() -> str:
    candidates = [os.environ.get("RELU_COURSE_CHROMIUM"), "/usr/bin/chromium"]
    candidates += [shutil.which(n) for n in ("chromium", "chromium-browser")]
    for path in candidates:
        if path and Path(path).is_file():
            return path
    pytest.skip(
        "no chromium found: install Debian's package (`apt-get install -y chromium`, as "
        ".ci/run does) or set RELU_COURSE_CHROMIUM; never run `playwright install` here"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Debian chromium for the whole module."""
    executable = _chromium_path()
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def site_pages(site: Path) -> list[str]:
    """Every HTML page of the build (relative POSIX paths), asset folders skipped.

    ``index.html`` is left out when it is only a redirect; its target is checked by
    :func:`test_index_redirect_resolves`.
    """
    pages = []
    for path in sorted(site.rglob("*.html")):
        rel = path.relative_to(site)
        if rel.parts[0] in ASSET_DIRS:
            continue
        if rel.as_posix() == "index.html" and _redirect_target(path):
            continue
        pages.append(rel.as_posix())
    return pages


def _redirect_target(path: Path) -> str:
    match = re.search(
        r'http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"',
        path.read_text(encoding="utf8", errors="replace"),
        re.IGNORECASE,
    )
    return match.group(1) if match else ""


def _visit(browser: Any, base_url: str, path: str) -> PageVisit:
    """Open one page in a fresh context and record what the browser saw."""
    visit = PageVisit(path)
    host = urlsplit(base_url).netloc
    context = browser.new_context(viewport={"width": 1280, "height": 800})

    def route(r: Any) -> None:
        url = r.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != host:
            visit.external_requests.append(url)
            r.abort()
        else:
            r.continue_()

    def on_console(msg: Any) -> None:
        if msg.type == "error" and not any(b in msg.text for b in BENIGN_CONSOLE):
            loc = msg.location or {}
            where = f" ({loc.get('url', '')}:{loc.get('lineNumber', '')})" if loc else ""
            visit.console_errors.append(f"console.error: {msg.text}{where}")

    def on_response(resp: Any) -> None:
        if urlsplit(resp.url).netloc == host and resp.status >= 400:
            visit.failed_requests.append(f"HTTP {resp.status} {resp.url}")

    def on_failed(req: Any) -> None:
        if urlsplit(req.url).netloc == host:
            visit.failed_requests.append(f"failed ({req.failure}) {req.url}")

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", on_console)
    page.on("pageerror", lambda err: visit.console_errors.append(f"uncaught: {err}"))
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        page.goto(base_url + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        visit.mathjax_error = page.evaluate(JS_WAIT_MATHJAX)
        page.evaluate(JS_SCROLL_AND_WAIT_IMAGES)
        seen = page.evaluate(JS_COLLECT)
    finally:
        context.close()
    visit.math_total = seen["math_total"]
    visit.math_unrendered = seen["unrendered"]
    visit.raw_delimiters = seen["raw"]
    visit.images = seen["images"]
    visit.links = seen["links"]
    visit.figures = seen["figures"]
    visit.content_images = seen["content_images"]
    visit.figure_reprs = seen["reprs"]
    return visit


@pytest.fixture(scope="module")
def visits(browser: Any, base_url: str, site: Path) -> dict[str, PageVisit]:
    """One recorded visit per page of the site."""
    pages = site_pages(site)
    assert "intro.html" in pages, f"the build at {site} has no intro.html; pages: {pages}"
    return {path: _visit(browser, base_url, path) for path in pages}


def _fail_if_any(found: dict[str, list[str]], headline: str) -> None:
    """Fail with ``headline`` and every problem, page by page, when there is one."""
    report = "\n".join(
        f"{page}:\n  " + "\n  ".join(items) for page, items in found.items() if items
    )
    if report:
        pytest.fail(f"{headline}\n{report}", pytrace=False)


# --------------------------------------------------------------------------------------
# Static look-ups: ids in built files, files tracked by git, the configured repository


class _IdParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "id" or (tag == "a" and name == "name"):
                if value:
                    self.ids.add(value)


@functools.cache
def _ids_in(path: Path) -> frozenset[str]:
    parser = _IdParser()
    parser.feed(path.read_text(encoding="utf8", errors="replace"))
    return frozenset(parser.ids)


@functools.cache
def _tracked_files() -> frozenset[str] | None:
    """Paths git tracks in this repository, or None outside a git checkout."""
    if not (REPO_ROOT / ".git").exists() or shutil.which("git") is None:
        return None
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    return frozenset(p for p in out.split("\0") if p)


def _configured_repository() -> tuple[str, str]:
    """``("org/repo", branch)`` from ``_config.yml``'s ``repository:`` section."""
    config = yaml.safe_load((REPO_ROOT / "_config.yml").read_text(encoding="utf8"))
    repo = config.get("repository") or {}
    url = str(repo.get("url", "")).rstrip("/")
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+)", url)
    assert match, f"_config.yml repository.url {url!r} is not https://github.com/<org>/<repo>"
    return match.group(1), str(repo.get("branch", "main"))


def launch_target(url: str) -> tuple[str, str, str] | None:
    """``(org/repo, branch, path)`` a Colab or Binder launch URL opens, else None.

    >>> launch_target("https://colab.research.google.com/github/o/r/blob/main/nb/a.ipynb")
    ('o/r', 'main', 'nb/a.ipynb')
    >>> launch_target("https://mybinder.org/v2/gh/o/r/main?urlpath=lab/tree/nb/a.ipynb")
    ('o/r', 'main', 'nb/a.ipynb')
    """
    parts = urlsplit(url)
    if parts.netloc == "colab.research.google.com":
        m = re.fullmatch(r"/github/([^/]+/[^/]+)/blob/([^/]+)/(.+)", parts.path)
        return (m.group(1), m.group(2), unquote(m.group(3))) if m else ("?", "?", url)
    if parts.netloc == "mybinder.org":
        m = re.fullmatch(r"/v2/gh/([^/]+/[^/]+)/([^/]+)", parts.path)
        urlpath = parse_qs(parts.query).get("urlpath", [""])[0]
        tree = re.fullmatch(r"(?:lab/tree|tree)/(.+)", urlpath)
        if not (m and tree):
            return ("?", "?", url)
        return m.group(1), m.group(2), unquote(tree.group(1))
    return None


# --------------------------------------------------------------------------------------
# The tests


def test_site_has_the_toc_pages(site: Path, visits: dict[str, PageVisit]) -> None:
    """Every chapter of _toc.yml became a page that the browser visited."""
    toc = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text(encoding="utf8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    missing = [f"{f}.html" for f in files if f"{f}.html" not in visits]
    assert not missing, f"_toc.yml entries with no page in {site}: {missing}"


def test_index_redirect_resolves(site: Path) -> None:
    target = _redirect_target(site / "index.html") if (site / "index.html").exists() else ""
    if target:
        assert (site / target).is_file(), f"index.html redirects to {target}, which is missing"


def test_no_console_errors(visits: dict[str, PageVisit]) -> None:
    found = {p: v.console_errors for p, v in visits.items()}
    _fail_if_any(found, "JavaScript errors:")


def test_no_failed_local_requests(visits: dict[str, PageVisit]) -> None:
    found = {p: v.failed_requests for p, v in visits.items()}
    _fail_if_any(found, "requests to the local site failed (a missing asset, favicon or page):")


def test_nothing_fetched_from_the_internet(visits: dict[str, PageVisit]) -> None:
    """Pages load only their own files, so they work on a classroom network offline."""
    found = {p: sorted(set(v.external_requests)) for p, v in visits.items()}
    _fail_if_any(
        found,
        "pages fetch resources from outside the site (blocked here, as offline); "
        "bundle them into _static:",
    )


def test_math_is_rendered(visits: dict[str, PageVisit]) -> None:
    found = {}
    for path, v in visits.items():
        items = [v.mathjax_error] if v.mathjax_error else []
        items += [f"not typeset: {t!r}" for t in v.math_unrendered[:5]]
        items += [f"raw delimiter in text: ...{t}..." for t in v.raw_delimiters]
        found[path] = items
    _fail_if_any(found, "math not rendered by MathJax:")
    pages_with_math = [p for p, v in visits.items() if v.math_total]
    assert len(pages_with_math) >= 2, (
        f"only {pages_with_math} show math; the chapters state formulas, so the math "
        "detection (elements of class 'math') is probably broken"
    )


def test_every_image_loads(visits: dict[str, PageVisit]) -> None:
    found = {
        p: [f"naturalWidth 0: {i['attr_src']}" for i in v.images if i["natural_width"] <= 0]
        for p, v in visits.items()
    }
    _fail_if_any(found, "images that did not load:")


def test_figures_show_images(visits: dict[str, PageVisit]) -> None:
    """Each <figure> holds an image, and no plot was printed as ``<Figure size ...>`` text.

    A matplotlib figure turns into that text when the kernel has no inline backend, e.g.
    when MPLBACKEND=Agg is in the environment of the book build.
    """
    found = {}
    for path, v in visits.items():
        items = [
            f"figure #{f['id'] or '?'} ({f['caption']!r}) holds no image"
            for f in v.figures
            if not f["has_media"]
        ]
        items += [f"plot printed as text: {r}" for r in v.figure_reprs]
        found[path] = items
    _fail_if_any(
        found,
        "figures without an image (if the text is `<Figure size ...>`, the kernels ran "
        "without matplotlib's inline backend: build without MPLBACKEND=Agg):",
    )
    with_images = [p for p, v in visits.items() if p.startswith("chapters/") and v.content_images]
    assert with_images, (
        "no chapter page shows a single image in its content: the chapters' plots are "
        "missing, so the image and alt-text checks have nothing to check"
    )


def test_every_image_has_alt_text_or_caption(visits: dict[str, PageVisit]) -> None:
    """alt text or a <figcaption>; an alt equal to the file name is not a description."""
    found = {}
    for path, v in visits.items():
        bad = []
        for img in v.images:
            alt, name = img["alt"], img["attr_src"].rsplit("/", 1)[-1]
            filename_alt = bool(alt) and (alt == img["attr_src"] or alt.endswith(name))
            if (not alt or filename_alt) and not img["caption"]:
                why = f"alt is the file name {alt!r}" if filename_alt else "no alt"
                bad.append(f"{img['attr_src']} ({why}, no figcaption)")
        found[path] = bad
    _fail_if_any(
        found,
        "images without alt text or caption (in a MyST code cell, add cell metadata "
        "`mystnb: {figure: {caption: ...}}` or `mystnb: {image: {alt: ...}}`):",
    )


def test_internal_links_resolve(site: Path, base_url: str, visits: dict[str, PageVisit]) -> None:
    found: dict[str, list[str]] = {}
    for path, v in visits.items():
        bad = []
        for href in sorted(set(v.links)):
            if not href.startswith(base_url):
                continue
            parts = urlsplit(href)
            rel = unquote(parts.path).lstrip("/")
            target = site / rel
            if rel == "" or rel.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                bad.append(f"{href}: no file {target.relative_to(site)}")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html" and anchor not in _ids_in(target):
                bad.append(f"{href}: no id {anchor!r} in {target.relative_to(site)}")
        found[path] = bad
    _fail_if_any(found, "broken internal links:")


def test_launch_buttons_open_notebooks_of_this_repository(visits: dict[str, PageVisit]) -> None:
    repo, branch = _configured_repository()
    tracked = _tracked_files()
    found: dict[str, list[str]] = {}
    colab: dict[str, set[str]] = {}
    for path, v in visits.items():
        bad = []
        for href in sorted(set(v.links)):
            target = launch_target(href)
            if target is None:
                continue
            where, ref, nb = target
            if href.startswith("https://colab.research.google.com"):
                colab.setdefault(path, set()).add(nb)
            if (where, ref) != (repo, branch):
                bad.append(f"{href}: opens {where}@{ref}, _config.yml says {repo}@{branch}")
            elif not nb.endswith(".ipynb"):
                bad.append(f"{href}: {nb} is not a notebook (.ipynb); Colab cannot open it")
            elif not (REPO_ROOT / nb).is_file():
                bad.append(f"{href}: {nb} does not exist in the repository")
            elif tracked is not None and nb not in tracked:
                bad.append(f"{href}: {nb} exists here but is not committed (git add it)")
        found[path] = bad
    _fail_if_any(found, "launch buttons that open nothing:")

    twins = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    assert twins, "notebooks/ holds no chapter notebooks: chapters have no Colab button"
    missing = []
    for twin in twins:
        page = f"chapters/{twin.stem}.html"
        if page in visits and f"notebooks/{twin.name}" not in colab.get(page, set()):
            missing.append(f"{page}: no Colab button to notebooks/{twin.name}")
    assert not missing, "chapters without their Colab button:\n" + "\n".join(missing)


def test_search_finds_dying(browser: Any, base_url: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(base_url + "search.html?q=dying", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_selector("#search-results ul.search li a", timeout=PAGE_TIMEOUT_MS)
        hrefs = page.eval_on_selector_all(
            "#search-results ul.search li a", "els => els.map(a => a.href)"
        )
    finally:
        context.close()
    assert not errors, f"the search page threw: {errors}"
    dying = [h for h in hrefs if "04_dying_relu" in h]
    assert dying, f"searching 'dying' found {hrefs}, none links to chapters/04_dying_relu"


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_screenshots(browser: Any, base_url: str, site: Path, viewport: str) -> None:
    """Full-page PNGs of representative pages in _build/screenshots/, to look at."""
    out = site.parent / "screenshots"
    out.mkdir(exist_ok=True)
    width, height = VIEWPORTS[viewport]
    phone = viewport == "phone"
    context = browser.new_context(
        viewport={"width": width, "height": height}, is_mobile=phone, has_touch=phone
    )
    written: list[Path] = []
    overflow: list[str] = []
    try:
        for stem, path in SCREENSHOT_PAGES:
            if not (site / path).is_file():
                pytest.fail(f"screenshot page {path} is not in the build")
            page = context.new_page()
            page.goto(base_url + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
            page.evaluate(JS_WAIT_MATHJAX)
            page.evaluate(JS_SCROLL_AND_WAIT_IMAGES)
            target = out / f"{stem}-{viewport}.png"
            page.screenshot(path=str(target), full_page=True)
            written.append(target)
            # the page itself must not scroll sideways (wide code, tables and display
            # math scroll inside their own boxes: _static/custom.css)
            widths = page.evaluate(
                "() => [document.documentElement.scrollWidth, window.innerWidth]"
            )
            if widths[0] > widths[1] + 1:
                overflow.append(f"{path}: page is {widths[0]} px wide in a {widths[1]} px window")
            page.close()
    finally:
        context.close()
    for target in written:
        assert target.stat().st_size > 10_000, f"{target} is suspiciously small (blank page?)"
    assert not overflow, "pages scroll sideways: " + "; ".join(overflow)


# --------------------------------------------------------------------------------------
# Interactive figures: a control moved, the drawn data changes

JS_MODEL_DATA = """
(name) => {
  if (!window.Bokeh) return null;
  const plain = v => (v && typeof v === 'object' && typeof v.length === 'number')
    ? Array.from(v, plain) : v;
  for (const doc of Bokeh.documents) {
    const model = doc.get_model_by_name(name);
    if (model) return JSON.stringify(Object.fromEntries(
      Object.entries(model.data).map(([k, v]) => [k, plain(v)])));
  }
  return null;
}
"""

#: (page, id of the figure block, name of the data source drawn, the controls to move:
#: ("select", index of the <select> in the block, option value) or ("slider", index of
#: the slider in the block, key presses)).
INTERACTIVE_FIGURES = [
    (
        "chapters/05_variants.html",
        "fig-explorer-interactive",
        "explorer-curve",
        [("select", 0, "leaky_relu"), ("slider", 0, "ArrowRight")],
    ),
    (
        "chapters/03_vanishing_gradients.html",
        "fig-depth-interactive",
        "depth-source",
        [("select", 1, "Xavier"), ("select", 0, "tanh"), ("select", 2, "10")],
    ),
    (
        "chapters/04_dying_relu.html",
        "fig-dying-interactive",
        "dying-bars",
        [("slider", 0, "End"), ("slider", 1, "ArrowRight")],
    ),
    (
        "chapters/01_why_nonlinearity.html",
        "fig-regions-interactive",
        "regions-source",
        [("slider", 0, "ArrowRight"), ("slider", 1, "End")],
    ),
]


@pytest.mark.parametrize(
    ("path", "block", "source", "moves"),
    INTERACTIVE_FIGURES,
    ids=[f[1] for f in INTERACTIVE_FIGURES],
)
def test_interactive_figure_answers_its_controls(
    browser: Any, base_url: str, path: str, block: str, source: str, moves: list
) -> None:
    """Each move of a control (keyboard on a slider, a choice in a menu) redraws the data."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    host = urlsplit(base_url).netloc
    outside: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc != host:
            outside.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(base_url + path, wait_until="load", timeout=PAGE_TIMEOUT_MS)
        page.wait_for_function(
            "(n) => window.Bokeh && Bokeh.documents.some(d => d.get_model_by_name(n))",
            arg=source,
            timeout=PAGE_TIMEOUT_MS,
        )
        figure = page.locator(f"#{block}")
        assert figure.get_attribute("role") == "figure"
        caption = page.locator(f"#{block}-caption").inner_text()
        assert len(caption) > 80, f"{block}: the caption does not say what the figure shows"
        before = page.evaluate(JS_MODEL_DATA, source)
        assert before, f"{block}: no data source {source!r} on {path}"
        for kind, index, value in moves:
            if kind == "select":
                figure.locator("select").nth(index).select_option(value)
            else:
                handle = figure.locator(".noUi-handle").nth(index)
                handle.focus()
                page.keyboard.press(value)
            page.wait_for_timeout(200)
            after = page.evaluate(JS_MODEL_DATA, source)
            assert after != before, f"{block}: {kind} {index} -> {value} left {source} unchanged"
            before = after
    finally:
        context.close()
    assert not errors, f"{path}: JavaScript errors: {errors}"
    assert not outside, f"{path}: fetched from outside the site: {outside}"
