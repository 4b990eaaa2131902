"""relu_course: the helper package of the relu-course course.

One module per concept::

    activations        NumPy activations and their derivatives (the reference)
    torch_activations  autograd Functions with hand-written backward, nn.Modules, registry
    data               offline data: scikit-learn's digits, MNIST-1D, spirals, XOR, moons
    training           device choice, seeding, a short training loop
    diagnostics        dead and dormant units, gradient norms, activation statistics,
                       born-dead odds, saturation, update-to-data ratios, a hook recorder
    plotting           figures in one style; every function returns the Figure
    interactive        the site's interactive figures: real runs drawn with Bokeh widgets
    notebook           book helpers that also work in a plain notebook (glue)
    checks             student self-checks, also used by the graded notebooks
    checks_torch       self-checks for the torch-based assignments (ps2-ps4)
    checks_dormant     the check of ps3's ReDo question (re-exported by checks_torch)

``activations``, ``torch_activations`` and ``diagnostics`` are packages split into one
module per family or question (``activations/relu_family.py`` ...); import from the
package itself, as above. Submodules are imported lazily, so ``import relu_course`` is
cheap and does not import torch until a torch-based module is used.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    "activations",
    "torch_activations",
    "data",
    "training",
    "diagnostics",
    "plotting",
    "interactive",
    "notebook",
    "checks",
    "checks_torch",
    "checks_dormant",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'relu_course' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
