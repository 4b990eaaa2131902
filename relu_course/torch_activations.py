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
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

__all__ = [
    "ACTIVATION_NAMES",
    "CELU",
    "ELU",
    "GATED_UNITS",
    "GEGLU",
    "GELU",
    "GELU_TANH_C",
    "GELU_TANH_K",
    "GLU",
    "RRELU_LOWER",
    "RRELU_UPPER",
    "SELU",
    "SELU_ALPHA",
    "SELU_SCALE",
    "CELUFunction",
    "ELUFunction",
    "GEGLUFunction",
    "GELUFunction",
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
    "RReLU",
    "RReLUFunction",
    "ReLU",
    "ReLU6",
    "ReLU6Function",
    "ReLUFunction",
    "ReLUSquared",
    "ReLUSquaredFunction",
    "SELUFunction",
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

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
GELU_TANH_C = math.sqrt(2.0 / math.pi)
GELU_TANH_K = 0.044715
RRELU_LOWER = 1.0 / 8.0
RRELU_UPPER = 1.0 / 3.0
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# --------------------------------------------------------------------------------------
# Input checks and numerically stable building blocks
# --------------------------------------------------------------------------------------


def _check_tensor(x: object, name: str) -> Tensor:
    """Return ``x`` if it is a floating-point tensor, else raise a TypeError with a hint."""
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} expects a torch.Tensor, got {type(x).__name__}; "
            "wrap it with torch.as_tensor(x, dtype=torch.float32)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} expects a floating-point tensor, got dtype {x.dtype}; "
            "convert it with x.float() or x.double()"
        )
    return x


def _step(x: Tensor) -> Tensor:
    """1.0 where x > 0, else 0.0: the kink at 0 takes the negative side.

    Built from sign and clamp rather than ``torch.where(x > 0, 1.0, 0.0)``: the values
    are the same, but where's CPU kernel branches per element and is several times
    slower when the signs are random, as they are for pre-activations.
    """
    return torch.sign(x).clamp_min_(0.0)


def _slopes(x: Tensor, negative: float | Tensor, *, in_unit_interval: bool) -> Tensor:
    """1.0 where x > 0, ``negative`` where x <= 0 (a float or a broadcastable tensor).

    With 0 <= negative <= 1 this is max(sign(x), negative): sign(x) = 1 wins on the
    positive side, sign(x) in {0, -1} loses on the other. Otherwise it is
    1[x > 0] (1 - negative) + negative.
    """
    if in_unit_interval:
        if isinstance(negative, Tensor):
            return torch.maximum(torch.sign(x), negative)
        return torch.sign(x).clamp_min_(negative)
    return _step(x).mul_(1.0 - negative).add_(negative)


def _softplus(z: Tensor) -> Tensor:
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)), which never overflows."""
    e = torch.exp(-z.abs())  # in (0, 1]
    return z.clamp_min(0.0) + torch.log1p(e)


# --------------------------------------------------------------------------------------
# autograd Functions: forward = the formula, backward = its derivative by hand
# --------------------------------------------------------------------------------------


class ReLUFunction(torch.autograd.Function):
    """relu(x) = max(x, 0);  relu'(x) = 1 if x > 0 else 0  (relu'(0) = 0)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0.0)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad_out * _step(x)


class ReLU6Function(torch.autograd.Function):
    """relu6(x) = min(max(x, 0), 6);  relu6'(x) = 1 if 0 < x < 6 else 0  (0 at 0 and 6)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        y = x.clamp(0.0, 6.0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        # y (6 - y) is > 0 exactly when 0 < x < 6, and 0 elsewhere (y is clamped).
        inside = torch.sign(y * (6.0 - y))
        return grad_out * inside


class LeakyReLUFunction(torch.autograd.Function):
    """leaky_relu(x) = x if x > 0 else a x;  derivative 1 if x > 0 else a  (a at 0).

    Both are ``slope * x`` and ``slope`` with slope = 1 (x > 0) or a (x <= 0), so the
    forward pass saves the slopes and the backward pass multiplies by them.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, negative_slope: float) -> Tensor:
        slope = _slopes(x, negative_slope, in_unit_interval=0.0 <= negative_slope <= 1.0)
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (slope,) = ctx.saved_tensors
        return grad_out * slope, None


def _channel_view(weight: Tensor, x: Tensor) -> Tensor:
    """Reshape a PReLU weight so that it broadcasts over dim 1 (the channels) of x."""
    if weight.numel() == 1:
        return weight.reshape(())
    if x.dim() < 2 or x.shape[1] != weight.numel():
        got = tuple(x.shape)
        raise ValueError(
            f"prelu has {weight.numel()} slopes, one per channel on dim 1, but the input has "
            f"shape {got}; pass an input with {weight.numel()} channels on dim 1 or a single "
            "slope (num_parameters=1)"
        )
    return weight.reshape((-1,) + (1,) * (x.dim() - 2))


class PReLUFunction(torch.autograd.Function):
    """prelu(x) = x if x > 0 else w x, with a learnable slope w (shared or per channel).

    d/dx = 1 if x > 0 else w;  d/dw = 0 if x > 0 else x, summed over every dimension but
    the channel dimension 1 (over all of them when w is shared).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor) -> Tensor:
        # weight may leave [0, 1] while it learns, so use the general slope formula.
        slope = _slopes(x, _channel_view(weight, x), in_unit_interval=False)
        ctx.save_for_backward(x, weight, slope)
        return x * slope

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        x, weight, slope = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out * slope
        if ctx.needs_input_grad[1]:
            per_element = x.clamp_max(0.0) * grad_out  # x where x <= 0, else 0
            if weight.numel() == 1:
                grad_w = per_element.sum().reshape(weight.shape)
            else:
                dims = [d for d in range(x.dim()) if d != 1]
                grad_w = per_element.sum(dim=dims).reshape(weight.shape)
        return grad_x, grad_w


class RReLUFunction(torch.autograd.Function):
    """rrelu(x) = x if x > 0 else a x, with a ~ U(lower, upper) per element (training)
    or a = (lower + upper) / 2 (evaluation).

    The derivative is the slope that was used: 1 if x > 0 else a (a at 0).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, lower: float, upper: float, training: bool) -> Tensor:
        negative: float | Tensor = (lower + upper) / 2.0
        if training:
            negative = torch.empty_like(x).uniform_(lower, upper)
        slope = _slopes(x, negative, in_unit_interval=0.0 <= lower <= upper <= 1.0)
        ctx.save_for_backward(slope)
        return x * slope

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None, None]:
        (slope,) = ctx.saved_tensors
        return grad_out * slope, None, None, None


class ELUFunction(torch.autograd.Function):
    """elu(x) = x if x > 0 else alpha (exp(x) - 1);
    elu'(x) = 1 if x > 0 else alpha exp(x)  (alpha at 0).

    Written without a branch: elu(x) = max(x, 0) + alpha expm1(min(x, 0)) and
    elu'(x) = alpha exp(min(x, 0)) + (1 - alpha) 1[x > 0]. exp only sees x <= 0.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return torch.add(x.clamp_min(0.0), torch.expm1(x.clamp_max(0.0)), alpha=alpha)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        alpha = ctx.alpha
        slope = torch.add(torch.exp(x.clamp_max(0.0)).mul_(alpha), _step(x), alpha=1.0 - alpha)
        return grad_out * slope, None


class SELUFunction(torch.autograd.Function):
    """selu(x) = scale (x if x > 0 else alpha (exp(x) - 1)), alpha = 1.6733, scale = 1.0507;
    selu'(x) = scale if x > 0 else scale alpha exp(x)  (1.7581 at 0).

    It is scale * elu(x, alpha), written without a branch as in :class:`ELUFunction`.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        elu_x = torch.add(x.clamp_min(0.0), torch.expm1(x.clamp_max(0.0)), alpha=SELU_ALPHA)
        return elu_x.mul_(SELU_SCALE)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        negative_part = torch.exp(x.clamp_max(0.0)).mul_(SELU_SCALE * SELU_ALPHA)
        slope = torch.add(negative_part, _step(x), alpha=SELU_SCALE * (1.0 - SELU_ALPHA))
        return grad_out * slope


class CELUFunction(torch.autograd.Function):
    """celu(x) = x if x > 0 else alpha (exp(x / alpha) - 1);
    celu'(x) = 1 if x > 0 else exp(x / alpha)  (1 at 0).

    Written without a branch: celu(x) = max(x, 0) + alpha expm1(min(x, 0) / alpha) and
    celu'(x) = exp(min(x, 0) / alpha), which is 1 for every x >= 0.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        negative_part = torch.expm1(x.clamp_max(0.0).div_(alpha))
        return torch.add(x.clamp_min(0.0), negative_part, alpha=alpha)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_out * torch.exp(x.clamp_max(0.0).div_(ctx.alpha)), None


class GELUFunction(torch.autograd.Function):
    """gelu(x) = x Phi(x), Phi the standard normal CDF, so gelu'(x) = Phi(x) + x phi(x)
    with phi(x) = exp(-x^2 / 2) / sqrt(2 pi).

    ``approximate="tanh"`` replaces Phi(x) by (1 + t) / 2 with t = tanh(c (x + k x^3)),
    c = sqrt(2 / pi), k = 0.044715; the derivative is then
    (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, approximate: str) -> Tensor:
        ctx.approximate = approximate
        if approximate == "tanh":
            t = torch.tanh(GELU_TANH_C * x * (1.0 + GELU_TANH_K * x * x))
            ctx.save_for_backward(x, t)
            return 0.5 * x * (1.0 + t)
        cdf = torch.erf(x * _INV_SQRT_2).add_(1.0).mul_(0.5)  # Phi(x)
        ctx.save_for_backward(x, cdf)
        return x * cdf

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        if ctx.approximate == "tanh":
            x, t = ctx.saved_tensors
            dinner = GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * x * x)  # d/dx of c (x + k x^3)
            slope = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner
            return grad_out * slope, None
        x, cdf = ctx.saved_tensors
        pdf = torch.exp(-0.5 * x * x).mul_(_INV_SQRT_2PI)  # phi(x)
        return grad_out * torch.addcmul(cdf, x, pdf), None  # Phi + x phi


class SiLUFunction(torch.autograd.Function):
    """silu(x) = x sigma(x);  silu'(x) = sigma(x) (1 + x (1 - sigma(x)))  (1/2 at 0).

    With s = sigma(x) and y = x s saved, the derivative is s + y (1 - s).
    sigma is ``torch.sigmoid``, the stable primitive (see :class:`SigmoidFunction`).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        s = torch.sigmoid(x)
        y = x * s
        ctx.save_for_backward(s, y)
        return y

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        s, y = ctx.saved_tensors
        return grad_out * torch.addcmul(s, y, 1.0 - s)


class MishFunction(torch.autograd.Function):
    """mish(x) = x tanh(softplus(x));
    mish'(x) = t + x sigma(x) (1 - t^2) with t = tanh(softplus(x))  (0.6 at 0).

    Uses softplus'(x) = sigma(x) and tanh' = 1 - tanh^2.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        t = torch.tanh(_softplus(x))
        ctx.save_for_backward(x, t)
        return x * t

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        x, t = ctx.saved_tensors
        return grad_out * torch.addcmul(t, x * torch.sigmoid(x), 1.0 - t * t)


class SoftplusFunction(torch.autograd.Function):
    """softplus(x) = log(1 + exp(beta x)) / beta, or x where beta x > threshold;
    softplus'(x) = sigma(beta x), or 1 where beta x > threshold.

    At beta x == threshold exactly the log formula is used (as torch does).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, beta: float, threshold: float) -> Tensor:
        z = x if beta == 1.0 else x * beta
        ctx.save_for_backward(z)
        ctx.threshold = threshold
        smooth = _softplus(z) if beta == 1.0 else _softplus(z).div_(beta)
        return torch.where(z > threshold, x, smooth)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        (z,) = ctx.saved_tensors
        slope = torch.where(z > ctx.threshold, 1.0, torch.sigmoid(z))
        return grad_out * slope, None, None


class SigmoidFunction(torch.autograd.Function):
    """sigma(x) = 1 / (1 + exp(-x));  sigma'(x) = sigma(x) (1 - sigma(x))  (1/4 at 0).

    The forward pass is ``torch.sigmoid``, which evaluates the formula without
    overflow; the backward pass reuses the saved output y = sigma(x).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad_out * y * (1.0 - y)


class TanhFunction(torch.autograd.Function):
    """tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x));  tanh'(x) = 1 - tanh(x)^2.

    The forward pass is ``torch.tanh``; the backward pass reuses the saved output.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (y,) = ctx.saved_tensors
        return grad_out * (1.0 - y * y)


class HardswishFunction(torch.autograd.Function):
    """hardswish(x) = x u / 6 with u = relu6(x + 3);
    hardswish'(x) = 0 if x <= -3, x / 3 + 1/2 if -3 < x < 3, 1 if x >= 3 (as torch:
    the negative side at -3 but the positive side at +3).

    Written without a branch: hardswish'(x) = (u + x 1[0 < u < 6]) / 6.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        u = (x + 3.0).clamp_(0.0, 6.0)
        ctx.save_for_backward(x, u)
        return x * u / 6.0

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        x, u = ctx.saved_tensors
        inside = torch.sign(u * (6.0 - u))  # 1 where -3 < x < 3, else 0
        return grad_out * torch.addcmul(u, x, inside).div_(6.0)


class MaxoutFunction(torch.autograd.Function):
    """maxout(x)_j = max(x_{jk}, ..., x_{jk + k - 1}) over groups of k consecutive entries.

    The derivative sends the incoming gradient to the first maximum of each group (as
    torch's ``max(dim)``) and 0 to the other k - 1 entries.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, k: int, dim: int) -> Tensor:
        groups = x.unflatten(dim, (x.shape[dim] // k, k))
        values, index = groups.max(dim=dim + 1)
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim = groups.shape, dim
        return values

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None]:
        (index,) = ctx.saved_tensors
        group_dim = ctx.dim + 1
        grad_groups = grad_out.new_zeros(ctx.shape)
        grad_groups.scatter_(group_dim, index.unsqueeze(group_dim), grad_out.unsqueeze(group_dim))
        return grad_groups.flatten(ctx.dim, group_dim), None, None


class ReLUSquaredFunction(torch.autograd.Function):
    """relu_squared(x) = max(x, 0)^2;  relu_squared'(x) = 2 max(x, 0)  (0 at 0, no kink)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor) -> Tensor:
        r = x.clamp_min(0.0)
        ctx.save_for_backward(r)
        return r * r

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> Tensor:
        (r,) = ctx.saved_tensors
        return grad_out * (2.0 * r)


def _gelu_parts(x: Tensor, approximate: str) -> tuple[Tensor, Tensor]:
    """(gelu(x), gelu'(x)), the formulas of :class:`GELUFunction` in one pass."""
    if approximate == "tanh":
        t = torch.tanh(GELU_TANH_C * x * (1.0 + GELU_TANH_K * x * x))
        dinner = GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * x * x)
        return 0.5 * x * (1.0 + t), 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner
    cdf = torch.erf(x * _INV_SQRT_2).add_(1.0).mul_(0.5)
    pdf = torch.exp(-0.5 * x * x).mul_(_INV_SQRT_2PI)
    return x * cdf, torch.addcmul(cdf, x, pdf)


def _gate_parts(b: Tensor, kind: str, approximate: str) -> tuple[Tensor, Tensor]:
    """(gate(b), gate'(b)) for glu (sigmoid), geglu (gelu) and swiglu (silu)."""
    s = torch.sigmoid(b)
    if kind == "glu":
        return s, s * (1.0 - s)
    if kind == "swiglu":
        y = b * s
        return y, torch.addcmul(s, y, 1.0 - s)  # silu' = s + y (1 - s)
    return _gelu_parts(b, approximate)


class _GatedFunction(torch.autograd.Function):
    """out = a * gate(b), (a, b) = x.chunk(2, dim);  d/da = gate(b), d/db = a * gate'(b).

    The gate is sigmoid (GLU), GELU (GeGLU) or SiLU (SwiGLU); ``kind`` picks it.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, dim: int, kind: str, approximate: str) -> Tensor:
        a, b = x.chunk(2, dim)
        gate, slope = _gate_parts(b, kind, approximate)
        ctx.save_for_backward(a, gate, slope)
        ctx.dim = dim
        return a * gate

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None, None, None]:
        a, gate, slope = ctx.saved_tensors
        return torch.cat((grad_out * gate, grad_out * a * slope), ctx.dim), None, None, None


class GLUFunction(_GatedFunction):
    """glu(x) = a * sigmoid(b);  d/da = sigmoid(b), d/db = a * sigmoid(b) (1 - sigmoid(b))."""


class GEGLUFunction(_GatedFunction):
    """geglu(x) = a * gelu(b);  d/da = gelu(b), d/db = a * gelu'(b)."""


class SwiGLUFunction(_GatedFunction):
    """swiglu(x) = a * silu(b);  d/da = silu(b), d/db = a * silu'(b)."""


# --------------------------------------------------------------------------------------
# Functional wrappers: torch.nn.functional's names and defaults
# --------------------------------------------------------------------------------------


def relu(input: Tensor) -> Tensor:
    """relu(x) = max(x, 0), elementwise; the derivative at 0 is 0.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device; differentiable through :class:`ReLUFunction`.

    Examples
    --------
    >>> relu(torch.tensor([-2.0, 0.0, 3.0]))
    tensor([0., 0., 3.])
    """
    return ReLUFunction.apply(_check_tensor(input, "relu"))


def relu6(input: Tensor) -> Tensor:
    """relu6(x) = min(max(x, 0), 6); the derivative is 0 at both kinks, 0 and 6.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> relu6(torch.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
    """
    return ReLU6Function.apply(_check_tensor(input, "relu6"))


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """leaky_relu(x) = x if x > 0 else negative_slope * x; the derivative at 0 is the slope.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.
    negative_slope : float, default 0.01
        Slope for x <= 0 (any real number; leaky means 0 < slope < 1).

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> leaky_relu(torch.tensor([-2.0, 0.0, 3.0]), negative_slope=0.1)
    tensor([-0.2000,  0.0000,  3.0000])
    """
    return LeakyReLUFunction.apply(_check_tensor(input, "leaky_relu"), float(negative_slope))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """prelu(x) = x if x > 0 else w * x, with w one slope or one slope per channel (dim 1).

    Parameters
    ----------
    input : Tensor
        Floating-point tensor; with several slopes, shape (N, C, ...) with C slopes.
    weight : Tensor
        The slopes: one element, or C elements for the C channels on dim 1.

    Returns
    -------
    Tensor
        Same shape as ``input``; gradients flow to both ``input`` and ``weight``.

    Examples
    --------
    >>> prelu(torch.tensor([[-2.0, -2.0], [1.0, 1.0]]), torch.tensor([0.5, 0.25]))
    tensor([[-1.0000, -0.5000],
            [ 1.0000,  1.0000]])
    """
    _check_tensor(input, "prelu")
    _check_tensor(weight, "prelu (weight)")
    return PReLUFunction.apply(input, weight)


def rrelu(
    input: Tensor,
    lower: float = RRELU_LOWER,
    upper: float = RRELU_UPPER,
    training: bool = False,
) -> Tensor:
    """rrelu(x) = x if x > 0 else a * x, a ~ U(lower, upper) per element when training,
    a = (lower + upper) / 2 otherwise (the default, as in torch.nn.functional).

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.
    lower, upper : float, default 1/8 and 1/3
        Range of the random slope, ``lower <= upper``.
    training : bool, default False
        Sample a slope per element (True) or use the mean slope (False).

    Returns
    -------
    Tensor
        Same shape, dtype and device; the derivative is the slope that was used.

    Examples
    --------
    >>> rrelu(torch.tensor([-48.0, 2.0]))  # eval slope (1/8 + 1/3) / 2 = 11/48
    tensor([-11.,   2.])
    """
    _check_tensor(input, "rrelu")
    if not lower <= upper:
        raise ValueError(f"rrelu needs lower <= upper, got lower={lower}, upper={upper}; swap them")
    return RReLUFunction.apply(input, float(lower), float(upper), bool(training))


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """elu(x) = x if x > 0 else alpha * (exp(x) - 1); the derivative at 0 is alpha.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.
    alpha : float, default 1.0
        Value that elu approaches as x -> -inf is -alpha.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> elu(torch.tensor([-1e4, 0.0, 2.0]), alpha=2.0)
    tensor([-2.,  0.,  2.])
    """
    return ELUFunction.apply(_check_tensor(input, "elu"), float(alpha))


def selu(input: Tensor) -> Tensor:
    """selu(x) = scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha = 1.6733, scale = 1.0507.

    The derivative at 0 is scale * alpha = 1.7581 (the negative side).

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> selu(torch.tensor([-1e4, 1.0], dtype=torch.float64))
    tensor([-1.7581,  1.0507], dtype=torch.float64)
    """
    return SELUFunction.apply(_check_tensor(input, "selu"))


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """celu(x) = x if x > 0 else alpha * (exp(x / alpha) - 1); the derivative at 0 is 1.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.
    alpha : float, default 1.0
        Non-zero scale; celu approaches -alpha as x -> -inf.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> celu(torch.tensor([-1e4, 0.0, 2.0]), alpha=0.5)
    tensor([-0.5000,  0.0000,  2.0000])
    """
    _check_tensor(input, "celu")
    if alpha == 0:
        raise ValueError("celu divides by alpha, so alpha must be non-zero; got alpha=0")
    return CELUFunction.apply(input, float(alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """gelu(x) = x * Phi(x), Phi the standard normal CDF (``approximate="none"``), or
    x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))) / 2 (``approximate="tanh"``).

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.
    approximate : {"none", "tanh"}, default "none"
        Exact erf form or the tanh approximation.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> gelu(torch.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.1587,  0.0000,  0.8413])
    """
    _check_tensor(input, "gelu")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu's approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELUFunction.apply(input, approximate)


def silu(input: Tensor) -> Tensor:
    """silu(x) = x * sigma(x) = x / (1 + exp(-x)) (also called swish); silu'(0) = 1/2.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> silu(torch.tensor([-1e4, 0.0, 1.0]))
    tensor([-0.0000,  0.0000,  0.7311])
    """
    return SiLUFunction.apply(_check_tensor(input, "silu"))


def mish(input: Tensor) -> Tensor:
    """mish(x) = x * tanh(softplus(x)) = x * tanh(log(1 + exp(x))); mish'(0) = 0.6.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> mish(torch.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.3034,  0.0000,  0.8651])
    """
    return MishFunction.apply(_check_tensor(input, "mish"))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """softplus(x) = log(1 + exp(beta * x)) / beta, or x where beta * x > threshold.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.
    beta : float, default 1.0
        Sharpness; larger beta is closer to relu. Must be non-zero.
    threshold : float, default 20.0
        Above ``beta * x > threshold`` the function is the identity (derivative 1).

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> softplus(torch.tensor([-1e4, 0.0, 1e4]))
    tensor([0.0000e+00, 6.9315e-01, 1.0000e+04])
    """
    _check_tensor(input, "softplus")
    if beta == 0:
        raise ValueError("softplus divides by beta, so beta must be non-zero; got beta=0")
    return SoftplusFunction.apply(input, float(beta), float(threshold))


def sigmoid(input: Tensor) -> Tensor:
    """sigma(x) = 1 / (1 + exp(-x)); sigma'(x) = sigma(x) (1 - sigma(x)) <= 1/4.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> sigmoid(torch.tensor([-1e4, 0.0, 1e4]))
    tensor([0.0000, 0.5000, 1.0000])
    """
    return SigmoidFunction.apply(_check_tensor(input, "sigmoid"))


def tanh(input: Tensor) -> Tensor:
    """tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)); tanh'(x) = 1 - tanh(x)^2.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> tanh(torch.tensor([-1e4, 0.0, 1.0]))
    tensor([-1.0000,  0.0000,  0.7616])
    """
    return TanhFunction.apply(_check_tensor(input, "tanh"))


def hardswish(input: Tensor) -> Tensor:
    """hardswish(x) = x * relu6(x + 3) / 6; derivative 0 at -3 and 1 at 3 (as torch).

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> hardswish(torch.tensor([-4.0, 0.0, 1.5, 4.0]))
    tensor([-0.0000,  0.0000,  1.1250,  4.0000])
    """
    return HardswishFunction.apply(_check_tensor(input, "hardswish"))


def maxout(input: Tensor, k: int, dim: int = -1) -> Tensor:
    """maxout(x)_j = max(x_{jk}, ..., x_{jk + k - 1}): the maximum of each group of k
    consecutive entries along ``dim``, which shrinks from C to C // k.

    Not in torch.nn.functional; it equals ``x.unflatten(dim, (C // k, k)).max(dim + 1)``.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor whose size along ``dim`` is divisible by ``k``.
    k : int
        Group size, at least 1.
    dim : int, default -1
        Dimension to group.

    Returns
    -------
    Tensor
        ``input``'s shape with size C // k along ``dim``; the gradient goes to the first
        maximum of each group.

    Examples
    --------
    >>> maxout(torch.tensor([1.0, 5.0, -2.0, -3.0]), k=2)
    tensor([ 5., -2.])
    """
    _check_tensor(input, "maxout")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"maxout's k is the group size, a positive int; got k={k!r}")
    if input.dim() == 0:
        raise ValueError("maxout needs at least one dimension to group; got a 0-d tensor")
    dim = dim % input.dim() if -input.dim() <= dim < input.dim() else dim
    if not 0 <= dim < input.dim():
        raise ValueError(f"maxout's dim={dim} is out of range for a {input.dim()}-d input")
    size = input.shape[dim]
    if size % k:
        raise ValueError(
            f"maxout groups dim {dim} (size {size}) into groups of k={k}, but {size} is not "
            f"divisible by {k}; make the size a multiple of k"
        )
    return MaxoutFunction.apply(input, k, dim)


def relu_squared(input: Tensor) -> Tensor:
    """relu_squared(x) = max(x, 0)^2 (So et al. 2021, "Primer"); the derivative is 2 max(x, 0).

    Not in torch.nn.functional; it equals ``F.relu(x) ** 2``.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor of any shape.

    Returns
    -------
    Tensor
        Same shape, dtype and device.

    Examples
    --------
    >>> relu_squared(torch.tensor([-2.0, 0.0, 3.0]))
    tensor([0., 0., 9.])
    """
    return ReLUSquaredFunction.apply(_check_tensor(input, "relu_squared"))


def _gated(input: Tensor, dim: int, kind: str, approximate: str = "none") -> Tensor:
    """Check the input of a gated unit and apply ``_GatedFunction`` of the given kind."""
    _check_tensor(input, kind)
    if input.dim() == 0:
        raise ValueError(f"{kind} splits a dimension in two halves; got a 0-d tensor")
    if not -input.dim() <= dim < input.dim():
        raise ValueError(f"{kind}'s dim={dim} is out of range for a {input.dim()}-d input")
    dim %= input.dim()
    if input.shape[dim] % 2:
        raise ValueError(
            f"{kind} splits dim {dim} (size {input.shape[dim]}) into a value half and a gate "
            "half, so its size must be even; make the layer before it output 2 * hidden"
        )
    cls = {"glu": GLUFunction, "geglu": GEGLUFunction, "swiglu": SwiGLUFunction}[kind]
    return cls.apply(input, dim, kind, approximate)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """glu(x) = a * sigmoid(b), with a, b the first and second halves of x along ``dim``.

    The gated linear unit of Dauphin et al. (2017), as ``torch.nn.functional.glu``.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor with an even size along ``dim``.
    dim : int, default -1
        Dimension to split.

    Returns
    -------
    Tensor
        ``input``'s shape with half the size along ``dim``.

    Examples
    --------
    >>> glu(torch.tensor([1.0, 2.0, 0.0, 100.0]))
    tensor([0.5000, 2.0000])
    """
    return _gated(input, dim, "glu")


def geglu(input: Tensor, dim: int = -1, approximate: str = "none") -> Tensor:
    """geglu(x) = a * gelu(b) for the halves (a, b) of x along ``dim`` (Shazeer 2020).

    Not in torch.nn.functional; it equals ``a * F.gelu(b, approximate=approximate)``.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor with an even size along ``dim``.
    dim : int, default -1
        Dimension to split.
    approximate : {"none", "tanh"}, default "none"
        The GELU form of the gate.

    Returns
    -------
    Tensor
        ``input``'s shape with half the size along ``dim``.

    Examples
    --------
    >>> geglu(torch.tensor([2.0, 3.0, 1.0, -1.0]))
    tensor([ 1.6827, -0.4760])
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"geglu's approximate must be 'none' or 'tanh', got {approximate!r}")
    return _gated(input, dim, "geglu", approximate)


def swiglu(input: Tensor, dim: int = -1) -> Tensor:
    """swiglu(x) = a * silu(b) for the halves (a, b) of x along ``dim`` (Shazeer 2020).

    Not in torch.nn.functional; it equals ``a * F.silu(b)``.

    Parameters
    ----------
    input : Tensor
        Floating-point tensor with an even size along ``dim``.
    dim : int, default -1
        Dimension to split.

    Returns
    -------
    Tensor
        ``input``'s shape with half the size along ``dim``.

    Examples
    --------
    >>> swiglu(torch.tensor([2.0, 3.0, 1.0, -1.0]))
    tensor([ 1.4621, -0.8068])
    """
    return _gated(input, dim, "swiglu")


# --------------------------------------------------------------------------------------
# Modules: torch.nn's names and defaults
# --------------------------------------------------------------------------------------


class ReLU(nn.Module):
    """relu(x) = max(x, 0) as a module (see :func:`relu`).

    Examples
    --------
    >>> ReLU()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return relu(input)


class ReLU6(nn.Module):
    """relu6(x) = min(max(x, 0), 6) as a module (see :func:`relu6`)."""

    def forward(self, input: Tensor) -> Tensor:
        return relu6(input)


class LeakyReLU(nn.Module):
    """leaky_relu(x) = x if x > 0 else negative_slope * x as a module.

    Examples
    --------
    >>> LeakyReLU(0.2)(torch.tensor([-1.0, 2.0]))
    tensor([-0.2000,  2.0000])
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, input: Tensor) -> Tensor:
        return leaky_relu(input, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class PReLU(nn.Module):
    """prelu(x) = x if x > 0 else w * x with learnable slopes w, initialised to ``init``.

    Parameters
    ----------
    num_parameters : int, default 1
        1 for one shared slope, or the number of channels (dim 1 of the input).
    init : float, default 0.25
        Initial value of every slope.

    Examples
    --------
    >>> act = PReLU(num_parameters=2)
    >>> act(torch.tensor([[-4.0, -8.0]]))
    tensor([[-1., -2.]], grad_fn=<PReLUFunctionBackward>)
    >>> act.weight.shape
    torch.Size([2])
    """

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if num_parameters < 1:
            raise ValueError(f"PReLU needs num_parameters >= 1, got {num_parameters}")
        self.num_parameters = num_parameters
        self.init = init
        self.weight = nn.Parameter(torch.full((num_parameters,), init, device=device, dtype=dtype))

    def reset_parameters(self) -> None:
        """Set every slope back to ``init``."""
        with torch.no_grad():
            self.weight.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class RReLU(nn.Module):
    """rrelu(x) = x if x > 0 else a * x; in training mode a ~ U(lower, upper) per element,
    in eval mode a = (lower + upper) / 2. Starts in training mode, like every module.

    Examples
    --------
    >>> RReLU().eval()(torch.tensor([-48.0, 1.0]))
    tensor([-11.,   1.])
    """

    def __init__(self, lower: float = RRELU_LOWER, upper: float = RRELU_UPPER) -> None:
        super().__init__()
        self.lower = lower
        self.upper = upper

    def forward(self, input: Tensor) -> Tensor:
        return rrelu(input, self.lower, self.upper, training=self.training)

    def extra_repr(self) -> str:
        return f"lower={self.lower}, upper={self.upper}"


class ELU(nn.Module):
    """elu(x) = x if x > 0 else alpha * (exp(x) - 1) as a module (see :func:`elu`)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SELU(nn.Module):
    """selu(x) = 1.0507 * (x if x > 0 else 1.6733 * (exp(x) - 1)) as a module."""

    def forward(self, input: Tensor) -> Tensor:
        return selu(input)


class CELU(nn.Module):
    """celu(x) = x if x > 0 else alpha * (exp(x / alpha) - 1) as a module."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, input: Tensor) -> Tensor:
        return celu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(nn.Module):
    """gelu(x) = x * Phi(x) (or its tanh approximation) as a module (see :func:`gelu`)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(nn.Module):
    """silu(x) = x * sigma(x) as a module (see :func:`silu`)."""

    def forward(self, input: Tensor) -> Tensor:
        return silu(input)


class Mish(nn.Module):
    """mish(x) = x * tanh(softplus(x)) as a module (see :func:`mish`)."""

    def forward(self, input: Tensor) -> Tensor:
        return mish(input)


class Softplus(nn.Module):
    """softplus(x) = log(1 + exp(beta * x)) / beta (x above the threshold) as a module."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Sigmoid(nn.Module):
    """sigma(x) = 1 / (1 + exp(-x)) as a module (see :func:`sigmoid`)."""

    def forward(self, input: Tensor) -> Tensor:
        return sigmoid(input)


class Tanh(nn.Module):
    """tanh(x) as a module (see :func:`tanh`)."""

    def forward(self, input: Tensor) -> Tensor:
        return tanh(input)


class Hardswish(nn.Module):
    """hardswish(x) = x * relu6(x + 3) / 6 as a module (see :func:`hardswish`)."""

    def forward(self, input: Tensor) -> Tensor:
        return hardswish(input)


class Maxout(nn.Module):
    """maxout(x)_j = max_i (W_{jk+i} x + b_{jk+i}), i = 0..k-1: a Linear layer to
    ``out_features * k`` units, then the maximum over each group of k consecutive units.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of the input and of the output (after the maximum).
    k : int
        Pieces per output unit. With k = 2 and one piece fixed at 0, this is relu(W x + b).
    bias : bool, default True
        Whether the Linear layer has a bias.

    Examples
    --------
    >>> Maxout(in_features=3, out_features=4, k=2)(torch.zeros(5, 3)).shape
    torch.Size([5, 4])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        k: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if k < 1:
            raise ValueError(f"Maxout needs k >= 1 pieces per unit, got k={k}")
        self.in_features, self.out_features, self.k = in_features, out_features, k
        self.linear = nn.Linear(
            in_features, out_features * k, bias=bias, device=device, dtype=dtype
        )

    def forward(self, input: Tensor) -> Tensor:
        return maxout(self.linear(input), self.k, dim=-1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, k={self.k}"


class ReLUSquared(nn.Module):
    """relu_squared(x) = max(x, 0)^2 as a module (see :func:`relu_squared`)."""

    def forward(self, input: Tensor) -> Tensor:
        return relu_squared(input)


class GLU(nn.Module):
    """glu(x) = a * sigmoid(b) over the halves of ``dim`` as a module (see :func:`glu`).

    Put it after a Linear layer to ``2 * hidden`` features: ``Linear(d, 2h), GLU()`` is
    the feed-forward gate ``(x W) * sigmoid(x V)`` with W and V stacked in one matrix.

    Examples
    --------
    >>> GLU()(torch.zeros(5, 8)).shape
    torch.Size([5, 4])
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GEGLU(GLU):
    """geglu(x) = a * gelu(b) over the halves of ``dim`` as a module (see :func:`geglu`)."""

    def __init__(self, dim: int = -1, approximate: str = "none") -> None:
        super().__init__(dim)
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return geglu(input, self.dim, self.approximate)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, approximate={self.approximate!r}"


class SwiGLU(GLU):
    """swiglu(x) = a * silu(b) over the halves of ``dim`` as a module (see :func:`swiglu`)."""

    def forward(self, input: Tensor) -> Tensor:
        return swiglu(input, self.dim)


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

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

GATED_UNITS: dict[str, type[nn.Module]] = {"glu": GLU, "geglu": GEGLU, "swiglu": SwiGLU}
"""Gated units of transformer feed-forward layers: they halve the width, so they stay out
of :func:`get_activation`; build one directly after a Linear layer to ``2 * hidden``."""


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
    ValueError
        For an unknown name; the message lists the valid names.
    TypeError
        For a keyword argument that the activation does not take.

    Examples
    --------
    >>> get_activation("leaky_relu", negative_slope=0.2)
    LeakyReLU(negative_slope=0.2)
    >>> get_activation("gelu_tanh", builtin=True)
    GELU(approximate='tanh')
    """
    if not isinstance(name, str):
        raise TypeError(f"get_activation expects a name (str), got {type(name).__name__}")
    key = name.strip().lower()
    if key not in _REGISTRY:
        hint = " Maxout changes the width: build Maxout(in_features, out_features, k)." * (
            key == "maxout"
        )
        if key in GATED_UNITS:
            hint = f" {key} halves the width: build {GATED_UNITS[key].__name__}() (GATED_UNITS)."
        if key == "relu_squared":
            hint = " Torch has no squared ReLU module: build ReLUSquared()."
        raise ValueError(
            f"unknown activation {name!r}; valid names: {', '.join(ACTIVATION_NAMES)}.{hint}"
        )
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
