"""Stand-ins for the book's build-only helpers, so that a chapter runs as a plain notebook.

The website is built with myst-nb: a chapter stores a value with
``glue(name, value, display=False)`` and its text shows it (``{glue:text}`name```, a
``{glue:figure}`` block). The chapters' notebook copies in ``notebooks/`` (what the Colab
buttons open) run where myst-nb is not installed, so the twin generator
(``_ext/notebook_twins.py``) imports :func:`glue` from here instead. It shows each value
where it is computed, under the name that the notebook's text points to.
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["glue"]


def _show(value: Any) -> None:
    """``IPython.display.display(value)`` in a notebook; ``print(value)`` elsewhere."""
    try:
        from IPython.display import display
    except ImportError:  # a plain Python session: no rich output
        print(value)
    else:
        display(value)


def _short(value: Any) -> str:
    """One readable line: six significant digits for numbers, ``str`` for the rest."""
    item = getattr(value, "item", None)
    if callable(item):  # a NumPy scalar, a one-element array or tensor
        try:
            value = item()
        except (ValueError, RuntimeError):  # more than one element: keep the whole value
            pass
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    return f"{float(value):.6g}"


def glue(name: str, variable: Any, display: bool = True) -> None:
    """Show ``variable`` under ``name``: the plain-notebook stand-in for ``myst_nb.glue``.

    A matplotlib figure is always displayed (the book shows it in a ``{glue:figure}``
    block). Any other value is displayed when ``display`` is true, as myst-nb does, and
    otherwise printed as one line ``name = value`` (numbers to six significant digits),
    so that a reader finds the number that the text names.

    Parameters
    ----------
    name : str
        The key the chapter's text refers to.
    variable : object
        The value: a number, a string, an array, a figure, ...
    display : bool
        Display the value itself (True) or print the one-line summary (False).

    Examples
    --------
    >>> glue("dead_fraction", 0.48612345, display=False)
    dead_fraction = 0.486123
    >>> glue("layers", 30, display=False)
    layers = 30
    """
    from matplotlib.figure import Figure

    if isinstance(variable, Figure) or display:
        _show(variable)
    else:
        print(f"{name} = {_short(variable)}")
