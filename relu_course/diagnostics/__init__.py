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

The functions live in one module per question, all importable from here::

    units             dead_units, dead_unit_fraction, activation_stats, dormant_scores,
                      dormant_fraction, saturation_fraction
    born_dead         born_dead_probability, simulate_born_dead
    training_signals  grad_norms, weight_snapshot, update_to_data_ratio, ActivationRecorder
    _hooks            ACTIVATION_TYPES and the hook machinery they share
"""

from __future__ import annotations

from relu_course.diagnostics._hooks import ACTIVATION_TYPES
from relu_course.diagnostics.born_dead import born_dead_probability, simulate_born_dead
from relu_course.diagnostics.training_signals import (
    ActivationRecorder,
    grad_norms,
    update_to_data_ratio,
    weight_snapshot,
)
from relu_course.diagnostics.units import (
    activation_stats,
    dead_unit_fraction,
    dead_units,
    dormant_fraction,
    dormant_scores,
    saturation_fraction,
)

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
