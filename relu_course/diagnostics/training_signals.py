"""Signals read during training: gradient norms, update-to-data ratios, and a recorder of
activation and gradient samples.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from relu_course.diagnostics._hooks import _activation_layers, _check_positive_ints, _layer_weights


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
