"""The ReLU family and its exponential relatives, each as autograd Function, functional
and Module: relu, relu6, leaky_relu, prelu, rrelu, elu, selu, celu.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from relu_course.activations import RRELU_LOWER, RRELU_UPPER, SELU_ALPHA, SELU_SCALE
from relu_course.torch_activations._common import _check_tensor, _slopes, _step

# --------------------------------------------------------------------------------------
# relu
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


class ReLU(nn.Module):
    """relu(x) = max(x, 0) as a module (see :func:`relu`).

    Examples
    --------
    >>> ReLU()(torch.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def forward(self, input: Tensor) -> Tensor:
        return relu(input)


# --------------------------------------------------------------------------------------
# relu6
# --------------------------------------------------------------------------------------


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


class ReLU6(nn.Module):
    """relu6(x) = min(max(x, 0), 6) as a module (see :func:`relu6`)."""

    def forward(self, input: Tensor) -> Tensor:
        return relu6(input)


# --------------------------------------------------------------------------------------
# leaky_relu
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# prelu
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# rrelu
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# elu
# --------------------------------------------------------------------------------------


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


class ELU(nn.Module):
    """elu(x) = x if x > 0 else alpha * (exp(x) - 1) as a module (see :func:`elu`)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


# --------------------------------------------------------------------------------------
# selu
# --------------------------------------------------------------------------------------


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


class SELU(nn.Module):
    """selu(x) = 1.0507 * (x if x > 0 else 1.6733 * (exp(x) - 1)) as a module."""

    def forward(self, input: Tensor) -> Tensor:
        return selu(input)


# --------------------------------------------------------------------------------------
# celu
# --------------------------------------------------------------------------------------


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


class CELU(nn.Module):
    """celu(x) = x if x > 0 else alpha * (exp(x / alpha) - 1) as a module."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, input: Tensor) -> Tensor:
        return celu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"
