"""Write the nbgrader source notebooks of ps2, ps3 and ps4 into solutions/.

The notebooks are the source of truth nbgrader reads; this script is how they are
authored and reviewed (one Python string per cell). Run it after editing a cell, then
regenerate the student copies:

    .venv/bin/python scripts/make_ps234.py
    PATH=.venv/bin:$PATH nbgrader generate_assignment ps2_vanishing_gradients --force

Cell conventions (parsed by the re-grader, keep them exact): a graded function lives in
its own solution cell whose grade_id is the function's name, with its signature and
docstring outside ``### BEGIN SOLUTION`` / ``### END SOLUTION``; its test cell has
grade_id ``test_<name>``, visible tests first, then ``### BEGIN HIDDEN TESTS`` ...
``### END HIDDEN TESTS``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from relu_course.grading.toy import cell_metadata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
from notebook_twins import install_line  # noqa: E402 - the one install line (README, twins)

SETUP = """\
try:
    import relu_course
except ImportError:  # Colab or a fresh laptop: install the course's helper package
    INSTALL_LINE
    import relu_course

import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from relu_course import checks_torch
from relu_course.training import get_device

# These networks are tiny: on a CPU one thread is as fast as several, and much faster
# when other programs compete for the cores.
torch.set_num_threads(1)
# True while nbgrader grades the notebook: the ungraded demos then do less work.
GRADING = bool(os.environ.get("NBGRADER_EXECUTION"))
device = get_device()
print("device:", device)""".replace("INSTALL_LINE", install_line(ROOT))


def md(text: str) -> NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(source: str) -> NotebookNode:
    return new_code_cell(source.strip("\n"))


def solution(grade_id: str, source: str) -> NotebookNode:
    """An answer cell: the student writes between the markers."""
    cell = code(source)
    cell.metadata.update(cell_metadata(grade_id, solution=True, grade=False))
    return cell


def tests(grade_id: str, points: int, source: str) -> NotebookNode:
    """A locked, graded test cell (visible tests, then hidden ones)."""
    cell = code(source)
    cell.metadata.update(cell_metadata(grade_id, solution=False, grade=True, points=points))
    return cell


def notebook(cells: list[NotebookNode]) -> NotebookNode:
    for i, cell in enumerate(cells):  # stable ids: rebuilding gives the same file
        cell["id"] = f"cell-{i:02d}"
    nb = new_notebook(cells=cells)
    nb.metadata.update(
        {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    )
    return nb


# ----------------------------------------------------------------------------- ps2

PS2 = [
    md("""
# Problem set 2: vanishing gradients and initialisation

A deep network learns only if the signal reaching each layer, forwards and backwards,
is neither crushed to zero nor blown up. In this problem set you will

1. write Xavier and He initialisation from scratch (4 points),
2. build deep MLPs with a chosen activation and initialisation (3 points),
3. measure the gradient norm of every layer (3 points),
4. see which combinations of activation and initialisation train (not graded).

Run the cells from top to bottom. Each answer cell states its contract in the docstring;
the cell after it checks your answer: it runs the course's check first, so a mistake
shows the case, the expected and the received value and a hint. The visible checks hold
one case of every rule in the contract; the hidden ones, run when your notebook is
graded, only add more inputs. You can run the same checks yourself with
`checks_torch.check_init(...)` and friends (`level="full"` runs the broader ones).
Each question is graded on its own: the test of a later question uses the course's
version of the earlier answers it builds on, so one mistake costs one question.
"""),
    code(SETUP),
    md(r"""
## 1. Initialisation from scratch (4 points)

A linear layer computes $y_i = \sum_{j=1}^{n_\text{in}} W_{ij} x_j$. With independent,
zero-mean weights of variance $\sigma^2$, $\operatorname{Var}(y_i) = n_\text{in}\,\sigma^2\,
\mathbb{E}[x_j^2]$. Keeping the scale of the signal constant from layer to layer fixes
$\sigma$:

* **Xavier (Glorot) normal**, for activations that are roughly linear around 0 (tanh):
  a compromise between the forward and the backward pass,
  $\sigma = \sqrt{2 / (n_\text{in} + n_\text{out})}$.
* **He (Kaiming) normal**, for ReLU: ReLU zeroes half of its inputs, so
  $\mathbb{E}[\operatorname{relu}(z)^2] = \operatorname{Var}(z)/2$, and the factor 2 puts
  that half back: $\sigma = \sqrt{2 / n_\text{in}}$.

PyTorch stores an `nn.Linear` weight as `(out_features, in_features)`, so
$n_\text{in}$ = `weight.shape[1]` and $n_\text{out}$ = `weight.shape[0]`. A conv weight
`(out, in, kh, kw)` has $n_\text{in}$ = `in * kh * kw` and $n_\text{out}$ = `out * kh * kw`.

**Contract** (the same for both functions): fill every entry of `weight` **in place**
with draws from a normal distribution, using torch's random generator (so that
`torch.manual_seed` makes it repeatable); do not let autograd record the fill (it must
work on an `nn.Parameter`: use `torch.no_grad()`), and return the same tensor.
`torch.nn.init` is off limits here: write it with `Tensor.normal_` or `torch.randn`.
The tests check this rule: an answer that calls any `torch.nn.init` function scores 0
on its question.
"""),
    solution(
        "xavier_normal_",
        '''
def xavier_normal_(weight: torch.Tensor) -> torch.Tensor:
    """Fill ``weight`` in place with N(0, std^2), std = sqrt(2 / (fan_in + fan_out)).

    fan_in = weight.shape[1] * prod(weight.shape[2:]) and
    fan_out = weight.shape[0] * prod(weight.shape[2:]) (PyTorch's (out, in, *kernel)
    layout). Draws from torch's random generator, without autograd recording it.

    Parameters
    ----------
    weight : torch.Tensor
        A weight of at least 2 dimensions, e.g. ``nn.Linear(in, out).weight``.

    Returns
    -------
    torch.Tensor
        ``weight`` itself, filled.
    """
    ### BEGIN SOLUTION
    receptive = weight[0, 0].numel()
    fan_in = weight.shape[1] * receptive
    fan_out = weight.shape[0] * receptive
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / (fan_in + fan_out)))
    return weight
    ### END SOLUTION
''',
    ),
    tests(
        "test_xavier_normal_",
        2,
        """
# The course's check first: a failure names the case, expected, received and a hint.
checks_torch.check_init(xavier_normal_, "xavier", level="basic")
# A (256, 512) weight: 256 outputs, 512 inputs.
torch.manual_seed(0)
w = torch.empty(256, 512)
out = xavier_normal_(w)
assert out is w, "xavier_normal_ must fill the tensor it is given and return it"
expected = math.sqrt(2 / (512 + 256))
assert abs(w.std().item() / expected - 1) < 0.05, (
    f"std of a (256, 512) weight: expected {expected:.4f}, got {w.std().item():.4f}"
)
assert abs(w.mean().item()) < 0.01, f"mean should be about 0, got {w.mean().item():.4f}"
### BEGIN HIDDEN TESTS
checks_torch.check_init(xavier_normal_, "xavier", level="full")
### END HIDDEN TESTS
""",
    ),
    solution(
        "he_normal_",
        '''
def he_normal_(weight: torch.Tensor) -> torch.Tensor:
    """Fill ``weight`` in place with N(0, std^2), std = sqrt(2 / fan_in).

    fan_in = weight.shape[1] * prod(weight.shape[2:]) (PyTorch's (out, in, *kernel)
    layout). Draws from torch's random generator, without autograd recording it.

    Parameters
    ----------
    weight : torch.Tensor
        A weight of at least 2 dimensions, e.g. ``nn.Linear(in, out).weight``.

    Returns
    -------
    torch.Tensor
        ``weight`` itself, filled.
    """
    ### BEGIN SOLUTION
    fan_in = weight[0].numel()
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / fan_in))
    return weight
    ### END SOLUTION
''',
    ),
    tests(
        "test_he_normal_",
        2,
        """
# The course's check first: a failure names the case, expected, received and a hint.
checks_torch.check_init(he_normal_, "he", level="basic")
# A (256, 512) weight: fan_in is 512, the number of INPUTS (weight.shape[1]).
torch.manual_seed(0)
w = torch.empty(256, 512)
out = he_normal_(w)
assert out is w, "he_normal_ must fill the tensor it is given and return it"
expected = math.sqrt(2 / 512)
assert abs(w.std().item() / expected - 1) < 0.05, (
    f"std of a (256, 512) weight: expected {expected:.4f}, got {w.std().item():.4f}"
)
### BEGIN HIDDEN TESTS
checks_torch.check_init(he_normal_, "he", level="full")
### END HIDDEN TESTS
""",
    ),
    md("""
## 2. Deep MLPs (3 points)

`build_mlp(depth, width, activation, init)` stacks `depth` hidden layers of `width`
units, each an `nn.Linear` followed by its activation module, then one `nn.Linear` to
the output (no activation after it). With `init="he"` or `"xavier"` every Linear weight
(the output layer's too) is drawn with **your** function above and every bias is set to
zero; `init="default"` keeps PyTorch's own initialisation, which is neither: it is
$U(\\pm 1/\\sqrt{n_\\text{in}})$, variance $1/(3 n_\\text{in})$.

The test trains your He-initialised 20-layer ReLU net for 300 SGD steps on a fixed
task (4 classes decided by a hidden linear "teacher") and scores it on held-out
examples: it must reach 75% accuracy (chance is 25%). This test runs with the course's
own `he_normal_` and `xavier_normal_` in place of yours (`checks_torch.course_parts`):
they are graded by their own tests, so a mistake there does not cost this question too.
"""),
    solution(
        "build_mlp",
        '''
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}


def build_mlp(
    depth: int,
    width: int,
    activation: str = "relu",
    init: str = "he",
    in_features: int = 16,
    out_features: int = 4,
) -> nn.Sequential:
    """[Linear(in, width), act] + [Linear(width, width), act] * (depth - 1) + [Linear(width, out)].

    Parameters
    ----------
    depth : int
        Number of hidden layers (each a Linear followed by the activation), >= 1.
    width : int
        Units per hidden layer.
    activation : str
        A key of ``ACTIVATIONS``: "relu", "tanh", "sigmoid" or "leaky_relu".
    init : str
        "he" (your he_normal_), "xavier" (your xavier_normal_) or "default" (PyTorch's
        own). With "he" and "xavier" every bias is zero.
    in_features, out_features : int
        Sizes of the input and of the output (the logits).

    Returns
    -------
    nn.Sequential
        The 2 * depth + 1 modules in order.
    """
    ### BEGIN SOLUTION
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if init not in ("he", "xavier", "default"):
        raise ValueError(f"init must be 'he', 'xavier' or 'default', got {init!r}")
    sizes = [in_features] + [width] * depth + [out_features]
    layers = []
    for i in range(depth + 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if init != "default":
            (he_normal_ if init == "he" else xavier_normal_)(linear.weight)
            with torch.no_grad():
                linear.bias.zero_()
        layers.append(linear)
        if i < depth:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
    ### END SOLUTION
''',
    ),
    tests(
        "test_build_mlp",
        3,
        """
# This question is graded with the course's he_normal_ and xavier_normal_ in place of
# yours (their own tests grade them), so one mistake costs one question.
with checks_torch.course_parts(globals(), "build_mlp"):
    # The course's check first: a failure names the case, expected, received and a hint.
    checks_torch.check_mlp(build_mlp, level="basic")
    net = build_mlp(3, 8, "relu", "he")
    print(net)
    assert [type(m).__name__ for m in net] == ["Linear", "ReLU"] * 3 + ["Linear"], "layer order"
    assert net(torch.zeros(5, 16)).shape == (5, 4), "16 inputs, 4 logits by default"

    # The outcome: a He-initialised 20-layer ReLU net built by your build_mlp trains.
    torch.manual_seed(0)
    accuracy = checks_torch.deep_relu_accuracy(build_mlp(20, 64, "relu", "he"), steps=300)
    print(f"20-layer ReLU MLP, He init: held-out accuracy {accuracy:.3f}")
    assert accuracy >= 0.75, (
        f"held-out accuracy {accuracy:.3f} < 0.75: check that init='he' draws every Linear "
        "weight with he_normal_ and zeroes every bias"
    )
    ### BEGIN HIDDEN TESTS
    checks_torch.check_mlp(build_mlp, level="full")
    torch.manual_seed(1)
    net = build_mlp(20, 64, "relu", "he")
    accuracy = checks_torch.deep_relu_accuracy(net, steps=300, seed=1)
    assert accuracy >= 0.75, f"held-out accuracy {accuracy:.3f} < 0.75 (second seed)"
    ### END HIDDEN TESTS
""",
    ),
    md(r"""
## 3. Gradient norm per layer (3 points)

Backpropagation multiplies, layer after layer, by the weight matrix and by the
activation's derivative. The sigmoid's derivative is at most $1/4$, so through $L$
sigmoid layers the gradient can shrink by $4^{-L}$: the first layers stop learning.

Write `grad_norm_per_layer(model, x, y)`: zero the model's gradients, compute the
**mean** cross-entropy of `model(x)` against the labels `y`, backpropagate once, and
return the Frobenius norm $\lVert \partial L / \partial W_l \rVert$ of the weight of every
`nn.Linear` layer, in the order of `model.modules()` (input side first), as Python
floats. Do not change the parameters (no optimiser step).
"""),
    solution(
        "grad_norm_per_layer",
        '''
def grad_norm_per_layer(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """[||dL/dW_l||_F for every nn.Linear l of model], L = mean cross-entropy(model(x), y).

    Parameters
    ----------
    model : nn.Module
        Any network; its nn.Linear layers are listed in model.modules() order.
    x : torch.Tensor
        A batch of inputs.
    y : torch.Tensor
        The int64 class labels of the batch.

    Returns
    -------
    list of float
        One norm per nn.Linear weight, input side first, as Python floats. The
        parameters are unchanged.
    """
    ### BEGIN SOLUTION
    model.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return [
        module.weight.grad.norm().item()
        for module in model.modules()
        if isinstance(module, nn.Linear)
    ]
    ### END SOLUTION
''',
    ),
    tests(
        "test_grad_norm_per_layer",
        3,
        """
# The course's check first: a failure names the case, expected, received and a hint.
checks_torch.check_grad_norms(grad_norm_per_layer, level="basic")
# A fixed 3-layer network; the reference comes from torch.autograd.grad.
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
x, y = torch.randn(10, 4), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
weights = [net[0].weight, net[2].weight, net[4].weight]
reference = [g.norm().item() for g in torch.autograd.grad(F.cross_entropy(net(x), y), weights)]
got = grad_norm_per_layer(net, x, y)
print("expected", [round(v, 5) for v in reference], "got", got)
assert len(got) == 3, "one value per Linear layer"
assert np.allclose(got, reference, rtol=1e-4), "norms of dL/dW, input layer first"
again = grad_norm_per_layer(net, x, y)
assert np.allclose(again, reference, rtol=1e-4), "a second call must give the same norms"
### BEGIN HIDDEN TESTS
checks_torch.check_grad_norms(grad_norm_per_layer, level="full")
### END HIDDEN TESTS
""",
    ),
    md("""
## 4. Which combinations train? (not graded)

Measure the gradient norms of 20-layer nets at initialisation, then train a few. Compare
the ratio $\\lVert \\partial L/\\partial W_1 \\rVert / \\lVert \\partial L/\\partial W_{21}
\\rVert$ (first layer over last): near 1 the first layer learns as fast as the last;
far below 1 it barely moves. Then change the cells: other depths, widths, `init="default"`.
"""),
    code("""
x_probe, y_probe = checks_torch.teacher_data(256, seed=5)
for activation, init in [("sigmoid", "xavier"), ("tanh", "xavier"), ("relu", "xavier"),
                         ("relu", "he"), ("relu", "default")]:
    torch.manual_seed(0)
    norms = grad_norm_per_layer(build_mlp(20, 64, activation, init), x_probe, y_probe)
    print(f"{activation:8s} {init:8s} first/last = {norms[0] / norms[-1]:.2e}")
"""),
    code("""
import matplotlib.pyplot as plt

if not GRADING:  # a figure only for you: skipped while grading
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for activation, init in [("sigmoid", "xavier"), ("tanh", "xavier"), ("relu", "he")]:
        torch.manual_seed(0)
        norms = grad_norm_per_layer(build_mlp(20, 64, activation, init), x_probe, y_probe)
        ax.semilogy(range(1, len(norms) + 1), norms, marker="o", label=f"{activation}, {init}")
    ax.set_xlabel("layer (1 = input side)")
    ax.set_ylabel("||dL/dW|| at initialisation")
    ax.legend()
    plt.show()
"""),
    code("""
# Not graded, so skipped while grading (GRADING is set in the setup cell).
runs = [] if GRADING else [("relu", "he"), ("relu", "xavier"), ("tanh", "xavier")]
for activation, init in runs:
    torch.manual_seed(0)
    acc = checks_torch.deep_relu_accuracy(build_mlp(20, 64, activation, init), steps=300)
    print(f"{activation:5s} {init:7s} held-out accuracy after 300 steps: {acc:.3f}")
"""),
]


# ----------------------------------------------------------------------------- ps3

PS3 = [
    md("""
# Problem set 3: dying ReLU

A ReLU unit whose input is negative for every example outputs 0 everywhere, and its
gradient is 0 too: gradient descent no longer changes the weights that feed it. In the
first layer, whose inputs never change, such a unit stays dead for good. A unit deeper
in the network can come back to life: its inputs are the outputs of the layers below,
and when those layers learn, its pre-activation can turn positive again. In this
problem set you will

1. write a detector of dead units that uses forward hooks (4 points),
2. kill a network on purpose (not graded),
3. find a recipe that keeps it alive and accurate (3 points),
4. bring back units that barely fire, as ReDo does (3 points).
"""),
    code(SETUP),
    md(r"""
## 1. A dead-unit detector (4 points)

Unit $j$ of an activation layer $l$ is **dead** on a data set when its output is exactly
zero for every example: $a_{lj}(x) = 0$ for all $x$. For a conv layer a unit is a
channel (dim 1), dead when it is zero at every example and every position. A
`LeakyReLU` unit with a negative output is *not* dead: it still passes a gradient.

`dead_fraction_per_layer(model, data)` returns, for every activation layer (a module
that is an instance of `ACTIVATION_LAYERS`), keyed by its name in
`model.named_modules()`, the fraction of its units that are dead. `data` is a tensor of
inputs, or a `DataLoader` whose batches are `(x, y)`. Use forward hooks
(`module.register_forward_hook`), run in eval mode under `torch.no_grad()`, and leave the
model as you found it: hooks removed and training mode restored, even if the forward
pass fails (`try` / `finally`).
"""),
    code("""
from torch.utils.data import DataLoader, TensorDataset

ACTIVATION_LAYERS = checks_torch.ACTIVATION_LAYERS
print([cls.__name__ for cls in ACTIVATION_LAYERS])
"""),
    solution(
        "dead_fraction_per_layer",
        '''
def dead_fraction_per_layer(
    model: nn.Module, data: torch.Tensor | DataLoader
) -> dict[str, float]:
    """dead_l = (1 / n_l) * #{units j of layer l : a_lj(x) == 0 for every x in data}.

    Parameters
    ----------
    model : nn.Module
        A network; its activation layers are the modules that are instances of
        ACTIVATION_LAYERS. A unit is a feature along dim 1 of the layer's output.
    data : torch.Tensor or DataLoader
        Inputs, or a DataLoader of (x, y) batches.

    Returns
    -------
    dict of str to float
        {layer name in model.named_modules(): fraction of dead units in [0, 1]}.
        Hooks are removed and model.training is restored before returning.
    """
    ### BEGIN SOLUTION
    alive = {}

    def make_hook(name):
        def hook(module, inputs, output):
            per_unit = (output != 0).transpose(0, 1).reshape(output.shape[1], -1).any(dim=1)
            alive[name] = alive[name] | per_unit if name in alive else per_unit

        return hook

    handles = [
        module.register_forward_hook(make_hook(name))
        for name, module in model.named_modules()
        if isinstance(module, ACTIVATION_LAYERS)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            for batch in [data] if isinstance(data, torch.Tensor) else data:
                model(batch[0] if isinstance(batch, (list, tuple)) else batch)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return {name: 1.0 - mask.float().mean().item() for name, mask in alive.items()}
    ### END SOLUTION
''',
    ),
    tests(
        "test_dead_fraction_per_layer",
        4,
        """
# The course's check first: a failure names the case, expected, received and a hint.
checks_torch.check_dead_detector(dead_fraction_per_layer, level="basic")
# Three units; unit 2 has a large negative bias, so ReLU outputs 0 for every input.
net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
with torch.no_grad():
    net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
    net[0].bias.copy_(torch.tensor([0.0, 0.0, -10.0]))
x = torch.tensor([[1.0, -1.0], [-1.0, 2.0], [0.5, 0.5]])
got = dead_fraction_per_layer(net, x)
print(got)
assert set(got) == {"1"}, "key: the ReLU's name in net.named_modules(), here '1'"
assert abs(got["1"] - 1 / 3) < 1e-6, f"1 of 3 units is dead, got {got['1']}"
assert not net[1]._forward_hooks, "remove your hooks before returning"
### BEGIN HIDDEN TESTS
checks_torch.check_dead_detector(dead_fraction_per_layer, level="full")
### END HIDDEN TESTS
""",
    ),
    md("""
## 2. Killing a network (not graded)

`checks_torch.make_dying_net(activation, bias_init)` builds a 4 x 64 MLP for a 4-class
task (He weights, every hidden bias set to `bias_init`); `checks_torch.train_dying_net
(net, lr)` trains it with 300 steps of plain SGD and returns its held-out accuracy.
A negative bias pushes pre-activations below zero: the deeper layers start dead. A
large learning rate can kill more units during training. Watch both with your detector.
"""),
    code("""
x_all, _ = checks_torch.teacher_data(4000, seed=0)
runs = [("relu", 0.0, 0.05), ("relu", -1.0, 0.05), ("relu", -1.0, 0.5)]
for activation, bias_init, lr in runs[-1:] if GRADING else runs:  # shorter while grading
    net = checks_torch.make_dying_net(activation, bias_init)
    before = dead_fraction_per_layer(net, x_all)
    acc = checks_torch.train_dying_net(net, lr)
    after = dead_fraction_per_layer(net, x_all)
    print(f"{activation} bias {bias_init:+.1f} lr {lr}: accuracy {acc:.3f}")
    print("   dead before", {k: round(v, 2) for k, v in before.items()})
    print("   dead after ", {k: round(v, 2) for k, v in after.items()})
"""),
    md("""
## 3. The rescue (3 points)

Return a recipe that trains `make_dying_net` into a live, accurate network:
`{"activation": "relu" | "leaky_relu" | "prelu", "bias_init": float, "lr": float}`
(optionally `"negative_slope"` for `"leaky_relu"`). The test builds the net with your
recipe, trains it with `train_dying_net`, and asks that **no layer has more than 5% dead
units** (measured by the course's own detector on the 4,000 training inputs) **and** the
held-out accuracy is at least 0.85. The hidden test repeats this with another seed.
Try recipes in the cell above first.
"""),
    solution(
        "rescue_recipe",
        '''
def rescue_recipe() -> dict:
    """{"activation": ..., "bias_init": ..., "lr": ...}: a recipe that keeps the net alive.

    Returns
    -------
    dict
        "activation": "relu", "leaky_relu" or "prelu"; "bias_init": float (every hidden
        bias at the start); "lr": float in (0, 2] (plain SGD); optional
        "negative_slope": float (leaky_relu only).
    """
    ### BEGIN SOLUTION
    return {"activation": "prelu", "bias_init": 0.0, "lr": 0.05}
    ### END SOLUTION
''',
    ),
    tests(
        "test_rescue_recipe",
        3,
        """
recipe = rescue_recipe()
print("recipe:", recipe)
dead, accuracy = checks_torch.check_rescue(recipe, max_dead=0.05, min_accuracy=0.85)
print(f"largest dead fraction {dead:.3f}, held-out accuracy {accuracy:.3f}")
### BEGIN HIDDEN TESTS
dead, accuracy = checks_torch.check_rescue(recipe, max_dead=0.05, min_accuracy=0.85, seed=1)
### END HIDDEN TESTS
""",
    ),
    md(r"""
## 4. Resetting dormant units (3 points)

A unit need not be exactly dead to be useless: one that fires far less than its
neighbours contributes almost nothing to the next layer. Sokar et al. (2023) call unit
$j$ of a hidden layer **$\tau$-dormant** on a batch when its share of the layer's activity
is small:

$$
s_j = \frac{\frac{1}{B}\sum_{b} |h_j(x_b)|}{\frac{1}{N}\sum_{k=1}^{N} \frac{1}{B}\sum_{b}
|h_k(x_b)|} \le \tau ,
$$

where $h$ is the output of the layer's ReLU, $B$ the batch size and $N$ the number of units
in the layer. Dividing by the layer's mean makes the score independent of the layer's
scale. When every unit of a layer outputs 0 the denominator is 0: then every score is 0
and every unit is dormant. Chapter 12 shows that such units pile up when a network is
trained on one task after another, and that **ReDo** ("recycling dormant neurons")
brings them back. For every dormant unit $j$ fed by `nn.Linear` layer $k$:

* re-draw row $j$ of layer $k$'s weight and entry $j$ of its bias as a fresh `nn.Linear`
  would: uniformly in $[-1/\sqrt{n_\text{in}}, 1/\sqrt{n_\text{in}}]$ with $n_\text{in}$ =
  `in_features` (that is `kaiming_uniform_` with `a=math.sqrt(5)`);
* set its **outgoing** weights, column $j$ of the *next* `nn.Linear`'s weight, to 0, so that
  the new unit cannot change the network's output at the moment of the reset.

Write `reset_dormant_units(model, x, tau=0.1)` for a `nn.Sequential` of `Linear`,
`ReLU`, ..., `Linear` layers. Compute every score from the model as it is when the
function is called, then reset. Work **in place** under `torch.no_grad()`: keep the
same `nn.Linear` modules and the same weight and bias `Parameter`s (an optimiser built
before the reset holds those objects). Leave the output layer's rows, `x`, the model's
hooks and its training mode as they were. Return `{name of the Linear in the Sequential:
number of its units reset}` for every Linear that feeds a ReLU, zeros included: for
`Linear, ReLU, Linear, ReLU, Linear` the keys are `"0"` and `"2"`. Where a re-drawn row
meets a zeroed column (a dormant unit fed by a dormant unit), 0 and a re-drawn value are
both accepted.
"""),
    solution(
        "reset_dormant_units",
        '''
def reset_dormant_units(
    model: nn.Sequential, x: torch.Tensor, tau: float = 0.1
) -> dict[str, int]:
    """ReDo: re-initialise the tau-dormant units of every hidden ReLU layer, in place.

    s_j = mean_b |h_j(x_b)| / mean_k mean_b |h_k(x_b)| (every s_j = 0 when the layer's
    mean is 0); unit j is dormant when s_j <= tau.

    Parameters
    ----------
    model : nn.Sequential
        Linear, ReLU, Linear, ReLU, ..., Linear. Unit j of a hidden layer is output j of
        the Linear just before a ReLU.
    x : torch.Tensor
        A batch of inputs, shape (batch, in_features). Not modified.
    tau : float
        The threshold, >= 0.

    Returns
    -------
    dict of str to int
        {name of each Linear that feeds a ReLU ("0", "2", ...): units reset there}.
        Each dormant unit j of Linear k gets row j of the weight and entry j of the bias
        drawn from U(-1/sqrt(in_features), 1/sqrt(in_features)), and column j of the
        next Linear's weight set to 0; the same Linear and Parameter objects stay.
    """
    ### BEGIN SOLUTION
    linears = [(name, m) for name, m in model.named_children() if isinstance(m, nn.Linear)]
    counts = {}
    with torch.no_grad():
        mean_abs, h, last = {}, x, None
        for name, module in model.named_children():  # the scores, before any reset
            h = module(h)
            if isinstance(module, nn.Linear):
                last = name
            elif isinstance(module, nn.ReLU):
                mean_abs[last] = h.abs().mean(dim=0)
        for (name, layer), (_, next_layer) in zip(linears, linears[1:]):
            if name not in mean_abs:
                continue
            m = mean_abs[name]
            scores = m / m.mean() if m.mean() > 0 else torch.zeros_like(m)
            dormant = scores <= tau
            bound = 1 / math.sqrt(layer.in_features)
            fresh_weight = torch.empty_like(layer.weight).uniform_(-bound, bound)
            fresh_bias = torch.empty_like(layer.bias).uniform_(-bound, bound)
            layer.weight[dormant] = fresh_weight[dormant]
            layer.bias[dormant] = fresh_bias[dormant]
            next_layer.weight[:, dormant] = 0.0
            counts[name] = int(dormant.sum())
    return counts
    ### END SOLUTION
''',
    ),
    tests(
        "test_reset_dormant_units",
        3,
        """
checks_torch.check_reset_dormant_units(reset_dormant_units, level="basic")
# Three hidden units; unit 1 has bias -10, so it outputs 0 on both examples: score 0.
net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
with torch.no_grad():
    net[0].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]))
    net[0].bias.copy_(torch.tensor([0.0, -10.0, 0.0]))
x = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
weight, before = net[0].weight, net(x).detach()
got = reset_dormant_units(net, x)
print(got)
assert got == {"0": 1}, f"Linear '0' has one dormant unit (unit 1), got {got}"
assert net[0].weight is weight, "reset in place: keep the same weight Parameter"
assert torch.all(net[2].weight[:, 1] == 0), "unit 1's outgoing weights must be 0"
assert torch.all(net[0].weight[1].abs() <= 1 / math.sqrt(2)), "draw from U(+-1/sqrt(fan_in))"
assert torch.equal(net(x), before), "resetting a dead unit must not change the output"
### BEGIN HIDDEN TESTS
checks_torch.check_reset_dormant_units(reset_dormant_units, level="full")
### END HIDDEN TESTS
""",
    ),
]


# ----------------------------------------------------------------------------- ps4

PS4 = [
    md("""
# Problem set 4: your own autograd, a learnable PReLU, and training on a GPU

1. a Leaky ReLU as a `torch.autograd.Function` with a hand-written backward (4 points),
2. a learnable PReLU module (3 points),
3. a digit classifier trained on the GPU when there is one, else on the CPU (3 points).

In Colab choose *Runtime > Change runtime type > GPU* first; the setup cell prints the
device it found. Everything also runs on a laptop CPU within a minute.
"""),
    code(SETUP),
    md(r"""
## 1. Leaky ReLU with a hand-written backward (4 points)

$$f(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases} \qquad
\frac{\partial L}{\partial x} = \frac{\partial L}{\partial f}\cdot
\begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}$$

At the kink $x = 0$ PyTorch takes the negative side's slope, $a$; so do we.
`forward(ctx, x, negative_slope=0.01)` saves what backward needs (`ctx.save_for_backward`
for tensors, an attribute of `ctx` for the number). `backward(ctx, grad_output)` returns
one gradient per input of forward: the one for `x`, and `None` for `negative_slope`.
Call it as `LeakyReLUFunction.apply(x, 0.1)`. The test runs
`torch.autograd.gradcheck`, which compares your backward with finite differences
(in float64, away from the kink).
"""),
    solution(
        "LeakyReLUFunction",
        '''
class LeakyReLUFunction(torch.autograd.Function):
    """f(x) = x if x > 0 else negative_slope * x, with df/dx = 1 if x > 0 else negative_slope."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, negative_slope: float = 0.01) -> torch.Tensor:
        """Return a new tensor f(x); save x and negative_slope on ctx for backward."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, x * negative_slope)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Return (grad_output * df/dx, None): no gradient for negative_slope."""
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        local = torch.where(x > 0, torch.ones_like(x), torch.full_like(x, ctx.negative_slope))
        return grad_output * local, None
        ### END SOLUTION
''',
    ),
    tests(
        "test_LeakyReLUFunction",
        4,
        """
# The course's check first: a failure names the case, expected, received and a hint.
checks_torch.check_autograd_function(LeakyReLUFunction, level="basic")
x = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64, requires_grad=True)
y = LeakyReLUFunction.apply(x, 0.1)
assert torch.allclose(y, torch.tensor([-0.2, 0.0, 3.0], dtype=torch.float64)), f"f(x) = {y}"
y.backward(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
print("dL/dx:", x.grad)
assert torch.allclose(x.grad, torch.tensor([0.1, 0.2, 3.0], dtype=torch.float64)), (
    "dL/dx = grad_output * (1 if x > 0 else 0.1); at x = 0 the slope 0.1"
)
points = torch.tensor([[-1.5, -0.3, 0.4], [2.0, -0.7, 1.1]], dtype=torch.float64,
                      requires_grad=True)
assert torch.autograd.gradcheck(lambda t: LeakyReLUFunction.apply(t, 0.2), (points,)), (
    "gradcheck failed"
)
### BEGIN HIDDEN TESTS
checks_torch.check_autograd_function(LeakyReLUFunction, level="full")
### END HIDDEN TESTS
""",
    ),
    md(r"""
## 2. A learnable PReLU (3 points)

PReLU is a Leaky ReLU whose negative slope is **learned**: $f(x) = \max(0, x) + a\,
\min(0, x)$. `PReLU(num_parameters=1, init=0.25)` registers `self.weight`, an
`nn.Parameter` of shape `(num_parameters,)` filled with `init`. With one parameter every
element shares the slope; with `num_parameters = C` channel `c` (dim 1 of the input,
as in `nn.PReLU`) uses `weight[c]`, so a `(N, C, H, W)` input needs the weight reshaped
to `(1, C, 1, 1)`. Use differentiable torch operations, so that the gradient reaches the
slope. `F.prelu` (and `nn.PReLU`, which calls it) is off limits here: the tests check
this rule, and a `PReLU` that calls it scores 0 on this question.
"""),
    solution(
        "PReLU",
        '''
class PReLU(nn.Module):
    """f(x) = max(0, x) + weight[c] * min(0, x), one slope shared or one per channel (dim 1)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25) -> None:
        """Register self.weight: an nn.Parameter of shape (num_parameters,) filled with init."""
        super().__init__()
        ### BEGIN SOLUTION
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))
        ### END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply PReLU elementwise; with num_parameters > 1 the channels are dim 1 of x."""
        ### BEGIN SOLUTION
        slope = self.weight
        if self.num_parameters > 1:
            slope = slope.reshape(1, -1, *([1] * (x.dim() - 2)))
        return torch.clamp(x, min=0) + slope * torch.clamp(x, max=0)
        ### END SOLUTION
''',
    ),
    tests(
        "test_PReLU",
        3,
        """
# The course's check first: a failure names the case, expected, received and a hint.
checks_torch.check_prelu_module(PReLU, level="basic")
act = PReLU()
assert isinstance(act.weight, nn.Parameter), "self.weight must be an nn.Parameter"
assert [name for name, _ in act.named_parameters()] == ["weight"], "one parameter: weight"
x = torch.tensor([[-2.0, 0.0, 3.0]], requires_grad=True)
y = act(x)
assert torch.allclose(y, torch.tensor([[-0.5, 0.0, 3.0]])), f"PReLU()(x) = {y.detach()}"
y.sum().backward()
assert act.weight.grad is not None, "no gradient reached weight"
assert torch.allclose(act.weight.grad, torch.tensor([-2.0])), f"dL/dweight = {act.weight.grad}"
per_channel = PReLU(3)
assert per_channel.weight.shape == (3,), "one slope per channel"
### BEGIN HIDDEN TESTS
checks_torch.check_prelu_module(PReLU, level="full")
### END HIDDEN TESTS
""",
    ),
    md("""
## 3. Digits on the GPU (3 points)

Train a classifier of scikit-learn's 8 x 8 handwritten digits (1,347 training images,
64 standardised pixels each, 10 classes). `train_digits_model(X_train, y_train, device)`
gets the training part only, trains on `device` (the GPU when there is one), and returns
the trained model on that device. The test loads the held-out images itself
(`relu_course.data.load_digits()`) and asks for **95% accuracy**. **Time budget: one
call of `train_digits_model` must take less than 55 s** (the test trains once and
measures it; grading stops any test cell after 60 s, and the rest of the cell takes
about a second). The reference trains in a few seconds on a CPU. Move both the model
(`model.to(device)`) and each batch (`x.to(device)`) to the device. You may use your
`PReLU` or `LeakyReLUFunction`: this test swaps in torch's `nn.PReLU` and the course's
Leaky ReLU for them (`checks_torch.course_parts`), so a mistake there costs only its
own question.
"""),
    solution(
        "train_digits_model",
        '''
def train_digits_model(
    X_train: torch.Tensor, y_train: torch.Tensor, device: torch.device
) -> nn.Module:
    """Train f: R^64 -> R^10 (logits) by minimising mean cross-entropy on (X_train, y_train).

    Parameters
    ----------
    X_train : torch.Tensor
        float32, shape (N, 64): standardised pixels.
    y_train : torch.Tensor
        int64, shape (N,): digits 0-9.
    device : torch.device
        Where to train; the returned model lives there.

    Returns
    -------
    nn.Module
        The trained model (any architecture) mapping (B, 64) to (B, 10) logits.
    """
    ### BEGIN SOLUTION
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.PReLU(128), nn.Linear(128, 10)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    X, y = X_train.to(device), y_train.to(device)
    for _ in range(20):
        order = torch.randperm(len(X), device=device)
        for start in range(0, len(X), 64):
            batch = order[start : start + 64]
            loss = F.cross_entropy(model(X[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model.eval()
    ### END SOLUTION
''',
    ),
    tests(
        "test_train_digits_model",
        3,
        """
from relu_course.data import load_digits

# Your PReLU and LeakyReLUFunction are graded by their own tests: here they are the
# course's (torch's nn.PReLU), so one mistake costs one question.
with checks_torch.course_parts(globals(), "train_digits_model"):
    digits = load_digits()  # the held-out split is picked here, not by your code
    start = time.perf_counter()
    model = train_digits_model(digits.X_train, digits.y_train, device)
    seconds = time.perf_counter() - start
    accuracy = checks_torch.digits_test_accuracy(model, device)
print(f"held-out accuracy {accuracy:.3f} after {seconds:.1f} s of training on {device}")
assert seconds < 55, f"training took {seconds:.0f} s; the budget is 55 s"
assert accuracy >= 0.95, f"held-out accuracy {accuracy:.3f} < 0.95"
assert next(model.parameters()).device.type == device.type, "return the model on `device`"
### BEGIN HIDDEN TESTS
# No second training run: the budget stated above is the whole cost of this cell.
model.eval()
with torch.no_grad():
    one = model(digits.X_test[:1].to(device))
assert tuple(one.shape) == (1, 10), f"a batch of one digit gave logits of shape {one.shape}"
### END HIDDEN TESTS
""",
    ),
]

ASSIGNMENTS = {
    "ps2_vanishing_gradients": PS2,
    "ps3_dying_relu": PS3,
    "ps4_gpu_training": PS4,
}


def main(argv: list[str]) -> int:
    wanted = argv or list(ASSIGNMENTS)
    for assignment_id in wanted:
        path = ROOT / "solutions" / assignment_id / f"{assignment_id}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nb = notebook(ASSIGNMENTS[assignment_id])
        nbformat.validate(nb)
        nbformat.write(nb, path)
        print(f"wrote {path.relative_to(ROOT)} ({len(nb.cells)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
