"""The machinery of the diagnostics: which modules are activation layers, and running
data through a model with a hook on each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor, nn

from relu_course.torch_activations import BUILTIN_MODULE_TYPES, MODULE_TYPES

ACTIVATION_TYPES: tuple[type[nn.Module], ...] = BUILTIN_MODULE_TYPES + MODULE_TYPES
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
            f"{', '.join(t.__name__ for t in BUILTIN_MODULE_TYPES)}); diagnostics hook "
            "nn.Module activations, so write nn.ReLU() layers, not F.relu calls in forward"
        )
    return layers


def _model_device(model: nn.Module) -> torch.device:
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


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
    dev = _model_device(model) if device is None else torch.device(device)
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


def _check_positive_ints(**values: int) -> None:
    for label, value in values.items():
        if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{label} must be a positive int, got {value!r}")


def _layer_weights(model: nn.Module) -> Iterator[tuple[str, Tensor]]:
    """(name, weight) of every module with its own ``weight`` parameter, activations left out."""
    for name, module in model.named_modules():
        if isinstance(module, ACTIVATION_TYPES):
            continue
        weight = module._parameters.get("weight")
        if weight is not None:
            yield name or type(module).__name__, weight
