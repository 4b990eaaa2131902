# ruff: noqa: E501 - one source string per line keeps each variant readable
"""Student-like implementations of the ps1 functions, for testing the graders.

``WRONG[name]`` holds plausible mistakes that ``level="full"`` checks must reject;
``CORRECT[name]`` holds correct variants written differently that must pass. Each entry
is ``(label, source)``: the source defines the function with the exact ps1 signature and
needs only ``np`` (numpy) in its namespace, so it can be pasted into a notebook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CORRECT", "WRONG", "load"]


def load(name: str, source: str) -> Callable[..., Any]:
    """Execute ``source`` with ``np`` available and return the function called ``name``."""
    namespace: dict[str, Any] = {"np": np}
    exec(source, namespace)  # noqa: S102 - test corpus written in this file
    return namespace[name]


WRONG: dict[str, list[tuple[str, str]]] = {
    "relu": [
        ("returns a list", "def relu(x):\n    return [max(v, 0.0) for v in x.ravel()]\n"),
        ("float64 for float32 input", "def relu(x):\n    return np.maximum(x.astype(np.float64), 0.0)\n"),
        ("Python float for 0-d input", "def relu(x):\n    y = np.maximum(x, 0)\n    return float(y) if x.ndim == 0 else y\n"),
        ("float64 scalar for 0-d float32 input", "def relu(x):\n    if x.ndim == 0:\n        return np.float64(max(float(x), 0.0))\n    return np.maximum(x, 0)\n"),
        ("ndarray subclass", "def relu(x):\n    class Tagged(np.ndarray):\n        pass\n\n    return np.where(x > 0, x, 0.0).view(Tagged)\n"),
        ("np.matrix", "def relu(x):\n    return np.asmatrix(np.where(x > 0, x, 0.0))\n"),
        ("mutates the input", "def relu(x):\n    x[x < 0] = 0\n    return x\n"),
        ("int dtype out", "def relu(x):\n    return np.where(x > 0, x, 0).astype(int)\n"),
        ("abs instead of relu", "def relu(x):\n    return np.abs(x)\n"),
        ("leaky by mistake", "def relu(x):\n    return np.where(x > 0, x, 0.01 * x)\n"),
    ],
    "relu_grad": [
        ("grad at 0 is 1", "def relu_grad(x):\n    return (x >= 0).astype(x.dtype)\n"),
        ("grad at 0 is 0.5", "def relu_grad(x):\n    return np.where(x > 0, 1.0, np.where(x == 0, 0.5, 0.0)).astype(x.dtype)\n"),
        ("bool dtype", "def relu_grad(x):\n    return x > 0\n"),
        ("int dtype for 0-d input", "def relu_grad(x):\n    return (x > 0).astype(x.dtype) if x.ndim else int(x > 0)\n"),
        ("float64 for float32", "def relu_grad(x):\n    return np.where(x > 0, 1.0, 0.0)\n"),
        ("returns relu", "def relu_grad(x):\n    return np.where(x > 0, x, 0.0)\n"),
        ("mutates the input", "def relu_grad(x):\n    x[x > 0] = 1\n    x[x <= 0] = 0\n    return x\n"),
    ],
    "leaky_relu": [
        ("slope ignored", "def leaky_relu(x, negative_slope=0.01):\n    return np.where(x > 0, x, 0.01 * x)\n"),
        ("slope on the positive side", "def leaky_relu(x, negative_slope=0.01):\n    return np.where(x > 0, negative_slope * x, x)\n"),
        ("maximum(a*x, x)", "def leaky_relu(x, negative_slope=0.01):\n    return np.maximum(negative_slope * x, x)\n"),
        ("relu", "def leaky_relu(x, negative_slope=0.01):\n    return np.where(x > 0, x, 0.0)\n"),
        ("mutates the input", "def leaky_relu(x, negative_slope=0.01):\n    x[x < 0] *= negative_slope\n    return x\n"),
        ("float64 for float32", "def leaky_relu(x, negative_slope=0.01):\n    x = x.astype(float)\n    return np.where(x > 0, x, negative_slope * x)\n"),
    ],
    "leaky_relu_grad": [
        ("grad at 0 is 1", "def leaky_relu_grad(x, negative_slope=0.01):\n    return np.where(x >= 0, 1.0, negative_slope).astype(x.dtype)\n"),
        ("slope ignored", "def leaky_relu_grad(x, negative_slope=0.01):\n    return np.where(x > 0, 1.0, 0.01).astype(x.dtype)\n"),
        ("branches swapped", "def leaky_relu_grad(x, negative_slope=0.01):\n    return np.where(x > 0, negative_slope, 1.0).astype(x.dtype)\n"),
        ("relu grad", "def leaky_relu_grad(x, negative_slope=0.01):\n    return (x > 0).astype(x.dtype)\n"),
        ("float64 for float32", "def leaky_relu_grad(x, negative_slope=0.01):\n    return np.where(x > 0, 1.0, negative_slope)\n"),
    ],
    "elu": [
        ("alpha dropped", "def elu(x, alpha=1.0):\n    return np.where(x > 0, x, np.expm1(x))\n"),
        ("0*inf is nan", "def elu(x, alpha=1.0):\n    return (x > 0) * x + (x <= 0) * alpha * (np.exp(x) - 1)\n"),
        ("alpha on both sides", "def elu(x, alpha=1.0):\n    return alpha * np.where(x > 0, x, np.exp(x) - 1)\n"),
        ("missing -1", "def elu(x, alpha=1.0):\n    return np.where(x > 0, x, alpha * np.exp(x))\n"),
        ("mutates the input", "def elu(x, alpha=1.0):\n    neg = x <= 0\n    x[neg] = alpha * (np.exp(x[neg]) - 1)\n    return x\n"),
        ("float64 for float32", "def elu(x, alpha=1.0):\n    x = np.asarray(x, dtype=np.float64)\n    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))\n"),
    ],
    "elu_grad": [
        ("grad at 0 is 1", "def elu_grad(x, alpha=1.0):\n    return np.where(x >= 0, 1.0, alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)\n"),
        ("alpha dropped", "def elu_grad(x, alpha=1.0):\n    return np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))).astype(x.dtype)\n"),
        ("0*inf is nan", "def elu_grad(x, alpha=1.0):\n    return ((x > 0) * 1.0 + (x <= 0) * alpha * np.exp(x)).astype(x.dtype)\n"),
        ("returns elu", "def elu_grad(x, alpha=1.0):\n    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)\n"),
        ("relu grad", "def elu_grad(x, alpha=1.0):\n    return (x > 0).astype(x.dtype)\n"),
    ],
    "sigmoid": [
        ("exp(x)/(1+exp(x)) is nan at 1000", "def sigmoid(x):\n    return np.exp(x) / (1 + np.exp(x))\n"),
        ("sign error", "def sigmoid(x):\n    return 1 / (1 + np.exp(x))\n"),
        ("tanh instead", "def sigmoid(x):\n    return np.tanh(x)\n"),
        ("returns a list", "def sigmoid(x):\n    import math\n    return [1 / (1 + math.exp(-v)) for v in x.ravel()]\n"),
        ("float64 for float32", "def sigmoid(x):\n    return 1 / (1 + np.exp(-x.astype(np.float64)))\n"),
        ("Python float for 0-d input", "def sigmoid(x):\n    import math\n    if x.ndim == 0:\n        return 1 / (1 + math.exp(-float(x)))\n    return 1 / (1 + np.exp(-x))\n"),
        ("mutates the input", "def sigmoid(x):\n    np.negative(x, out=x)\n    np.exp(x, out=x)\n    x += 1\n    np.reciprocal(x, out=x)\n    return x\n"),
    ],
    "sigmoid_grad": [
        ("returns sigmoid", "def sigmoid_grad(x):\n    return np.asarray(1 / (1 + np.exp(-x)), dtype=x.dtype)\n"),
        ("s*(1+s)", "def sigmoid_grad(x):\n    s = np.asarray(1 / (1 + np.exp(-x)))\n    return np.asarray(s * (1 + s), dtype=x.dtype)\n"),
        ("nan at large |x|", "def sigmoid_grad(x):\n    e = np.exp(x)\n    return np.asarray(e / (1 + e) ** 2, dtype=x.dtype)\n"),
        ("exp(-x) squared, nan at -1000", "def sigmoid_grad(x):\n    e = np.exp(-x)\n    return np.asarray(e / (1 + e) ** 2, dtype=x.dtype)\n"),
        ("float64 for float32", "def sigmoid_grad(x):\n    s = 1 / (1 + np.exp(-x.astype(np.float64)))\n    return s * (1 - s)\n"),
    ],
    "gelu": [
        ("exact GELU instead of tanh", "def gelu(x):\n    import math\n    erf = np.vectorize(math.erf, otypes=[x.dtype])\n    return np.asarray(0.5 * x * (1 + erf(x / math.sqrt(2))), dtype=x.dtype)\n"),
        ("constant 0.04475", "def gelu(x):\n    c = np.sqrt(2 / np.pi)\n    return np.asarray(0.5 * x * (1 + np.tanh(c * (x + 0.04475 * x**3))), dtype=x.dtype)\n"),
        ("sqrt(pi/2) instead of sqrt(2/pi)", "def gelu(x):\n    c = np.sqrt(np.pi / 2)\n    return np.asarray(0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x**3))), dtype=x.dtype)\n"),
        ("sigmoid(1.702 x) approximation", "def gelu(x):\n    return np.asarray(x / (1 + np.exp(-1.702 * x)), dtype=x.dtype)\n"),
        ("missing 0.5", "def gelu(x):\n    c = np.sqrt(2 / np.pi)\n    return np.asarray(x * (1 + np.tanh(c * (x + 0.044715 * x**3))), dtype=x.dtype)\n"),
        ("float64 for float32", "def gelu(x):\n    x = x.astype(np.float64)\n    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))\n"),
    ],
    "gelu_grad": [
        ("exact GELU derivative", "def gelu_grad(x):\n    import math\n    erf = np.vectorize(math.erf, otypes=[np.float64])\n    t = x.astype(np.float64)\n    g = 0.5 * (1 + erf(t / math.sqrt(2))) + t * np.exp(-t * t / 2) / math.sqrt(2 * math.pi)\n    return np.asarray(g, dtype=x.dtype)\n"),
        ("forgot the product rule", "def gelu_grad(x):\n    t = np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))\n    return np.asarray(0.5 * (1 + t), dtype=x.dtype)\n"),
        ("3k x^2 missing", "def gelu_grad(x):\n    c = np.sqrt(2 / np.pi)\n    t = np.tanh(c * (x + 0.044715 * x**3))\n    return np.asarray(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c, dtype=x.dtype)\n"),
        ("constant 0.04475", "def gelu_grad(x):\n    c, k = np.sqrt(2 / np.pi), 0.04475\n    t = np.tanh(c * (x + k * x**3))\n    return np.asarray(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * k * x * x), dtype=x.dtype)\n"),
        ("returns gelu", "def gelu_grad(x):\n    c = np.sqrt(2 / np.pi)\n    return np.asarray(0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x**3))), dtype=x.dtype)\n"),
    ],
    "numerical_grad": [
        ("forward difference", "def numerical_grad(f, x, eps=1e-6):\n    g = np.zeros_like(x)\n    fx = f(x)\n    for i in np.ndindex(x.shape):\n        old = x[i]\n        x[i] = old + eps\n        g[i] = (f(x) - fx) / eps\n        x[i] = old\n    return g\n"),
        ("all elements at once", "def numerical_grad(f, x, eps=1e-6):\n    return np.full_like(x, (f(x + eps) - f(x - eps)) / (2 * eps))\n"),
        ("flattened output", "def numerical_grad(f, x, eps=1e-6):\n    x = x.copy()\n    g = []\n    for i in np.ndindex(x.shape):\n        old = x[i]\n        x[i] = old + eps\n        up = f(x)\n        x[i] = old - eps\n        down = f(x)\n        x[i] = old\n        g.append((up - down) / (2 * eps))\n    return np.array(g)\n"),
        ("x not restored", "def numerical_grad(f, x, eps=1e-6):\n    g = np.zeros_like(x)\n    for i in np.ndindex(x.shape):\n        x[i] += eps\n        up = f(x)\n        x[i] -= 2 * eps\n        down = f(x)\n        g[i] = (up - down) / (2 * eps)\n    return g\n"),
        ("eps ignored", "def numerical_grad(f, x, eps=1e-6):\n    h = 1e-6\n    x = x.copy()\n    g = np.zeros_like(x)\n    for i in np.ndindex(x.shape):\n        old = x[i]\n        x[i] = old + h\n        up = f(x)\n        x[i] = old - h\n        down = f(x)\n        x[i] = old\n        g[i] = (up - down) / (2 * h)\n    return g\n"),
        ("divides by eps, not 2*eps", "def numerical_grad(f, x, eps=1e-6):\n    x = x.copy()\n    g = np.zeros_like(x)\n    for i in np.ndindex(x.shape):\n        old = x[i]\n        x[i] = old + eps\n        up = f(x)\n        x[i] = old - eps\n        down = f(x)\n        x[i] = old\n        g[i] = (up - down) / eps\n    return g\n"),
    ],
}  # fmt: skip

CORRECT: dict[str, list[tuple[str, str]]] = {
    "relu": [
        ("textbook np.maximum(x, 0)", "def relu(x):\n    return np.maximum(x, 0)\n"),
        ("textbook x * (x > 0)", "def relu(x):\n    return x * (x > 0)\n"),
        ("np.where", "def relu(x):\n    return np.where(x > 0, x, 0.0)\n"),
        ("np.maximum with out", "def relu(x):\n    return np.maximum(x, 0, out=np.empty_like(x))\n"),
        ("x*(x>0) wrapped", "def relu(x):\n    return np.asarray(x * (x > 0), dtype=x.dtype)\n"),
        ("np.clip wrapped", "def relu(x):\n    return np.asarray(np.clip(x, 0, None))\n"),
        ("copy then assign", "def relu(x):\n    y = x.copy()\n    y[y < 0] = 0\n    return y\n"),
        ("np.piecewise", "def relu(x):\n    return np.piecewise(x, [x > 0], [lambda v: v, 0.0])\n"),
        ("python loop over ndindex", "def relu(x):\n    y = np.empty_like(x)\n    for i in np.ndindex(x.shape):\n        y[i] = x[i] if x[i] > 0 else 0.0\n    return y\n"),
    ],
    "relu_grad": [
        ("textbook (x > 0).astype(x.dtype)", "def relu_grad(x):\n    return (x > 0).astype(x.dtype)\n"),
        ("asarray then astype", "def relu_grad(x):\n    return np.asarray(x > 0).astype(x.dtype)\n"),
        ("np.where typed", "def relu_grad(x):\n    return np.where(x > 0, 1.0, 0.0).astype(x.dtype)\n"),
        ("np.heaviside", "def relu_grad(x):\n    return np.asarray(np.heaviside(x, 0.0), dtype=x.dtype)\n"),
        ("zeros_like then assign", "def relu_grad(x):\n    g = np.zeros_like(x)\n    g[x > 0] = 1\n    return g\n"),
    ],
    "leaky_relu": [
        ("np.where, unwrapped", "def leaky_relu(x, negative_slope=0.01):\n    return np.where(x > 0, x, negative_slope * x)[()]\n"),
        ("np.where", "def leaky_relu(x, negative_slope=0.01):\n    return np.where(x > 0, x, negative_slope * x)\n"),
        ("relu parts", "def leaky_relu(x, negative_slope=0.01):\n    return np.asarray(np.maximum(x, 0) + negative_slope * np.minimum(x, 0), dtype=x.dtype)\n"),
        ("copy then scale", "def leaky_relu(x, negative_slope=0.01):\n    y = x.copy()\n    y[y < 0] *= negative_slope\n    return y\n"),
        ("np.piecewise", "def leaky_relu(x, negative_slope=0.01):\n    return np.piecewise(x, [x > 0], [lambda v: v, lambda v: negative_slope * v])\n"),
    ],
    "leaky_relu_grad": [
        ("np.where typed", "def leaky_relu_grad(x, negative_slope=0.01):\n    return np.where(x > 0, 1.0, negative_slope).astype(x.dtype)\n"),
        ("ones then assign", "def leaky_relu_grad(x, negative_slope=0.01):\n    g = np.ones_like(x)\n    g[x <= 0] = negative_slope\n    return g\n"),
        ("arithmetic mask", "def leaky_relu_grad(x, negative_slope=0.01):\n    m = (x > 0).astype(x.dtype)\n    return np.asarray(m + negative_slope * (1 - m), dtype=x.dtype)\n"),
        ("full_like", "def leaky_relu_grad(x, negative_slope=0.01):\n    g = np.full_like(x, negative_slope)\n    g[x > 0] = 1.0\n    return g\n"),
    ],
    "elu": [
        ("where with clipped expm1", "def elu(x, alpha=1.0):\n    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))\n"),
        ("naive where (overflows, silenced by the check)", "def elu(x, alpha=1.0):\n    return np.where(x > 0, x, alpha * (np.exp(x) - 1))\n"),
        ("copy then assign", "def elu(x, alpha=1.0):\n    y = x.copy()\n    neg = x <= 0\n    y[neg] = alpha * (np.exp(x[neg]) - 1)\n    return y\n"),
        ("piecewise", "def elu(x, alpha=1.0):\n    return np.piecewise(x, [x > 0], [lambda v: v, lambda v: alpha * np.expm1(v)])\n"),
    ],
    "elu_grad": [
        ("where with clipped exp", "def elu_grad(x, alpha=1.0):\n    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))).astype(x.dtype)\n"),
        ("naive where", "def elu_grad(x, alpha=1.0):\n    return np.where(x > 0, 1.0, alpha * np.exp(x)).astype(x.dtype)\n"),
        ("ones then assign", "def elu_grad(x, alpha=1.0):\n    g = np.ones_like(x)\n    neg = x <= 0\n    g[neg] = alpha * np.exp(x[neg])\n    return g\n"),
        ("elu + alpha on the negative side", "def elu_grad(x, alpha=1.0):\n    e = alpha * np.expm1(np.minimum(x, 0))\n    return np.where(x > 0, 1.0, e + alpha).astype(x.dtype)\n"),
    ],
    "sigmoid": [
        ("textbook 1 / (1 + np.exp(-x)) (warns at -1e4)", "def sigmoid(x):\n    return 1 / (1 + np.exp(-x))\n"),
        ("tanh form, unwrapped", "def sigmoid(x):\n    return 0.5 * (1 + np.tanh(0.5 * x))\n"),
        ("naive 1/(1+exp(-x)) wrapped", "def sigmoid(x):\n    return np.asarray(1 / (1 + np.exp(-x)), dtype=x.dtype)\n"),
        ("stable two-branch", "def sigmoid(x):\n    e = np.exp(-np.abs(x))\n    return np.asarray(np.where(x >= 0, 1 / (1 + e), e / (1 + e)), dtype=x.dtype)\n"),
        ("tanh form", "def sigmoid(x):\n    return np.asarray(0.5 * (1 + np.tanh(0.5 * x)), dtype=x.dtype)\n"),
        ("float32-preserving with out", "def sigmoid(x):\n    y = np.negative(x, out=np.empty_like(x))\n    np.exp(y, out=y)\n    y += 1\n    return np.reciprocal(y, out=y)\n"),
        ("masked copies", "def sigmoid(x):\n    y = np.empty_like(x)\n    pos = x >= 0\n    y[pos] = 1 / (1 + np.exp(-x[pos]))\n    e = np.exp(x[~pos])\n    y[~pos] = e / (1 + e)\n    return y\n"),
    ],
    "sigmoid_grad": [
        ("s*(1-s)", "def sigmoid_grad(x):\n    s = 1 / (1 + np.exp(-x))\n    return np.asarray(s * (1 - s), dtype=x.dtype)\n"),
        ("stable exp(-|x|)", "def sigmoid_grad(x):\n    e = np.exp(-np.abs(x))\n    return np.asarray(e / (1 + e) ** 2, dtype=x.dtype)\n"),
        ("tanh form", "def sigmoid_grad(x):\n    t = np.tanh(0.5 * x)\n    return np.asarray(0.25 * (1 - t * t), dtype=x.dtype)\n"),
        ("computed in float64", "def sigmoid_grad(x):\n    s = 1 / (1 + np.exp(-x.astype(np.float64)))\n    return np.asarray(s * (1 - s), dtype=x.dtype)\n"),
    ],
    "gelu": [
        ("tanh form", "def gelu(x):\n    c = np.sqrt(2 / np.pi)\n    return np.asarray(0.5 * x * (1 + np.tanh(c * (x + 0.044715 * x**3))), dtype=x.dtype)\n"),
        ("literal constant", "def gelu(x):\n    inner = 0.7978845608028654 * (x + 0.044715 * x * x * x)\n    return np.asarray(0.5 * x * (1.0 + np.tanh(inner)), dtype=x.dtype)\n"),
        ("via sigmoid(2u)", "def gelu(x):\n    u = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)\n    return np.asarray(x / (1 + np.exp(-2 * u)), dtype=x.dtype)\n"),
        ("float64 then cast", "def gelu(x):\n    t = x.astype(np.float64)\n    y = 0.5 * t * (1 + np.tanh(np.sqrt(2 / np.pi) * (t + 0.044715 * t**3)))\n    return np.asarray(y, dtype=x.dtype)\n"),
    ],
    "gelu_grad": [
        ("product rule", "def gelu_grad(x):\n    c, k = np.sqrt(2 / np.pi), 0.044715\n    t = np.tanh(c * (x + k * x**3))\n    return np.asarray(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * c * (1 + 3 * k * x * x), dtype=x.dtype)\n"),
        ("sech^2 via cosh", "def gelu_grad(x):\n    c, k = np.sqrt(2 / np.pi), 0.044715\n    u = c * (x + k * x**3)\n    sech2 = 1 / np.cosh(u) ** 2\n    return np.asarray(0.5 * (1 + np.tanh(u)) + 0.5 * x * sech2 * c * (1 + 3 * k * x**2), dtype=x.dtype)\n"),
        ("float64 then cast", "def gelu_grad(x):\n    t = x.astype(np.float64)\n    c, k = np.sqrt(2 / np.pi), 0.044715\n    th = np.tanh(c * (t + k * t**3))\n    g = 0.5 * (1 + th) + 0.5 * t * (1 - th**2) * c * (1 + 3 * k * t**2)\n    return np.asarray(g, dtype=x.dtype)\n"),
        ("named parts", "def gelu_grad(x):\n    c, k = 0.7978845608028654, 0.044715\n    inner = c * (x + k * x * x * x)\n    th = np.tanh(inner)\n    d_inner = c * (1 + 3 * k * x * x)\n    return np.asarray(0.5 * (1 + th) + 0.5 * x * (1 - th * th) * d_inner, dtype=x.dtype)\n"),
    ],
    "numerical_grad": [
        ("save and restore", "def numerical_grad(f, x, eps=1e-6):\n    g = np.zeros_like(x)\n    for i in np.ndindex(x.shape):\n        old = x[i]\n        x[i] = old + eps\n        up = f(x)\n        x[i] = old - eps\n        down = f(x)\n        x[i] = old\n        g[i] = (up - down) / (2 * eps)\n    return g\n"),
        ("copy per element", "def numerical_grad(f, x, eps=1e-6):\n    g = np.zeros(x.shape)\n    for i in np.ndindex(x.shape):\n        xp = x.copy()\n        xm = x.copy()\n        xp[i] += eps\n        xm[i] -= eps\n        g[i] = (f(xp) - f(xm)) / (2 * eps)\n    return g\n"),
        ("flat loop, reshaped", "def numerical_grad(f, x, eps=1e-6):\n    base = x.astype(float).ravel()\n    g = np.zeros(base.size)\n    for j in range(base.size):\n        e = np.zeros(base.size)\n        e[j] = eps\n        g[j] = (f((base + e).reshape(x.shape)) - f((base - e).reshape(x.shape))) / (2 * eps)\n    return g.reshape(x.shape)\n"),
        ("basis vectors", "def numerical_grad(f, x, eps=1e-6):\n    g = np.empty_like(x, dtype=float)\n    for i in np.ndindex(x.shape):\n        e = np.zeros_like(x, dtype=float)\n        e[i] = eps\n        g[i] = (f(x + e) - f(x - e)) / (2 * eps)\n    return g\n"),
    ],
}  # fmt: skip
