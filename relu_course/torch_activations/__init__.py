"""PyTorch mirrors of the course's activations, with hand-written backward passes.

Every activation appears three times, in the same pattern:

1. a :class:`torch.autograd.Function` (``ReLUFunction`` ...) whose ``forward`` computes
   the formula and whose ``backward`` is the derivative, written out by hand;
2. a functional wrapper with the name and defaults of :mod:`torch.nn.functional`
   (``relu(x)``, ``leaky_relu(x, negative_slope=0.01)`` ...);
3. an :class:`torch.nn.Module` with the name of torch's own module (``ReLU`` ...).

:func:`get_activation` builds a module by name, either this mirror or, with
``builtin=True``, torch's own module, so experiments can swap one for the other.

Kinks follow PyTorch's autograd exactly: at a kink the derivative takes the
negative-side branch (``relu'(0) = 0``, ``leaky_relu'(0) = negative_slope``,
``elu'(0) = alpha``, ``relu6'(0) = relu6'(6) = 0``, ``hardswish'(-3) = 0``), with one
exception copied from torch: ``hardswish'(3) = 1`` (the positive side).
``softplus`` switches to the identity only strictly above ``beta * x > threshold``.

Every formula is written so that no intermediate overflows for ``|x| <= 1e4`` in
float32 or float64: ``exp`` is only ever applied to non-positive numbers, or its result
is discarded by ``torch.where`` on the other branch. NaN propagates, as in torch.
Nothing here assumes a device: tensors on CUDA stay on CUDA.

The code is split by family, each activation's three parts side by side::

    relu_family   relu, relu6, leaky_relu, prelu, rrelu, elu, selu, celu
    smooth        gelu, silu, mish, softplus, sigmoid, tanh, hardswish
    gated         maxout, relu_squared, glu, geglu, swiglu
    _common       input checks and stable building blocks
    _registry     ACTIVATION_NAMES, GATED_UNITS, get_activation

The constants (``SELU_ALPHA`` ...) are the NumPy reference's, :mod:`relu_course.activations`.
"""

from __future__ import annotations

from relu_course.activations import (
    GELU_TANH_C,
    GELU_TANH_K,
    RRELU_LOWER,
    RRELU_UPPER,
    SELU_ALPHA,
    SELU_SCALE,
    UnknownActivationError,
)
from relu_course.torch_activations._registry import (
    ACTIVATION_NAMES,
    BUILTIN_MODULE_TYPES,
    GATED_UNITS,
    MODULE_TYPES,
    get_activation,
)
from relu_course.torch_activations.gated import (
    GEGLU,
    GLU,
    GEGLUFunction,
    GLUFunction,
    Maxout,
    MaxoutFunction,
    ReLUSquared,
    ReLUSquaredFunction,
    SwiGLU,
    SwiGLUFunction,
    geglu,
    glu,
    maxout,
    relu_squared,
    swiglu,
)
from relu_course.torch_activations.relu_family import (
    CELU,
    ELU,
    SELU,
    CELUFunction,
    ELUFunction,
    LeakyReLU,
    LeakyReLUFunction,
    PReLU,
    PReLUFunction,
    ReLU,
    ReLU6,
    ReLU6Function,
    ReLUFunction,
    RReLU,
    RReLUFunction,
    SELUFunction,
    celu,
    elu,
    leaky_relu,
    prelu,
    relu,
    relu6,
    rrelu,
    selu,
)
from relu_course.torch_activations.smooth import (
    GELU,
    GELUFunction,
    Hardswish,
    HardswishFunction,
    Mish,
    MishFunction,
    Sigmoid,
    SigmoidFunction,
    SiLU,
    SiLUFunction,
    Softplus,
    SoftplusFunction,
    Tanh,
    TanhFunction,
    gelu,
    hardswish,
    mish,
    sigmoid,
    silu,
    softplus,
    tanh,
)

__all__ = [
    "ACTIVATION_NAMES",
    "BUILTIN_MODULE_TYPES",
    "MODULE_TYPES",
    "CELU",
    "CELUFunction",
    "ELU",
    "ELUFunction",
    "GATED_UNITS",
    "GEGLU",
    "GEGLUFunction",
    "GELU",
    "GELUFunction",
    "GELU_TANH_C",
    "GELU_TANH_K",
    "GLU",
    "GLUFunction",
    "Hardswish",
    "HardswishFunction",
    "LeakyReLU",
    "LeakyReLUFunction",
    "Maxout",
    "MaxoutFunction",
    "Mish",
    "MishFunction",
    "PReLU",
    "PReLUFunction",
    "RRELU_LOWER",
    "RRELU_UPPER",
    "RReLU",
    "RReLUFunction",
    "ReLU",
    "ReLU6",
    "ReLU6Function",
    "ReLUFunction",
    "ReLUSquared",
    "ReLUSquaredFunction",
    "SELU",
    "SELUFunction",
    "SELU_ALPHA",
    "SELU_SCALE",
    "SiLU",
    "SiLUFunction",
    "Sigmoid",
    "SigmoidFunction",
    "Softplus",
    "SoftplusFunction",
    "SwiGLU",
    "SwiGLUFunction",
    "Tanh",
    "TanhFunction",
    "UnknownActivationError",
    "celu",
    "elu",
    "geglu",
    "gelu",
    "get_activation",
    "glu",
    "hardswish",
    "leaky_relu",
    "maxout",
    "mish",
    "prelu",
    "relu",
    "relu6",
    "relu_squared",
    "rrelu",
    "selu",
    "sigmoid",
    "silu",
    "softplus",
    "swiglu",
    "tanh",
]
