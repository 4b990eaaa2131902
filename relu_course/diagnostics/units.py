"""What each unit does on data: dead and dormant units, activation statistics, saturation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from relu_course.diagnostics._hooks import Data, _activation_layers, _per_unit, _run_with_hooks


def dead_units(
    model: nn.Module, data: Data, *, device: str | torch.device | None = None
) -> dict[str, Tensor]:
    """Mask of dead units per activation layer: ``dead_j = max over data of h_j <= 0``.

    Unit ``j`` of a layer (feature ``j`` along dim 1; a channel for conv maps, dead only
    if ``<= 0`` at every position) is dead on ``data`` when its output is never
    positive. For ReLU that means exactly 0, so it passes no gradient on any of these
    inputs. For Leaky ReLU, ELU and the like "never positive" is reported the same way,
    although a gradient still flows through their negative side.

    Parameters
    ----------
    model : nn.Module
        Network whose activation layers are ``nn.Module`` instances.
    data : torch.Tensor or DataLoader
        One batch of inputs, or batches of ``x`` or ``(x, y)``.
    device : str, torch.device or None
        Where to run; None uses the device of the model's parameters.

    Returns
    -------
    dict of str to torch.Tensor
        Boolean mask of shape ``(units,)`` on the CPU, per layer name.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(1, 3), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.copy_(torch.tensor([-5.0, 0.0, 5.0]))
    >>> dead_units(net, torch.tensor([[1.0], [2.0]]))
    {'1': tensor([ True, False, False])}
    """
    alive: dict[str, Tensor] = {}

    def record(name: str, out: Tensor) -> None:
        positive = (_per_unit(out) > 0).any(dim=1).cpu()
        alive[name] = alive[name] | positive if name in alive else positive

    names = _run_with_hooks(model, data, device, record)
    return {name: ~alive[name] for name in names if name in alive}


def dead_unit_fraction(
    model: nn.Module, data: Data, *, device: str | torch.device | None = None
) -> dict[str, float]:
    """Share of dead units per activation layer: ``#{j : max_x h_j(x) <= 0} / N``.

    See :func:`dead_units` for what a unit is and when it is dead.

    Parameters
    ----------
    model, data, device
        As in :func:`dead_units`.

    Returns
    -------
    dict of str to float
        Fraction in ``[0, 1]`` per layer, in the order the layers appear in the model.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    >>> with torch.no_grad():
    ...     _ = net[0].bias.fill_(-100.0), net[2].bias.fill_(1.0)
    >>> dead_unit_fraction(net, torch.randn(8, 2))
    {'1': 1.0, '3': 0.0}
    """
    return {
        name: mask.float().mean().item()
        for name, mask in dead_units(model, data, device=device).items()
    }


def activation_stats(
    model: nn.Module, data: Data, *, device: str | torch.device | None = None
) -> dict[str, dict[str, float]]:
    """Mean, variance and share of exact zeros of each activation layer's outputs.

    Over every output value ``h`` of the layer (all units, all examples, all positions):
    ``mean = E[h]``, ``var = E[(h - mean)^2]`` (population variance) and
    ``frac_zero = P(h == 0)``. Batches are merged exactly (Chan's formula, float64).

    Parameters
    ----------
    model, data, device
        As in :func:`dead_units`.

    Returns
    -------
    dict of str to dict
        ``{"mean": ..., "var": ..., "frac_zero": ...}`` per layer.

    Examples
    --------
    >>> net = nn.Sequential(nn.Identity(), nn.ReLU())
    >>> activation_stats(net, torch.tensor([[-1.0, 1.0], [2.0, 3.0]]))
    {'1': {'mean': 1.5, 'var': 1.25, 'frac_zero': 0.25}}
    """
    acc: dict[str, list[float]] = {}  # name -> [count, mean, M2, zeros]

    def record(name: str, out: Tensor) -> None:
        h = out.double().flatten()
        n = h.numel()
        if n == 0:
            return
        mean_b = h.mean().item()
        m2_b = ((h - mean_b) ** 2).sum().item()
        zeros_b = (h == 0).sum().item()
        if name not in acc:
            acc[name] = [n, mean_b, m2_b, zeros_b]
            return
        count, mean, m2, zeros = acc[name]
        total = count + n
        delta = mean_b - mean
        acc[name] = [
            total,
            mean + delta * n / total,
            m2 + m2_b + delta**2 * count * n / total,
            zeros + zeros_b,
        ]

    names = _run_with_hooks(model, data, device, record)
    return {
        name: {
            "mean": acc[name][1],
            "var": acc[name][2] / acc[name][0],
            "frac_zero": acc[name][3] / acc[name][0],
        }
        for name in names
        if name in acc
    }


def dormant_scores(
    model: nn.Module, data: Data, *, device: str | torch.device | None = None
) -> dict[str, Tensor]:
    """Sokar et al.'s (2023) dormancy score of every unit: ``s_j = E|h_j| / mean_k E|h_k|``.

    ``E|h_j|`` is unit ``j``'s mean absolute output over ``data`` (and positions, for conv
    maps); the score divides it by the layer's average of the same quantity, so a layer
    whose units all fire equally scores 1 everywhere. A unit is **tau-dormant** when
    ``s_j <= tau``. With ``tau = 0`` a ReLU unit is dormant exactly when it is dead
    (:func:`dead_units`); a small ``tau > 0`` also catches units that fire so weakly that
    the layer above barely hears them. A layer whose outputs are all zero scores 0.

    Parameters
    ----------
    model, data, device
        As in :func:`dead_units`.

    Returns
    -------
    dict of str to torch.Tensor
        float64 scores of shape ``(units,)`` on the CPU, per layer name.

    Examples
    --------
    >>> net = nn.Sequential(nn.Identity(), nn.ReLU())
    >>> dormant_scores(net, torch.tensor([[0.0, 1.0, 3.0], [0.0, 1.0, 1.0]]))
    {'1': tensor([0., 1., 2.], dtype=torch.float64)}
    """
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = {}

    def record(name: str, out: Tensor) -> None:
        per_unit = _per_unit(out).double().abs()
        sums[name] = sums.get(name, 0) + per_unit.sum(dim=1).cpu()
        counts[name] = counts.get(name, 0) + per_unit.shape[1]

    names = _run_with_hooks(model, data, device, record)
    scores = {}
    for name in names:
        if name not in sums:
            continue
        mean_abs = sums[name] / counts[name]
        layer_mean = mean_abs.mean()
        scores[name] = mean_abs / layer_mean if layer_mean > 0 else torch.zeros_like(mean_abs)
    return scores


def dormant_fraction(
    model: nn.Module,
    data: Data,
    tau: float = 0.0,
    *,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Share of tau-dormant units per activation layer: ``#{j : s_j <= tau} / N``.

    See :func:`dormant_scores` for the score ``s_j``. ``tau`` is a small threshold
    (chapter 12 uses 0.1); ``tau = 0`` counts dead ReLU units.

    Examples
    --------
    >>> net = nn.Sequential(nn.Identity(), nn.ReLU())
    >>> dormant_fraction(net, torch.tensor([[0.0, 1.0, 3.0, 0.1]]), tau=0.1)
    {'1': 0.5}
    """
    if not 0.0 <= tau:
        raise ValueError(f"tau must be >= 0 (a share of the layer's mean), got {tau}")
    return {
        name: (s <= tau).double().mean().item()
        for name, s in dormant_scores(model, data, device=device).items()
    }


_SATURATING = {"Sigmoid": "sigmoid", "Tanh": "tanh", "ReLU6": "relu6"}

_ZERO_FLOOR = ("ReLU", "ReLUSquared")


def _saturation_rule(module: nn.Module) -> str | None:
    """Which saturation rule applies to an activation module, or None if none does."""
    name = type(module).__name__
    if name in _SATURATING:
        return _SATURATING[name]
    if name in _ZERO_FLOOR:
        return "zero"
    return None


def saturation_fraction(
    model: nn.Module,
    data: Data,
    eps: float = 0.01,
    *,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Share of a layer's outputs at a flat part of its activation, where f' is (near) 0.

    Over every output value ``h`` of the layer:

    - sigmoid: ``h < eps`` or ``h > 1 - eps`` (then sigma'(z) = h (1 - h) < eps);
    - tanh: ``|h| > 1 - eps`` (then tanh'(z) = 1 - h^2 < 2 eps);
    - ReLU and squared ReLU: ``h == 0`` exactly (``eps`` is not used: the flat side is
      exactly flat); ReLU6: ``h == 0`` or ``h == 6``.

    Activation layers of other kinds (Leaky ReLU, GELU, ELU ...) have no flat side of
    this sort and are left out of the result.

    Parameters
    ----------
    model, data, device
        As in :func:`dead_units`.
    eps : float
        Distance from the asymptote that counts as saturated, in ``(0, 0.5)``.

    Returns
    -------
    dict of str to float
        Fraction in ``[0, 1]`` per covered layer.

    Examples
    --------
    >>> net = nn.Sequential(nn.Identity(), nn.Sigmoid(), nn.Identity(), nn.ReLU())
    >>> saturation_fraction(net, torch.tensor([[-10.0, 0.0, 10.0, 1.0]]))
    {'1': 0.5, '3': 0.0}
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}")
    rules = {name: _saturation_rule(m) for name, m in _activation_layers(model)}
    counts: dict[str, list[int]] = {}

    def record(name: str, out: Tensor) -> None:
        rule = rules[name]
        if rule is None:
            return
        if rule == "sigmoid":
            flat = (out < eps) | (out > 1.0 - eps)
        elif rule == "tanh":
            flat = out.abs() > 1.0 - eps
        elif rule == "relu6":
            flat = (out == 0) | (out == 6)
        else:
            flat = out == 0
        seen = counts.setdefault(name, [0, 0])
        seen[0] += int(flat.sum().item())
        seen[1] += flat.numel()

    names = _run_with_hooks(model, data, device, record)
    return {name: counts[name][0] / counts[name][1] for name in names if name in counts}
