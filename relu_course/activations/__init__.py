"""NumPy activations and their derivatives: the course's reference implementations.

Every function follows one pattern::

    x = _check(x, "name")                # float32/float64 np.ndarray or a helpful error
    y = <formula written with NumPy>     # in x's dtype, stable for every finite |x| <= 1e4
    return _out(y, x)                    # exact np.ndarray, same dtype and shape

Conventions (they follow PyTorch, the course's answer key):

* Derivatives at a kink take the **negative-side** branch: ``relu_grad(0) == 0``,
  ``leaky_relu_grad(0) == negative_slope``, ``elu_grad(0) == alpha``,
  ``relu6_grad(6) == 0``, ``hardswish_grad(-3) == 0`` and ``hardswish_grad(3) == 1``.
* NaN propagates through every forward function. The derivative of a piecewise
  function at NaN is one of its branch values (PyTorch does the same); smooth
  derivatives return NaN.
* The input is never modified; a new array of the input's shape and dtype is returned
  (0-d in, 0-d ``np.ndarray`` out, never a NumPy scalar).

The functions live in one module per family, all importable from here::

    relu_family   relu, relu6, leaky_relu, prelu, rrelu, elu, selu, celu
    smooth        gelu, sigmoid, tanh, silu (swish), mish, softplus, hardswish
    gated         maxout, relu_squared, glu, geglu, swiglu
    _erf          erf, erfc (NumPy has no error function)
    _core         the shared constants and helpers (``_check``, ``_out`` ...)
    _registry     :data:`ACTIVATIONS`, :func:`get`
"""

from __future__ import annotations

from relu_course.activations._core import (
    GELU_TANH_C,
    GELU_TANH_K,
    INV_SQRT_2PI,
    RRELU_LOWER,
    RRELU_UPPER,
    SELU_ALPHA,
    SELU_SCALE,
    SQRT_HALF,
)
from relu_course.activations._erf import (
    erf,
    erfc,
)
from relu_course.activations._registry import (
    ACTIVATIONS,
    Activation,
    UnknownActivationError,
    activation_key,
    get,
)
from relu_course.activations.gated import (
    geglu,
    geglu_grad,
    glu,
    glu_grad,
    maxout,
    maxout_grad,
    relu_squared,
    relu_squared_grad,
    swiglu,
    swiglu_grad,
)
from relu_course.activations.relu_family import (
    celu,
    celu_grad,
    elu,
    elu_grad,
    leaky_relu,
    leaky_relu_grad,
    prelu,
    prelu_grad,
    prelu_weight_grad,
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

__all__ = [
    "ACTIVATIONS",
    "GELU_TANH_C",
    "GELU_TANH_K",
    "RRELU_LOWER",
    "RRELU_UPPER",
    "SELU_ALPHA",
    "SELU_SCALE",
    "INV_SQRT_2PI",
    "SQRT_HALF",
    "Activation",
    "UnknownActivationError",
    "activation_key",
    "celu",
    "celu_grad",
    "elu",
    "elu_grad",
    "erf",
    "erfc",
    "geglu",
    "geglu_grad",
    "gelu",
    "gelu_grad",
    "get",
    "glu",
    "glu_grad",
    "hardswish",
    "hardswish_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "maxout",
    "maxout_grad",
    "mish",
    "mish_grad",
    "prelu",
    "prelu_grad",
    "prelu_weight_grad",
    "relu",
    "relu6",
    "relu6_grad",
    "relu_grad",
    "relu_squared",
    "relu_squared_grad",
    "rrelu",
    "rrelu_grad",
    "selu",
    "selu_grad",
    "sigmoid",
    "sigmoid_grad",
    "silu",
    "silu_grad",
    "softplus",
    "softplus_grad",
    "swiglu",
    "swiglu_grad",
    "swish",
    "swish_grad",
    "tanh",
    "tanh_grad",
]
