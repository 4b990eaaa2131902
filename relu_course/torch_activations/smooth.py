"""Smooth activations, each as autograd Function, functional and Module: gelu, silu, mish,
softplus, sigmoid, tanh, hardswish.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from relu_course.activations import GELU_TANH_C, GELU_TANH_K, INV_SQRT_2PI, SQRT_HALF
from relu_course.torch_activations._common import _check_tensor, _softplus

# --------------------------------------------------------------------------------------
# gelu
# --------------------------------------------------------------------------------------


class GELUFunction(torch.autograd.Function):
    """gelu(x) = x Phi(x), Phi the standard normal CDF, so gelu'(x) = Phi(x) + x phi(x)
    with phi(x) = exp(-x^2 / 2) / sqrt(2 pi).

    ``approximate="tanh"`` replaces Phi(x) by (1 + t) / 2 with t = tanh(c (x + k x^3)),
    c = sqrt(2 / pi), k = 0.044715; the derivative is then
    (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, approximate: str) -> Tensor:
        y, saved = GELUFunction.value(x, approximate)
        ctx.approximate = approximate
        ctx.save_for_backward(x, saved)
        return y

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        x, saved = ctx.saved_tensors
        return grad_out * GELUFunction.slope(x, saved, ctx.approximate), None

    @staticmethod
    def value(x: Tensor, approximate: str) -> tuple[Tensor, Tensor]:
        """(gelu(x), s) with s = Phi(x), or t for ``"tanh"``: what :meth:`slope` needs."""
        if approximate == "tanh":
            t = torch.tanh(GELU_TANH_C * x * (1.0 + GELU_TANH_K * x * x))
            return 0.5 * x * (1.0 + t), t
        cdf = torch.erf(x * SQRT_HALF).add_(1.0).mul_(0.5)  # Phi(x)
        return x * cdf, cdf

    @staticmethod
    def slope(x: Tensor, s: Tensor, approximate: str) -> Tensor:
        """gelu'(x), from the ``s`` that :meth:`value` returned."""
        if approximate == "tanh":
            dinner = GELU_TANH_C * (1.0 + 3.0 * GELU_TANH_K * x * x)  # d/dx of c (x + k x^3)
            return 0.5 * (1.0 + s) + 0.5 * x * (1.0 - s * s) * dinner
        pdf = torch.exp(-0.5 * x * x).mul_(INV_SQRT_2PI)  # phi(x)
        return torch.addcmul(s, x, pdf)  # Phi + x phi


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


class GELU(nn.Module):
    """gelu(x) = x * Phi(x) (or its tanh approximation) as a module (see :func:`gelu`)."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


# --------------------------------------------------------------------------------------
# silu
# --------------------------------------------------------------------------------------


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


class SiLU(nn.Module):
    """silu(x) = x * sigma(x) as a module (see :func:`silu`)."""

    def forward(self, input: Tensor) -> Tensor:
        return silu(input)


# --------------------------------------------------------------------------------------
# mish
# --------------------------------------------------------------------------------------


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


class Mish(nn.Module):
    """mish(x) = x * tanh(softplus(x)) as a module (see :func:`mish`)."""

    def forward(self, input: Tensor) -> Tensor:
        return mish(input)


# --------------------------------------------------------------------------------------
# softplus
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# sigmoid
# --------------------------------------------------------------------------------------


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


class Sigmoid(nn.Module):
    """sigma(x) = 1 / (1 + exp(-x)) as a module (see :func:`sigmoid`)."""

    def forward(self, input: Tensor) -> Tensor:
        return sigmoid(input)


# --------------------------------------------------------------------------------------
# tanh
# --------------------------------------------------------------------------------------


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


class Tanh(nn.Module):
    """tanh(x) as a module (see :func:`tanh`)."""

    def forward(self, input: Tensor) -> Tensor:
        return tanh(input)


# --------------------------------------------------------------------------------------
# hardswish
# --------------------------------------------------------------------------------------


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


class Hardswish(nn.Module):
    """hardswish(x) = x * relu6(x + 3) / 6 as a module (see :func:`hardswish`)."""

    def forward(self, input: Tensor) -> Tensor:
        return hardswish(input)
