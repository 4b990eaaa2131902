"""Self-checks for the torch-based assignments (ps2, ps3, ps4).

The same spirit as :mod:`relu_course.checks`: each ``check_*`` function runs a student's
function on a battery of constructed cases, compares with a reference computed here,
and raises :class:`CheckFailed` (an ``AssertionError``) whose message names the case,
the expected and the received value, and the likely mistake. A passing check returns
``None`` and prints nothing, and warnings raised by the student's code are silenced, so
a correct answer never writes to stderr (nbgrader scores a test cell that does as 0).

``level="basic"`` is the small battery of the visible tests; ``level="full"`` adds the
cases of the hidden tests (other shapes, dtypes, parameters, constructed networks).

ps2 (vanishing gradients)
    :func:`check_init`, :func:`check_grad_norms`, :func:`check_mlp`,
    :func:`teacher_data`, :func:`deep_relu_accuracy`
ps3 (dying ReLU)
    :func:`check_dead_detector`, :func:`make_dying_net`, :func:`train_dying_net`,
    :func:`check_rescue`, :func:`check_reset_dormant_units` (in
    :mod:`relu_course.checks_dormant`)
ps4 (custom autograd, PReLU, digits)
    :func:`check_autograd_function`, :func:`check_prelu_module`,
    :func:`digits_test_accuracy`

Every ``check_*`` of a student's code follows :mod:`relu_course.checks`: ``cases`` ->
``observe`` (runs the student's code, records plain data) -> ``judge`` (compares with the
reference, never runs student code). :data:`CHECKS` registers them by name, so that the
clean re-verification (:mod:`relu_course.grading.verify_torch`) can observe in the
student's process and judge in its own; a new check joins with one line there. The
checks live in :mod:`relu_course.checks_ps2`, :mod:`relu_course.checks_ps3` and
:mod:`relu_course.checks_ps4`, their shared machinery in
:mod:`relu_course.checks_torch_core`.

Two rules keep the grading of a notebook fair. The rules a notebook states for an
answer (:data:`STATED_RULES`: no ``torch.nn.init`` in ps2's initialisers, no ``F.prelu``
in ps4's PReLU) are checked while the student's code runs (:func:`stated_rules`). And a
test of a later question runs with the course's own version of the earlier answers it
builds on (:data:`COURSE_PARTS`, :func:`course_parts`), so one mistake costs one question.
No example in this module is a complete answer to a graded question.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.utils.data import DataLoader

from relu_course.checks_dormant import check_reset_dormant_units  # ps3's ReDo question
from relu_course.checks_ps2 import GRAD_NORMS, INIT, MLP, deep_relu_accuracy, teacher_data
from relu_course.checks_ps3 import (
    ACTIVATION_LAYERS,
    DEAD_DETECTOR,
    check_rescue,
    make_dying_net,
    train_dying_net,
)
from relu_course.checks_ps4 import AUTOGRAD_FUNCTION, PRELU_MODULE, digits_test_accuracy
from relu_course.checks_torch_core import (
    COURSE_PARTS,
    STATED_RULES,
    CheckFailed,
    Level,
    TorchCheck,
    course_parts,
    run_check,
    stated_rules,
)

__all__ = [
    "ACTIVATION_LAYERS",
    "CHECKS",
    "COURSE_PARTS",
    "STATED_RULES",
    "CheckFailed",
    "check_autograd_function",
    "check_dead_detector",
    "check_grad_norms",
    "check_init",
    "check_mlp",
    "check_prelu_module",
    "check_rescue",
    "check_reset_dormant_units",
    "course_parts",
    "deep_relu_accuracy",
    "digits_test_accuracy",
    "make_dying_net",
    "stated_rules",
    "teacher_data",
    "train_dying_net",
]

#: Every check of a student's object, by the name of its ``check_*`` function: the
#: re-verification looks a test cell's ``checks_torch.check_*`` calls up here.
CHECKS: dict[str, TorchCheck] = {
    "check_init": INIT,
    "check_grad_norms": GRAD_NORMS,
    "check_mlp": MLP,
    "check_dead_detector": DEAD_DETECTOR,
    "check_autograd_function": AUTOGRAD_FUNCTION,
    "check_prelu_module": PRELU_MODULE,
}


def check_init(
    init_fn: Callable[[torch.Tensor], torch.Tensor],
    kind: Literal["xavier", "he"],
    *,
    level: Level = "basic",
) -> None:
    """Check an in-place normal initialiser: ``W_ij ~ N(0, std^2)``.

    ``kind="xavier"``: ``std = sqrt(2 / (fan_in + fan_out))``; ``kind="he"``:
    ``std = sqrt(2 / fan_in)``, with ``fan_in = shape[1] * prod(shape[2:])`` and
    ``fan_out = shape[0] * prod(shape[2:])`` (PyTorch's layout ``(out, in, *kernel)``).

    The contract checked: ``init_fn(weight)`` overwrites every entry of ``weight`` in
    place with draws from torch's global generator (so ``torch.manual_seed`` makes it
    repeatable), returns that same tensor, and works on an ``nn.Parameter`` without
    recording the fill in autograd.

    Parameters
    ----------
    init_fn
        The student's initialiser, e.g. ``he_normal_``.
    kind
        ``"xavier"`` or ``"he"``.
    level
        ``"basic"``: one case of every clause: Linear and conv shapes, float64, an
        ``nn.Parameter``, reproducibility, the normal shape and no ``torch.nn.init``.
        ``"full"``: the same with more shapes (wide, narrow, another conv).

    Raises
    ------
    CheckFailed
        With the case, the expected and received statistic and a hint.

    Examples
    --------
    A failure names the case, the expected and the received statistic and a hint:

    >>> def too_wide(weight):
    ...     with torch.no_grad():
    ...         return weight.normal_(0.0, 1.0)
    >>> try:
    ...     check_init(too_wide, "he")
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[1])
      expected: 0.06250 (within 5%)
    """
    run_check(INIT, init_fn, kind=kind, level=level)


def check_grad_norms(
    fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], list[float]], *, level: Level = "basic"
) -> None:
    """Check ``fn(model, x, y)`` returns ``[||dL/dW_l||_F for each nn.Linear l]``.

    ``L`` is the mean cross-entropy of ``model(x)`` against the labels ``y``, after one
    backward pass that starts from zero gradients; layers in ``model.modules()`` order
    (input side first); Python floats; the parameters are not changed.

    Parameters
    ----------
    fn
        The student's ``grad_norm_per_layer``.
    level
        ``"basic"``: a 4-layer tanh MLP called twice (gradients must not pile up), stale
        gradients, nested blocks with ReLU/Dropout layers. ``"full"``: also a 13-layer
        sigmoid MLP (tiny norms) and a single example.

    Raises
    ------
    CheckFailed
        With the case, the expected and the received norms and a hint.

    Examples
    --------
    The norms of the weights themselves are not the gradient's:

    >>> def weight_norms(model, x, y):
    ...     return [float(m.weight.norm()) for m in model.modules() if isinstance(m, nn.Linear)]
    >>> try:
    ...     check_grad_norms(weight_norms)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    weight_norms on a 4-layer tanh MLP (first call): ||dL/dW_l|| per layer
    """
    run_check(GRAD_NORMS, fn, level=level)


def check_mlp(build_mlp: Callable[..., nn.Module], *, level: Level = "basic") -> None:
    """Check ``build_mlp(depth, width, activation, init, in_features, out_features)``.

    The network is ``[Linear, act] * depth + [Linear(width, out_features)]`` as an
    ``nn.Sequential``; ``init="he"``/``"xavier"`` draw every Linear weight with
    ``std = sqrt(2/fan_in)`` / ``sqrt(2/(fan_in+fan_out))`` and zero the biases;
    ``init="default"`` keeps PyTorch's ``U(+-1/sqrt(fan_in))`` (std ``1/sqrt(3 fan_in)``).

    Parameters
    ----------
    build_mlp
        The student's builder.
    level
        ``"basic"``: structure of a ReLU and a tanh net (other feature sizes), the
        weight statistics of ``init="he"`` and zero biases. ``"full"``: also every
        activation and the statistics of every ``init``.

    Raises
    ------
    CheckFailed
        With the case, the expected and received structure or statistic, and a hint.

    Examples
    --------
    >>> def one_layer(depth, width, activation="relu", init="he", in_features=16,
    ...               out_features=4):
    ...     return nn.Sequential(nn.Linear(in_features, out_features))
    >>> try:
    ...     check_mlp(one_layer)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    build_mlp(3, 8, 'relu', 'he'): the layers
    """
    run_check(MLP, build_mlp, level=level)


def check_dead_detector(
    fn: Callable[[nn.Module, torch.Tensor | DataLoader], dict[str, float]],
    *,
    level: Level = "basic",
) -> None:
    """Check a detector of dead units: ``dead_l = mean_j [ a_lj(x) == 0 for every x ]``.

    For every activation layer (an instance of :data:`ACTIVATION_LAYERS`, keyed by its
    name in ``model.named_modules()``), the fraction of its units (dim 1: neurons, or
    channels of a conv layer over every position) whose output is exactly 0 on every
    example of ``data`` (a tensor, or a DataLoader of ``(x, y)`` batches). The model's
    parameters, training mode and hooks are as before the call.

    Parameters
    ----------
    fn
        The student's ``dead_fraction_per_layer``.
    level
        ``"basic"``: one case of every clause: units alive at one example only, a
        DataLoader, exactly-zero pre-activations, LeakyReLU (never dead), nested names
        in train mode, a conv layer. ``"full"``: also all units dead and none dead.

    Raises
    ------
    CheckFailed
        With the network, the expected and the received fractions and a hint.

    Examples
    --------
    A detector that forgets the activation layers' names fails the first case:

    >>> try:
    ...     check_dead_detector(lambda model, data: {})
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    <lambda> on Sequential(Linear(3, 6), ReLU()) with units 1 and 4 dead
    """
    run_check(DEAD_DETECTOR, fn, level=level)


def check_autograd_function(
    fn_cls: type[torch.autograd.Function], *, level: Level = "basic"
) -> None:
    """Check a Leaky ReLU ``torch.autograd.Function``: ``f(x) = x if x > 0 else a x``.

    ``fn_cls.apply(x, negative_slope=0.01)``; the hand-written backward returns
    ``grad_output * (1 if x > 0 else a)`` (at ``x = 0`` the slope ``a``, PyTorch's
    negative-side convention) and ``None`` for the slope.

    Parameters
    ----------
    fn_cls
        The student's ``LeakyReLUFunction``.
    level
        ``"basic"``: one case of every clause: values, the kink, an uneven
        ``grad_output``, a slope above 1, float32 and float64, the input left unchanged,
        0-d and empty inputs, gradcheck. ``"full"``: also slopes 0 and 0.3, a 3-d input
        and gradcheck at more slopes.

    Raises
    ------
    CheckFailed
        With the input, the expected and the received values and a hint.

    Examples
    --------
    >>> class Identity(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, negative_slope=0.01):
    ...         return x.clone()
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         return grad_output, None
    >>> try:
    ...     check_autograd_function(Identity)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    Identity.apply(x), x = [-3, -1.5, -0.25, 0, 0.5, 2, 7]
    """
    run_check(AUTOGRAD_FUNCTION, fn_cls, level=level)


def check_prelu_module(prelu_cls: type[nn.Module], *, level: Level = "basic") -> None:
    """Check a learnable PReLU module: ``f(x) = max(0, x) + a_c * min(0, x)``.

    ``prelu_cls(num_parameters=1, init=0.25)`` registers ``weight``, an ``nn.Parameter``
    of shape ``(num_parameters,)`` filled with ``init``; one slope shared by every
    element, or one per channel (dim 1 of the input). Values and gradients (for the
    input and for ``weight``) must match ``torch.nn.functional.prelu``.

    Parameters
    ----------
    prelu_cls
        The student's ``PReLU`` class.
    level
        ``"basic"``: one case of every clause: a shared slope on a 2-D input, one slope
        per channel of a 4-D float64 input (channels != last dim) with another
        ``init``, an optimiser step, no ``F.prelu``. ``"full"``: also a shared slope on
        a 4-D input and 6 channels on a 2-D input.

    Raises
    ------
    CheckFailed
        With the case, the expected and the received values and a hint.

    Examples
    --------
    A slope kept as a plain tensor is not learned; ``F.prelu`` is off limits (the
    notebook says so, :data:`STATED_RULES`):

    >>> class Frozen(nn.Module):
    ...     def __init__(self, num_parameters=1, init=0.25):
    ...         super().__init__()
    ...         self.weight = torch.full((num_parameters,), init)
    >>> try:
    ...     check_prelu_module(Frozen)
    ... except CheckFailed as failure:
    ...     print(str(failure).splitlines()[0])
    Frozen(1): its parameters
    """
    run_check(PRELU_MODULE, prelu_cls, level=level)
