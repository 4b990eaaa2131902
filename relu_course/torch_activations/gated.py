"""Units that change the width or gate one half by the other, each as autograd Function,
functional and Module: maxout, relu_squared, glu, geglu, swiglu.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.autograd.function import FunctionCtx

from relu_course.torch_activations._common import _check_tensor
from relu_course.torch_activations.smooth import GELUFunction

# --------------------------------------------------------------------------------------
# maxout
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# relu_squared
# --------------------------------------------------------------------------------------


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


class ReLUSquared(nn.Module):
    """relu_squared(x) = max(x, 0)^2 as a module (see :func:`relu_squared`)."""

    def forward(self, input: Tensor) -> Tensor:
        return relu_squared(input)


# --------------------------------------------------------------------------------------
# glu, geglu, swiglu: one Function for the three gated units
# --------------------------------------------------------------------------------------


def _gate_parts(b: Tensor, kind: str, approximate: str) -> tuple[Tensor, Tensor]:
    """(gate(b), gate'(b)) for glu (sigmoid), geglu (gelu) and swiglu (silu)."""
    s = torch.sigmoid(b)
    if kind == "glu":
        return s, s * (1.0 - s)
    if kind == "swiglu":
        y = b * s
        return y, torch.addcmul(s, y, 1.0 - s)  # silu' = s + y (1 - s)
    y, saved = GELUFunction.value(b, approximate)
    return y, GELUFunction.slope(b, saved, approximate)


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
