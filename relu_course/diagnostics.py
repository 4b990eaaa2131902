"""Look inside a network: dead units, activation statistics, gradient norms, born-dead odds.

The layer-wise functions attach forward hooks to every activation layer (a module whose
class is in :data:`ACTIVATION_TYPES`), run the data through the model once, and report
per layer, keyed by the module's name in ``model.named_modules()`` (``"1"``, ``"3"``, ...
for an ``nn.Sequential``). While they run, the model is in eval mode (so ``RReLU`` uses
its mean slope and dropout is off) and no gradients are recorded; afterwards every hook
is removed and every module's train/eval mode is restored, even when the forward pass
fails.

What counts as a *unit*: a feature along dim 1 of the layer's output. For an MLP
(output ``B x N``) that is one neuron; for a convolution (``B x C x H x W``) it is a
channel, and a channel is dead only if it is ``<= 0`` at every position of every example.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from relu_course.training import model_device

__all__ = [
    "ACTIVATION_TYPES",
    "ActivationRecorder",
    "activation_stats",
    "born_dead_probability",
    "dead_unit_fraction",
    "dead_units",
    "dormant_fraction",
    "dormant_scores",
    "grad_norms",
    "saturation_fraction",
    "simulate_born_dead",
    "update_to_data_ratio",
    "weight_snapshot",
]

_TORCH_ACTIVATIONS: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Softplus,
    nn.Sigmoid,
    nn.Tanh,
    nn.ReLU6,
    nn.Hardswish,
)


def _mirror_activations() -> tuple[type[nn.Module], ...]:
    """The nn.Module classes of relu_course.torch_activations, if that module imports."""
    try:
        from relu_course import torch_activations
    except ImportError:
        return ()
    found = []
    for name in getattr(torch_activations, "__all__", ()):
        obj = getattr(torch_activations, name, None)
        if isinstance(obj, type) and issubclass(obj, nn.Module):
            found.append(obj)
    return tuple(found)


ACTIVATION_TYPES: tuple[type[nn.Module], ...] = _TORCH_ACTIVATIONS + _mirror_activations()
"""Module classes counted as activation layers: torch's own and the package's mirrors."""

Data = Tensor | Iterable


def _activation_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Activation modules of ``model`` in order, skipping ones nested inside another."""
    layers: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if not isinstance(module, ACTIVATION_TYPES):
            continue
        if any(name.startswith(outer + ".") for outer, _ in layers):
            continue
        layers.append((name or type(module).__name__, module))
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no activation layer (an instance of one of "
            f"{', '.join(t.__name__ for t in _TORCH_ACTIVATIONS)}); diagnostics hook "
            "nn.Module activations, so write nn.ReLU() layers, not F.relu calls in forward"
        )
    return layers


def _batches(data: Data) -> Iterable[Tensor]:
    """Inputs from a tensor (one batch) or a DataLoader / iterable of ``x`` or ``(x, y)``."""
    if isinstance(data, Tensor):
        yield data
        return
    if isinstance(data, np.ndarray):
        raise TypeError(
            "data must be a torch.Tensor or a DataLoader, got a NumPy array; "
            "wrap it with torch.as_tensor(X, dtype=torch.float32)"
        )
    for batch in data:
        yield batch[0] if isinstance(batch, list | tuple) else batch


@contextmanager
def _inspecting(model: nn.Module):
    """Eval mode and no grad inside; each module's own mode restored on the way out."""
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for module, mode in modes.items():
            module.train(mode)


def _run_with_hooks(
    model: nn.Module,
    data: Data,
    device: str | torch.device | None,
    on_output: Callable[[str, Tensor], None],
) -> list[str]:
    """Run ``data`` through ``model``, calling ``on_output(name, output)`` per layer."""
    dev = model_device(model) if device is None else torch.device(device)
    layers = _activation_layers(model)
    handles = []
    try:
        for name, module in layers:
            handles.append(
                module.register_forward_hook(
                    lambda _m, _inp, out, name=name: on_output(name, out.detach())
                )
            )
        with _inspecting(model):
            seen = 0
            for x in _batches(data):
                model(x.to(dev))
                seen += 1
        if seen == 0:
            raise ValueError("data yielded no batches; pass a non-empty tensor or DataLoader")
    finally:
        for handle in handles:
            handle.remove()
    return [name for name, _ in layers]


def _per_unit(out: Tensor) -> Tensor:
    """Reshape ``B x C x ...`` to ``C x (B * ...)``: one row per unit (dim 1)."""
    if out.dim() < 2:
        return out.reshape(1, -1)
    return out.transpose(0, 1).reshape(out.shape[1], -1)


def dead_units(
    model: nn.Module,
    data: Data,
    *,
    device: str | torch.device | None = None,
    exactly_zero: bool = False,
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
    exactly_zero : bool
        Count a unit as dead only when its output is exactly 0 on every input (the
        gradient test: a Leaky ReLU unit with negative outputs is then alive). The
        ps3 checks measure this way.

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
        rows = _per_unit(out)
        positive = (rows != 0 if exactly_zero else rows > 0).any(dim=1).cpu()
        alive[name] = alive[name] | positive if name in alive else positive

    names = _run_with_hooks(model, data, device, record)
    return {name: ~alive[name] for name in names if name in alive}


def dead_unit_fraction(
    model: nn.Module,
    data: Data,
    *,
    device: str | torch.device | None = None,
    exactly_zero: bool = False,
) -> dict[str, float]:
    """Share of dead units per activation layer: ``#{j : max_x h_j(x) <= 0} / N``.

    See :func:`dead_units` for what a unit is and when it is dead.

    Parameters
    ----------
    model, data, device, exactly_zero
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
        for name, mask in dead_units(model, data, device=device, exactly_zero=exactly_zero).items()
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
    model, data, device, exactly_zero
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


def grad_norms(model: nn.Module) -> dict[str, float]:
    """Frobenius norm ``||dL/dW||_F`` of each layer's weight gradient, input to output.

    Call it after ``loss.backward()``. A layer is any module with its own parameter
    named ``weight`` (``Linear``, ``Conv2d``, norm layers ...); the slopes of activation
    modules such as ``PReLU`` are left out. Layers whose weight has no gradient (frozen
    or not used) are skipped.

    Parameters
    ----------
    model : nn.Module

    Returns
    -------
    dict of str to float
        Norm per layer name, in the order the layers appear in the model.

    Raises
    ------
    RuntimeError
        If no layer weight has a gradient yet.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0)
    >>> net(torch.tensor([[3.0, 4.0]])).sum().backward()
    >>> grad_norms(net)
    {'0': 5.0}
    """
    norms = {
        name: weight.grad.detach().norm().item()
        for name, weight in _layer_weights(model)
        if weight.grad is not None
    }
    if not norms:
        raise RuntimeError(
            "no layer weight has a gradient; compute a loss and call loss.backward() "
            "before grad_norms(model) (and do not call optimizer.zero_grad() in between)"
        )
    return norms


def _check_positive_ints(**values: int) -> None:
    for label, value in values.items():
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{label} must be a positive int, got {value!r}")


def born_dead_probability(width: int, depth: int) -> float:
    """Chance that a ReLU net is dead at a fixed input: ``1 - (1 - 2^-N)^L``.

    Setting: ``L`` hidden ReLU layers of width ``N``, zero biases, weights drawn
    independently from a distribution symmetric about 0 with no atom at 0 (He-normal,
    Xavier ...), and one fixed input ``x != 0``. "Dead" means the last hidden layer
    outputs the zero vector, so the output layer sees only its bias.

    Derivation. Write ``h_0 = x`` and ``h_l = relu(W_l h_{l-1})``.

    1. Fix any non-zero ``h_{l-1}``. Each unit ``i`` of layer ``l`` receives
       ``z_i = w_i . h_{l-1}``, where the rows ``w_i`` are independent and symmetric, so
       the ``z_i`` are independent, symmetric and non-zero almost surely: each is
       ``<= 0`` with probability 1/2. All ``N`` units are zero with probability ``2^-N``,
       whatever the value of ``h_{l-1}``.
    2. A zero layer stays zero: with zero biases ``h_{l-1} = 0`` gives ``h_l = 0``. So
       the net is alive at ``x`` only if *every* layer has at least one positive unit.
    3. Because the probability in step 1 does not depend on ``h_{l-1}`` and the weights
       of different layers are independent, the survival events multiply:
       ``P(alive) = prod_l P(layer l not all zero | layers < l alive) = (1 - 2^-N)^L``.

    So ``P(dead) = 1 - (1 - 2^-N)^L``, which goes to 1 as ``L`` grows for any fixed
    ``N``: deep, narrow ReLU nets are often dead at initialisation. The formula is exact
    in this setting; in particular it is not changed by the scale of the weights.
    Dead on a whole data set is a different, stronger event (Lu et al. 2020 study it).

    Parameters
    ----------
    width : int
        Units per hidden layer, ``N >= 1``.
    depth : int
        Number of hidden layers, ``L >= 1``.

    Returns
    -------
    float
        The probability, computed as ``-expm1(L log1p(-2^-N))`` to stay accurate.

    Examples
    --------
    >>> round(born_dead_probability(2, 10), 4), born_dead_probability(1, 1)
    (0.9437, 0.5)
    """
    _check_positive_ints(width=width, depth=depth)
    return -math.expm1(depth * math.log1p(-(2.0**-width)))


def simulate_born_dead(
    width: int, depth: int, trials: int = 2000, d_in: int = 1, seed: int = 0
) -> float:
    """Monte Carlo estimate of :func:`born_dead_probability`: share of dead random nets.

    Each trial draws a net of ``depth`` hidden ReLU layers of ``width`` units with
    He-normal weights ``W ~ N(0, 2 / fan_in)`` and zero biases, feeds it the fixed input
    ``x = (1, ..., 1)`` of size ``d_in``, and counts it as dead when the last hidden
    layer (the input of the output layer) is the zero vector. All trials run at once as
    a batch of ``trials`` independent nets. Since only signs matter, any other non-zero
    input, fixed or random, gives the same distribution. The standard error of the
    estimate is ``sqrt(p (1 - p) / trials)``.

    Parameters
    ----------
    width, depth : int
        ``N`` and ``L``, as in :func:`born_dead_probability`.
    trials : int
        Number of independent nets.
    d_in : int
        Input size.
    seed : int
        Seed of the weights; the same seed gives the same estimate.

    Returns
    -------
    float
        Fraction of dead nets.

    Examples
    --------
    >>> p = simulate_born_dead(2, 10, trials=20000, seed=0)
    >>> abs(p - born_dead_probability(2, 10)) < 4 * (p * (1 - p) / 20000) ** 0.5
    True
    """
    _check_positive_ints(width=width, depth=depth, trials=trials, d_in=d_in)
    rng = np.random.default_rng(seed)
    h = np.ones((trials, d_in))
    for _ in range(depth):
        fan_in = h.shape[1]
        w = rng.standard_normal((trials, width, fan_in)) * math.sqrt(2.0 / fan_in)
        h = np.maximum(np.einsum("toi,ti->to", w, h), 0.0)
    return float(np.mean(np.all(h <= 0, axis=1)))


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
    model, data, device, exactly_zero
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
    model, data, device, exactly_zero
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


def _layer_weights(model: nn.Module) -> Iterator[tuple[str, Tensor]]:
    """(name, weight) of every module with its own ``weight`` parameter, activations left out."""
    for name, module in model.named_modules():
        if isinstance(module, ACTIVATION_TYPES):
            continue
        weight = module._parameters.get("weight")
        if weight is not None:
            yield name or type(module).__name__, weight


def weight_snapshot(model: nn.Module) -> dict[str, Tensor]:
    """Copies of the layer weights (as in :func:`grad_norms`), to compare after a step.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3))
    >>> {name: tuple(w.shape) for name, w in weight_snapshot(net).items()}
    {'0': (3, 2)}
    """
    return {name: w.detach().clone() for name, w in _layer_weights(model)}


def update_to_data_ratio(
    model: nn.Module,
    before: dict[str, Tensor] | None = None,
    *,
    lr: float | None = None,
) -> dict[str, float]:
    """Relative size of a training step per layer: ``||Delta W||_F / ||W||_F``.

    Two ways to get ``Delta W``:

    - ``before`` (from :func:`weight_snapshot`, taken just before ``optimizer.step()``):
      the step that really happened, whatever the optimiser (Adam, momentum ...);
      the ratio is ``||W - W_before|| / ||W_before||``;
    - ``lr``: the plain-SGD step ``lr * dL/dW`` from the current gradients, so the ratio
      is ``lr ||dL/dW|| / ||W||`` (call it after ``loss.backward()``).

    A common rule of thumb (Karpathy's makemore lectures) is a ratio near ``1e-3``: much
    smaller and the layer hardly learns, much larger and it is being rewritten each step.

    Returns
    -------
    dict of str to float
        Ratio per layer, in the order of the model (layers without a gradient skipped in
        the ``lr`` form).

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 1, bias=False))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.copy_(torch.tensor([[3.0, 4.0]]))
    >>> before = weight_snapshot(net)
    >>> with torch.no_grad():
    ...     _ = net[0].weight.mul_(1.1)
    >>> round(update_to_data_ratio(net, before)["0"], 6)
    0.1
    >>> net(torch.tensor([[1.0, 0.0]])).sum().backward()
    >>> round(update_to_data_ratio(net, lr=0.5)["0"], 6)  # 0.5 * ||(1, 0)|| / ||(3.3, 4.4)||
    0.090909
    """
    if (before is None) == (lr is None):
        raise ValueError(
            "pass exactly one of before=weight_snapshot(model) (taken before "
            "optimizer.step()) or lr=... (plain-SGD step from the current gradients)"
        )
    ratios: dict[str, float] = {}
    for name, w in _layer_weights(model):
        if before is not None:
            if name not in before:
                raise KeyError(f"layer {name!r} is not in the snapshot; take it from this model")
            old = before[name].to(w.device)
            denom = old.norm().item()
            ratios[name] = (w.detach() - old).norm().item() / denom if denom else math.inf
        elif w.grad is not None:
            denom = w.detach().norm().item()
            ratios[name] = lr * w.grad.detach().norm().item() / denom if denom else math.inf
    if not ratios:
        raise RuntimeError("no layer weight has a gradient; call loss.backward() first")
    return ratios


class ActivationRecorder:
    """Record samples of every activation layer's outputs and their gradients in training.

    Hooks (a forward hook on each activation layer, and a tensor hook on its output for
    the gradient ``dL/dh``) keep, at every ``every``-th call of :meth:`step`, up to
    ``max_values`` values per layer drawn at random (its own generator, so the model's
    random stream is untouched). Only forward passes in training mode with gradients on
    are recorded, and only the first one after each :meth:`step`, so an evaluation pass
    under ``torch.no_grad()`` does not overwrite a snapshot.

    Use it as a context manager (the hooks are removed on exit)::

        with ActivationRecorder(model, every=50) as rec:
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad(); loss.backward(); opt.step()
                rec.step()
        rec.histograms("activation")    # -> bin edges, {layer: steps x bins}

    Attributes
    ----------
    activations, gradients : dict of str to list of (int, np.ndarray)
        Per layer name: ``(step, sampled values)`` in recording order.

    Examples
    --------
    >>> torch.manual_seed(0) is not None
    True
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    >>> with ActivationRecorder(net, every=1, max_values=5) as rec:
    ...     for _ in range(2):
    ...         net(torch.randn(8, 3)).sum().backward()
    ...         rec.step()
    >>> [step for step, _ in rec.activations["1"]], rec.gradients["1"][0][1].shape
    ([0, 1], (5,))
    """

    def __init__(
        self, model: nn.Module, *, every: int = 1, max_values: int = 2000, seed: int = 0
    ) -> None:
        _check_positive_ints(every=every, max_values=max_values)
        self.model, self.every, self.max_values = model, every, max_values
        self.layers = [name for name, _ in _activation_layers(model)]
        self.activations: dict[str, list[tuple[int, np.ndarray]]] = {n: [] for n in self.layers}
        self.gradients: dict[str, list[tuple[int, np.ndarray]]] = {n: [] for n in self.layers}
        self._generator = torch.Generator().manual_seed(seed)
        self._handles: list[Any] = []
        self._step = 0
        self._seen: set[str] = set()

    def __enter__(self) -> ActivationRecorder:
        for name, module in _activation_layers(self.model):
            self._handles.append(
                module.register_forward_hook(
                    lambda m, _inp, out, name=name: self._on_forward(name, m, out)
                )
            )
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Detach every hook (done on leaving the ``with`` block)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def step(self) -> None:
        """Mark the end of a training step; the next forward pass may be recorded."""
        self._step += 1
        self._seen.clear()

    def _sample(self, t: Tensor) -> np.ndarray:
        flat = t.detach().flatten()
        if flat.numel() > self.max_values:
            pick = torch.randperm(flat.numel(), generator=self._generator)[: self.max_values]
            flat = flat[pick.to(flat.device)]
        return flat.float().cpu().numpy()

    def _on_forward(self, name: str, module: nn.Module, out: Tensor) -> None:
        due = self._step % self.every == 0 and name not in self._seen
        if not (due and module.training and torch.is_grad_enabled()):
            return
        self._seen.add(name)
        step = self._step
        self.activations[name].append((step, self._sample(out)))
        if out.requires_grad:
            out.register_hook(lambda g: self.gradients[name].append((step, self._sample(g))))

    def histograms(
        self,
        kind: str = "activation",
        *,
        bins: int = 40,
        value_range: tuple[float, float] | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Density histograms of the recorded values on common bin edges.

        Parameters
        ----------
        kind : {"activation", "gradient"}
        bins : int
            Number of bins.
        value_range : (low, high), optional
            Bin range; by default the 0.5 and 99.5 percentiles of all recorded values.

        Returns
        -------
        edges : np.ndarray
            ``bins + 1`` bin edges.
        counts : dict of str to np.ndarray
            Per layer, a ``snapshots x bins`` array of shares (each row sums to the share
            of values inside the range).
        """
        records = self._records(kind)
        values = [v for series in records.values() for _, v in series]
        if not values:
            raise ValueError(f"no {kind} recorded yet; train inside the with block")
        if value_range is None:
            low, high = np.percentile(np.concatenate(values), [0.5, 99.5])
            value_range = (float(low), float(high) if high > low else float(low) + 1.0)
        edges = np.linspace(*value_range, bins + 1)
        counts = {
            name: np.array([np.histogram(v, edges)[0] / max(v.size, 1) for _, v in series])
            for name, series in records.items()
            if series
        }
        return edges, counts

    def steps(self, kind: str = "activation") -> dict[str, list[int]]:
        """The training steps of the recorded snapshots, per layer."""
        return {name: [s for s, _ in series] for name, series in self._records(kind).items()}

    def _records(self, kind: str) -> dict[str, list[tuple[int, np.ndarray]]]:
        if kind not in ("activation", "gradient"):
            raise ValueError(f"kind must be 'activation' or 'gradient', got {kind!r}")
        return self.activations if kind == "activation" else self.gradients
