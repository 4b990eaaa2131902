"""The full battery of each ps1 function, by the function's name (for tests of the clean
re-verification, which in production reads its batteries from the test cells:
:func:`relu_course.grading.verify.batteries_in_tests`)."""

from __future__ import annotations

from relu_course import checks


def battery_for(function: str) -> list[checks.Case] | None:
    """The ``level="full"`` battery that grades ``function``, or ``None`` if there is none.

    ``relu`` -> the relu battery, ``relu_grad`` -> the relu battery with ``grad=True``,
    ``numerical_grad`` -> its battery; anything else (e.g. a ps2 function) -> ``None``.
    """
    if function == "numerical_grad":
        return checks.battery("numerical_grad", level="full")
    base, grad = (function[:-5], True) if function.endswith("_grad") else (function, False)
    try:
        return checks.battery(base, grad=grad, level="full")
    except ValueError:
        return None
