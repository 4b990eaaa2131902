"""Serve BokehJS from the site itself, only on pages with an interactive figure.

The chapters' interactive figures (``relu_course.interactive``) are Bokeh documents
whose data was computed when the book was executed. Bokeh's default is to load its
JavaScript from a CDN, which fails offline (in a classroom, in CI). This extension:

* sets ``RELU_COURSE_BOOK_BUILD=1`` for the kernels that execute the chapters, so
  ``relu_course.interactive.show`` emits the figure without inline BokehJS;
* copies BokehJS from the installed ``bokeh`` package (so its version always matches the
  Python side) into ``_static/bokeh/`` of the build;
* adds those scripts to the pages that hold an interactive figure, and to no other page.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

MARKER = 'class="relu-interactive"'
SCRIPTS = ("bokeh.min.js", "bokeh-widgets.min.js")


def _bokeh_js_dir() -> Path | None:
    try:
        import bokeh
    except ImportError:
        return None
    return Path(bokeh.__file__).parent / "server" / "static" / "js"


def _add_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    if MARKER in context.get("body", "") and _bokeh_js_dir() is not None:
        for name in SCRIPTS:
            app.add_js_file(f"bokeh/{name}")


def _copy_scripts(app: Any, exception: Exception | None) -> None:
    source = _bokeh_js_dir()
    if exception is not None or source is None or app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / "bokeh"
    target.mkdir(parents=True, exist_ok=True)
    for name in SCRIPTS:
        shutil.copyfile(source / name, target / name)


def setup(app: Any) -> dict[str, Any]:
    os.environ["RELU_COURSE_BOOK_BUILD"] = "1"
    app.connect("html-page-context", _add_scripts)
    app.connect("build-finished", _copy_scripts)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
