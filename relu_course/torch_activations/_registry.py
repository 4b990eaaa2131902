"""Build an activation module by name: the mirror, or torch's own module."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from relu_course.activations import activation_key
from relu_course.torch_activations.gated import GEGLU, GLU, Maxout, ReLUSquared, SwiGLU
from relu_course.torch_activations.relu_family import (
    CELU,
    ELU,
    SELU,
    LeakyReLU,
    PReLU,
    ReLU,
    ReLU6,
    RReLU,
)
from relu_course.torch_activations.smooth import (
    GELU,
    Hardswish,
    Mish,
    Sigmoid,
    SiLU,
    Softplus,
    Tanh,
)

# name -> (mirror class, torch's class, fixed keyword arguments)
_REGISTRY: dict[str, tuple[type[nn.Module], Callable[..., nn.Module], dict[str, Any]]] = {
    "relu": (ReLU, nn.ReLU, {}),
    "relu6": (ReLU6, nn.ReLU6, {}),
    "leaky_relu": (LeakyReLU, nn.LeakyReLU, {}),
    "prelu": (PReLU, nn.PReLU, {}),
    "rrelu": (RReLU, nn.RReLU, {}),
    "elu": (ELU, nn.ELU, {}),
    "selu": (SELU, nn.SELU, {}),
    "celu": (CELU, nn.CELU, {}),
    "gelu": (GELU, nn.GELU, {}),
    "gelu_tanh": (GELU, nn.GELU, {"approximate": "tanh"}),
    "silu": (SiLU, nn.SiLU, {}),
    "swish": (SiLU, nn.SiLU, {}),
    "mish": (Mish, nn.Mish, {}),
    "softplus": (Softplus, nn.Softplus, {}),
    "sigmoid": (Sigmoid, nn.Sigmoid, {}),
    "tanh": (Tanh, nn.Tanh, {}),
    "hardswish": (Hardswish, nn.Hardswish, {}),
}

ACTIVATION_NAMES: tuple[str, ...] = tuple(_REGISTRY)

BUILTIN_MODULE_TYPES: tuple[type[nn.Module], ...] = tuple(
    dict.fromkeys(torch_cls for _, torch_cls, _ in _REGISTRY.values())
)
"""Torch's own module classes of the registered activations (``nn.ReLU`` ...), once each."""

GATED_UNITS: dict[str, type[nn.Module]] = {"glu": GLU, "geglu": GEGLU, "swiglu": SwiGLU}
"""Gated units of transformer feed-forward layers: they halve the width, so they stay out
of :func:`get_activation`; build one directly after a Linear layer to ``2 * hidden``."""

MODULE_TYPES: tuple[type[nn.Module], ...] = tuple(
    dict.fromkeys([*(mirror for mirror, _, _ in _REGISTRY.values()), Maxout, ReLUSquared])
) + tuple(GATED_UNITS.values())
"""Every module class of the mirror: the registered ones, Maxout, ReLUSquared, the gated units."""


def _elsewhere(name: object) -> str:
    """Where a unit that get_activation does not build lives (it changes the width)."""
    key = name.strip().lower() if isinstance(name, str) else ""
    if key in GATED_UNITS:
        return f"{key} halves the width: build {GATED_UNITS[key].__name__}() (GATED_UNITS)."
    return {
        "maxout": "Maxout changes the width: build Maxout(in_features, out_features, k).",
        "relu_squared": "Torch has no squared ReLU module: build ReLUSquared().",
    }.get(key, "")


def _parameters_of(cls: type[nn.Module]) -> list[str]:
    names = list(inspect.signature(cls.__init__).parameters)[1:]
    return [n for n in names if n not in ("device", "dtype")]


def get_activation(name: str, *, builtin: bool = False, **kw: Any) -> nn.Module:
    """Module for activation ``name``: this package's mirror, or torch's own module.

    Parameters
    ----------
    name : str
        One of :data:`ACTIVATION_NAMES` (case-insensitive). ``"gelu_tanh"`` is GELU with
        ``approximate="tanh"``; ``"swish"`` is SiLU.
    builtin : bool, default False
        Return torch's module (``torch.nn.ReLU`` ...) instead of the mirror.
    **kw
        Constructor arguments, e.g. ``negative_slope=0.1`` or ``num_parameters=16``.

    Returns
    -------
    nn.Module
        A fresh module.

    Raises
    ------
    UnknownActivationError
        For an unknown name (a ``ValueError`` and a ``KeyError``); the message lists the
        valid names and suggests the closest, as :func:`relu_course.activations.get` does.
    TypeError
        For a keyword argument that the activation does not take.

    Examples
    --------
    >>> get_activation("leaky_relu", negative_slope=0.2)
    LeakyReLU(negative_slope=0.2)
    >>> get_activation("gelu_tanh", builtin=True)
    GELU(approximate='tanh')
    """
    key = activation_key(name, ACTIVATION_NAMES, _elsewhere(name))
    mirror, torch_cls, fixed = _REGISTRY[key]
    clash = sorted(set(kw) & set(fixed))
    if clash:
        raise TypeError(f"{key!r} fixes {clash[0]}={fixed[clash[0]]!r}; do not pass {clash[0]}")
    accepted = _parameters_of(mirror)
    unknown = sorted(set(kw) - set(accepted))
    if unknown and not builtin:
        raise TypeError(
            f"activation {key!r} takes no parameter {unknown[0]!r}; "
            f"it accepts: {', '.join(accepted) or 'no parameters'}"
        )
    factory = torch_cls if builtin else mirror
    return factory(**fixed, **kw)
