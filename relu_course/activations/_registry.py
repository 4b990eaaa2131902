"""The registry of NumPy activations: name -> function, derivative, torch name, parameters."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from relu_course.activations._core import RRELU_LOWER, RRELU_UPPER
from relu_course.activations.relu_family import (
    celu,
    celu_grad,
    elu,
    elu_grad,
    leaky_relu,
    leaky_relu_grad,
    prelu,
    prelu_grad,
    relu,
    relu6,
    relu6_grad,
    relu_grad,
    rrelu,
    rrelu_grad,
    selu,
    selu_grad,
)
from relu_course.activations.smooth import (
    gelu,
    gelu_grad,
    hardswish,
    hardswish_grad,
    mish,
    mish_grad,
    sigmoid,
    sigmoid_grad,
    silu,
    silu_grad,
    softplus,
    softplus_grad,
    swish,
    swish_grad,
    tanh,
    tanh_grad,
)

# ----------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Activation:
    """An activation with its derivative, PyTorch name and default parameters.

    ``fn(x, **params)`` and ``grad(x, **params)`` accept the same parameters;
    ``torch_name`` is the function's name in ``torch.nn.functional``.
    """

    name: str
    fn: Callable[..., np.ndarray]
    grad: Callable[..., np.ndarray]
    torch_name: str
    params: dict[str, Any] = field(default_factory=dict)


def _registry() -> dict[str, Activation]:
    rows = [
        ("relu", relu, relu_grad, "relu", {}),
        ("relu6", relu6, relu6_grad, "relu6", {}),
        ("leaky_relu", leaky_relu, leaky_relu_grad, "leaky_relu", {"negative_slope": 0.01}),
        ("prelu", prelu, prelu_grad, "prelu", {"weight": 0.25}),
        ("rrelu", rrelu, rrelu_grad, "rrelu", {"lower": RRELU_LOWER, "upper": RRELU_UPPER}),
        ("elu", elu, elu_grad, "elu", {"alpha": 1.0}),
        ("selu", selu, selu_grad, "selu", {}),
        ("celu", celu, celu_grad, "celu", {"alpha": 1.0}),
        ("gelu", gelu, gelu_grad, "gelu", {"approximate": "none"}),
        ("gelu_tanh", gelu, gelu_grad, "gelu", {"approximate": "tanh"}),
        ("silu", silu, silu_grad, "silu", {}),
        ("swish", swish, swish_grad, "silu", {}),
        ("mish", mish, mish_grad, "mish", {}),
        ("softplus", softplus, softplus_grad, "softplus", {"beta": 1.0, "threshold": 20.0}),
        ("sigmoid", sigmoid, sigmoid_grad, "sigmoid", {}),
        ("tanh", tanh, tanh_grad, "tanh", {}),
        ("hardswish", hardswish, hardswish_grad, "hardswish", {}),
    ]
    return {name: Activation(name, f, g, t, p) for name, f, g, t, p in rows}


ACTIVATIONS: dict[str, Activation] = _registry()


class UnknownActivationError(KeyError, ValueError):
    """An activation name that no registry knows.

    Raised by :func:`get` and by :func:`relu_course.torch_activations.get_activation`, with
    one message: the name, the known names, the closest one. It is both a ``KeyError`` (a
    failed look-up) and a ``ValueError`` (a bad argument), so either ``except`` catches it.
    """

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def activation_key(name: str, known: Sequence[str], hint: str = "") -> str:
    """The registry key for ``name`` (trimmed, lower case), or a teaching error.

    Parameters
    ----------
    name : str
        The name asked for; case and surrounding spaces do not matter.
    known : sequence of str
        The registry's names, in the order the message lists them.
    hint : str, optional
        One more sentence for the error, e.g. where a name that is not registered lives.

    Raises
    ------
    UnknownActivationError
        For a name not in ``known``: it lists ``known`` and suggests the closest name.
    TypeError
        For a name that is not a string.

    Examples
    --------
    >>> activation_key(" ReLU ", ["relu", "elu"])
    'relu'
    >>> activation_key("rleu", ["relu", "elu"])
    Traceback (most recent call last):
    ...
    relu_course.activations._registry.UnknownActivationError: unknown activation 'rleu'; \
known names: relu, elu. Did you mean 'relu'?
    """
    if not isinstance(name, str):
        raise TypeError(f"an activation name must be a str, got {type(name).__name__}")
    key = name.strip().lower()
    if key in known:
        return key
    close = difflib.get_close_matches(key, known, n=1)
    message = f"unknown activation {name!r}; known names: {', '.join(known)}."
    if close:
        message += f" Did you mean {close[0]!r}?"
    raise UnknownActivationError(message + (f" {hint}" if hint else ""))


def get(name: str) -> Activation:
    """Return the registered :class:`Activation` called ``name`` (case-insensitive).

    Examples
    --------
    >>> get("leaky_relu").params
    {'negative_slope': 0.01}
    """
    return ACTIVATIONS[activation_key(name, tuple(ACTIVATIONS))]
