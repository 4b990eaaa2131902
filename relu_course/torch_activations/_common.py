"""Input checks and numerically stable building blocks shared by the torch mirrors."""

from __future__ import annotations

import torch
from torch import Tensor


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
