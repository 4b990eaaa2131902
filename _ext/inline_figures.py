"""Make the kernels that execute the chapters render matplotlib figures as images.

``make`` exports ``MPLBACKEND=Agg`` (right for tests and scripts: no window opens). A
Jupyter kernel started with that variable uses Agg instead of its inline backend, and
IPython then has no PNG formatter for figures: ``glue("fig", fig)`` stores only the text
``<Figure size 640x480 with 1 Axes>`` and every figure of the site disappears without a
warning. myst-nb starts its kernels from this process's environment, so the book build
points them at the inline backend here, whatever the caller exported.
"""

from __future__ import annotations

import os
from typing import Any

INLINE = "module://matplotlib_inline.backend_inline"


def setup(app: Any) -> dict[str, Any]:
    os.environ["MPLBACKEND"] = INLINE
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
