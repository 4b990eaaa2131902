"""Interactive figures for the static site: real runs precomputed, then Bokeh widgets.

Each figure has two halves. A ``*_data`` function does the real work (evaluates the
package's activations, runs forward and backward passes, trains networks) over a small
grid of settings and returns plain NumPy arrays. A builder turns that data into a Bokeh
layout whose widgets (a menu, a slider) swap which precomputed arrays are drawn, with a
few lines of JavaScript and no kernel: the page works offline, from a static file.

:func:`show` wraps a layout for a notebook cell. In the book build (the Sphinx extension
``_ext/bokeh_static.py`` sets :data:`BOOK_ENV`) the page loads BokehJS from the site's
own ``_static`` folder; in Jupyter or Colab the same cell embeds BokehJS inline. Without
Bokeh installed the cell says how to get it; the static figure next to it shows the same
data.

Grids (the numbers of real runs) are arguments, so a chapter can choose what fits its
time budget.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from relu_course import activations as act
from relu_course.plotting import PALETTE

__all__ = [
    "BOOK_ENV",
    "EXPLORER_PARAMS",
    "FigureData",
    "activation_explorer",
    "activation_explorer_data",
    "depth_signal",
    "depth_signal_data",
    "dying_lr",
    "dying_lr_data",
    "linear_regions",
    "linear_regions_data",
    "missing_bokeh_note",
    "show",
    "sizes",
]

BOOK_ENV = "RELU_COURSE_BOOK_BUILD"
"""Set (to ``1``) by the book build: :func:`show` then leaves BokehJS to the page."""

EXPLORER_PARAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "leaky_relu": ("negative_slope", (-0.5, -0.2, 0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)),
    "prelu": ("weight", (-0.5, 0.0, 0.1, 0.25, 0.5, 1.0, 1.5)),
    "elu": ("alpha", (0.25, 0.5, 1.0, 1.5, 2.0)),
    "celu": ("alpha", (0.25, 0.5, 1.0, 1.5, 2.0)),
    "softplus": ("beta", (0.5, 1.0, 2.0, 5.0, 10.0)),
}
"""The parameter each explorer activation exposes, and the values precomputed for it."""


@dataclass
class FigureData:
    """Precomputed arrays of one interactive figure, keyed by the widgets' settings.

    Attributes
    ----------
    table : dict
        ``key -> {column name -> 1-D or 2-D array}``; a key is the settings joined by ``|``.
    meta : dict
        The settings each widget offers, and any numbers the prose quotes.
    """

    table: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def nbytes(self) -> int:
        """Bytes of all arrays (what the page carries, before base64)."""
        return sum(a.nbytes for cols in self.table.values() for a in cols.values())


# ---------------------------------------------------------------------------- widgets


def _formatter_js(code: str, **args: Any) -> Any:
    from bokeh.models import CustomJSTickFormatter

    return CustomJSTickFormatter(args=args, code=code)


def _wire(code: str, watch: Mapping[str, Any], **args: Any) -> None:
    """Run the JavaScript ``code`` in the page whenever a widget in ``watch`` changes value.

    The widgets in ``watch`` and the ``args`` are the script's variables, under their keys.
    """
    from bokeh.models import CustomJS

    js = CustomJS(args={**watch, **args}, code=code)
    for widget in watch.values():
        widget.js_on_change("value", js)


def _panel(title: str, x_label: str, y_label: str, **options: Any) -> Any:
    """A 330 x 300 plot without a toolbar, the panel size of every figure here."""
    from bokeh.plotting import figure

    options = {"height": 300, "width": 330, "toolbar_location": None, **options}
    return figure(title=title, x_axis_label=x_label, y_axis_label=y_label, **options)


def _index_slider(title: str, values: Sequence[Any], name: str) -> Any:
    """A slider over positions ``0 .. len(values) - 1`` that shows the value itself."""
    from bokeh.models import Slider

    return Slider(
        width=300,
        start=0,
        end=max(1, len(values) - 1),
        step=1,
        value=0,
        title=title,
        name=name,
        disabled=len(values) < 2,
        format=_formatter_js("return String(values[tick]);", values=list(values)),
    )


# --------------------------------------------------------------------------- 1. explorer


def _with_breaks(x: np.ndarray, y: np.ndarray, kinks: Sequence[float]) -> tuple[np.ndarray, ...]:
    """Insert a NaN at each kink, so a line plot of a jumping derivative breaks there."""
    xs, ys = list(x), list(y)
    for k in kinks:
        i = int(np.searchsorted(np.asarray(xs), k))
        xs.insert(i, k)
        ys.insert(i, np.nan)
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)


_EXPLORER_NAMES = ("relu", "leaky_relu", "prelu", "relu6", "elu", "celu", "selu",
                   "gelu", "gelu_tanh", "silu", "mish", "softplus", "sigmoid", "tanh",
                   "hardswish")  # fmt: skip


def activation_explorer_data(
    names: Sequence[str] = _EXPLORER_NAMES,
    x_range: tuple[float, float] = (-4.0, 7.0),
    points: int = 221,
) -> FigureData:
    """``f`` and ``f'`` of each activation from :mod:`relu_course.activations`, per setting.

    The sample points avoid the kinks; at each kink ``k`` (where the one-sided derivatives
    differ by more than 1e-6) the data holds the value the package returns at ``k``
    (PyTorch's convention) and the other one-sided limit, for markers.

    Examples
    --------
    >>> d = activation_explorer_data(["relu", "leaky_relu"], points=11)
    >>> d.table["relu|0"]["kink_x"], d.table["relu|0"]["kink_g"], d.table["relu|0"]["limit_g"]
    (array([0.], dtype=float32), array([0.], dtype=float32), array([1.], dtype=float32))
    >>> d.meta["params"]["leaky_relu"][0], len(d.meta["params"]["leaky_relu"][1])
    ('negative_slope', 10)
    """
    lo, hi = x_range
    step = (hi - lo) / (points - 1)
    x = np.linspace(lo, hi, points) + step / 3  # never exactly on a kink
    candidates = np.array([-3.0, 0.0, 3.0, 6.0])
    data = FigureData(meta={"names": list(names), "params": {}})
    for name in names:
        entry = act.get(name)
        pname, values = EXPLORER_PARAMS.get(name, ("", (0.0,)))
        data.meta["params"][name] = (pname, list(values))
        for i, value in enumerate(values):
            params = dict(entry.params)
            if pname:
                params[pname] = value
            f = entry.fn(x, **params)
            g = entry.grad(x, **params)
            at = entry.grad(candidates, **params)
            left = entry.grad(candidates - 1e-7, **params)
            right = entry.grad(candidates + 1e-7, **params)
            jump = np.abs(left - right) > 1e-6
            kinks = candidates[jump]
            other = np.where(np.isclose(at[jump], left[jump]), right[jump], left[jump])
            gx, gy = _with_breaks(x, g, kinks)
            data.table[f"{name}|{i}"] = {
                "x": x.astype(np.float32),
                "f": f.astype(np.float32),
                "gx": gx,
                "g": gy,
                "kink_x": kinks.astype(np.float32),
                "kink_f": entry.fn(kinks, **params).astype(np.float32),
                "kink_g": at[jump].astype(np.float32),
                "limit_g": other.astype(np.float32),
            }
    return data


_EXPLORER_JS = """
const name = menu.value;
const [pname, values] = params[name];
slider.end = Math.max(1, values.length - 1);
slider.disabled = values.length < 2;
const i = Math.min(slider.value, values.length - 1);
const d = table[name + "|" + i];
curve.data = {x: d.x, f: d.f};
deriv.data = {x: d.gx, g: d.g};
kinks.data = {x: d.kink_x, f: d.kink_f, g: d.kink_g, limit: d.limit_g};
label.text = pname ? `<b>${pname}</b> = ${values[i]}` : "<i>no parameter</i>";
"""


def activation_explorer(data: FigureData) -> Any:
    """Menu of activations, slider over the chosen one's parameter, ``f`` and ``f'`` side by side.

    Filled dots mark the derivative the package (and PyTorch) returns at a kink, open
    circles the other one-sided limit.
    """
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, Div, Select

    names = data.meta["names"]
    first = data.table[f"{names[0]}|0"]
    curve = ColumnDataSource({"x": first["x"], "f": first["f"]}, name="explorer-curve")
    deriv = ColumnDataSource({"x": first["gx"], "g": first["g"]}, name="explorer-deriv")
    kinks = ColumnDataSource(
        {
            "x": first["kink_x"],
            "f": first["kink_f"],
            "g": first["kink_g"],
            "limit": first["limit_g"],
        },
        name="explorer-kinks",
    )
    p_f = _panel("f(x)", "x", "f(x)")
    p_f.line("x", "f", source=curve, line_width=2, color=PALETTE[0])
    p_f.scatter("x", "f", source=kinks, size=7, color=PALETTE[3])
    p_g = _panel("f'(x); filled dot = value at the kink", "x", "f'(x)", x_range=p_f.x_range)
    p_g.line("x", "g", source=deriv, line_width=2, color=PALETTE[1])
    p_g.scatter("x", "g", source=kinks, size=8, color=PALETTE[3], legend_label="value used")
    p_g.scatter(
        "x",
        "limit",
        source=kinks,
        size=8,
        fill_color="white",
        line_color=PALETTE[3],
        legend_label="other side",
    )
    p_g.legend.location = "bottom_right"
    menu = Select(title="activation", value=names[0], options=names, name="explorer-menu")
    slider = _index_slider("parameter", [None], "explorer-slider")  # the menu sets its range
    slider.format = _formatter_js(
        "const v = params[menu.value][1]; return String(v[Math.min(tick, v.length - 1)]);",
        params=data.meta["params"],
        menu=menu,
    )
    label = Div(text="<i>no parameter</i>", name="explorer-label")
    _wire(
        _EXPLORER_JS,
        {"menu": menu, "slider": slider},
        table=data.table,
        params=data.meta["params"],
        label=label,
        curve=curve,
        deriv=deriv,
        kinks=kinks,
    )
    return column(row(menu, slider, label, spacing=24), row(p_f, p_g))


# ----------------------------------------------------------------------- 2. depth signal


def _init_scale(name: str, fan_in: int, fan_out: int, gain: float) -> tuple[str, float]:
    if name == "he":
        return "normal", float(np.sqrt(2.0 / fan_in))
    if name == "xavier":
        return "normal", float(np.sqrt(2.0 / (fan_in + fan_out)))
    if name == "default":
        return "uniform", float(1.0 / np.sqrt(fan_in))
    return "normal", float(gain / np.sqrt(fan_in))


def _one_depth_run(
    activation: str, init: str, gain: float, depth: int, width: int, batch: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer ``E[h^2]`` and ``||dL/dW||`` of one freshly initialised deep MLP."""
    from relu_course.torch_activations import get_activation

    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, width, generator=gen)
    labels = torch.randint(0, 10, (batch,), generator=gen)
    weights = []
    for _ in range(depth):
        kind, scale = _init_scale(init, width, width, gain)
        if kind == "normal":
            w = torch.randn(width, width, generator=gen) * scale
        else:
            w = (torch.rand(width, width, generator=gen) * 2 - 1) * scale
        weights.append(w.requires_grad_(True))
    head = torch.randn(10, width, generator=gen) / np.sqrt(width)
    phi = get_activation(activation, builtin=True)
    h, second = x, []
    for w in weights:
        h = phi(h @ w.T)
        second.append(float(h.detach().pow(2).mean()))
    loss = nn.functional.cross_entropy(h @ head.T, labels)
    loss.backward()
    grads = [float(w.grad.norm()) if w.grad is not None else 0.0 for w in weights]
    return np.asarray(second, np.float32), np.asarray(grads, np.float32)


def depth_signal_data(
    activations: Sequence[str] = ("relu", "leaky_relu", "tanh", "sigmoid", "selu", "gelu"),
    inits: Sequence[str] = ("he", "xavier", "default", "gain"),
    gains: Sequence[float] = (0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5),
    depths: Sequence[int] = (5, 10, 20, 30),
    width: int = 128,
    batch: int = 256,
    seed: int = 0,
) -> FigureData:
    """Real forward and backward passes through deep MLPs over a grid of settings.

    For each (activation, initialisation, depth; and gain for ``init="gain"``, where
    ``W ~ N(0, gain^2 / n)``) one network of ``depth`` square layers of ``width`` units
    runs a batch of ``N(0, 1)`` inputs forward, and the cross-entropy against random
    labels (through a fixed linear head) runs backward. Recorded per layer: the mean
    square activation ``E[h^2]`` and the norm of the weight gradient.

    Examples
    --------
    >>> d = depth_signal_data(["relu"], ["he"], depths=[3], width=16, batch=32)
    >>> sorted(d.table["relu|he|3"]), d.table["relu|he|3"]["layer"].tolist()
    (['grad', 'layer', 'signal'], [1.0, 2.0, 3.0])
    """
    data = FigureData(
        meta={
            "activations": list(activations),
            "inits": list(inits),
            "gains": list(gains),
            "depths": list(depths),
        }
    )
    for a in activations:
        for init in inits:
            for gi, gain in enumerate(gains if init == "gain" else (1.0,)):
                for depth in depths:
                    signal, grad = _one_depth_run(a, init, gain, depth, width, batch, seed)
                    key = f"{a}|{init}{gi if init == 'gain' else ''}|{depth}"
                    data.table[key] = {
                        "layer": np.arange(1, depth + 1, dtype=np.float32),
                        "signal": signal,
                        "grad": grad,
                    }
    return data


_DEPTH_JS = """
const init = inits.value === "gain" ? "gain" + gain.value : inits.value;
gain.disabled = inits.value !== "gain";
const d = table[menu.value + "|" + init + "|" + depth.value];
source.data = {layer: d.layer, signal: d.signal, grad: d.grad};
label.text = inits.value === "gain" ? `W ~ N(0, ${gains[gain.value]}² / n)` : "";
"""


def depth_signal(data: FigureData) -> Any:
    """Controls for activation, initialisation, gain, depth; per-layer ``E[h^2]`` and gradient."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, Div, Select

    m = data.meta
    depths = m["depths"]
    first = data.table[f"{m['activations'][0]}|{m['inits'][0]}|{depths[-1]}"]
    source = ColumnDataSource(dict(first), name="depth-source")
    plots = []
    for col, title, colour in (
        ("signal", "mean square activation E[h²]", PALETTE[0]),
        ("grad", "weight-gradient norm ||∂L/∂W||", PALETTE[3]),
    ):
        p = _panel(title, "layer", col, y_axis_type="log")
        p.line("layer", col, source=source, line_width=2, color=colour)
        p.scatter("layer", col, source=source, size=4, color=colour)
        plots.append(p)
    menu = Select(
        title="activation", value=m["activations"][0], options=m["activations"], name="depth-menu"
    )
    labels = {"he": "He", "xavier": "Xavier", "default": "PyTorch default", "gain": "free gain"}
    inits = Select(
        title="initialisation",
        value=m["inits"][0],
        options=[(i, labels.get(i, i)) for i in m["inits"]],
        name="depth-init",
    )
    gain = _index_slider("gain (free-gain initialisation)", m["gains"], "depth-gain")
    gain.disabled = True
    depth = Select(
        title="depth", value=str(depths[-1]), options=[str(d) for d in depths], name="depth-depth"
    )
    label = Div(text="", name="depth-label")
    _wire(
        _DEPTH_JS,
        {"menu": menu, "inits": inits, "gain": gain, "depth": depth},
        table=data.table,
        gains=m["gains"],
        source=source,
        label=label,
    )
    return column(row(menu, inits, depth, spacing=24), row(gain, label, spacing=24), row(*plots))


# --------------------------------------------------------------------- 3. dying under lr


def dying_lr_data(
    lrs: Sequence[float] = (1e-3, 3e-3, 1e-2, 3e-2, 0.1),
    biases: Sequence[float] = (0.0, -1.0, -3.0),
    hidden: Sequence[int] = (64, 64, 64, 64),
    epochs: int = 2,
    seed: int = 0,
) -> FigureData:
    """Train one ReLU MLP on the digits per (learning rate, initial bias), with Adam.

    Recorded per run: the dead fraction of each hidden layer over the training images
    (:func:`relu_course.diagnostics.dead_unit_fraction`) and the test accuracy.

    Examples
    --------
    >>> d = dying_lr_data(lrs=[1e-3], biases=[0.0], hidden=[8], epochs=1)
    >>> sorted(d.table["0|0"]), 0.0 <= float(d.table["0|0"]["acc"][0]) <= 1.0
    (['acc', 'dead', 'layer'], True)
    """
    from relu_course.data import digits_loaders, load_digits
    from relu_course.diagnostics import dead_unit_fraction
    from relu_course.training import evaluate, make_mlp, seed_everything, train

    digits = load_digits()
    data = FigureData(
        meta={"lrs": list(lrs), "biases": list(biases), "epochs": epochs, "hidden": list(hidden)}
    )
    for bi, bias in enumerate(biases):
        for li, lr in enumerate(lrs):
            seed_everything(seed)
            train_loader, test_loader = digits_loaders(batch_size=64, seed=seed)
            model = make_mlp(64, list(hidden), 10, init="he", bias=bias)
            train(model, train_loader, epochs=epochs, lr=lr, device="cpu", progress=False)
            acc = evaluate(model, test_loader, device="cpu")[1]
            dead = dead_unit_fraction(model, digits.X_train, device="cpu")
            data.table[f"{bi}|{li}"] = {
                "layer": np.arange(1, len(dead) + 1, dtype=np.float32),
                "dead": np.asarray(list(dead.values()), np.float32),
                "acc": np.asarray([acc], np.float32),
            }
    return data


_DYING_JS = """
const d = table[bias.value + "|" + lr.value];
bars.data = {layer: d.layer, dead: d.dead};
const accs = [];
for (let i = 0; i < lrs.length; i++) accs.push(table[bias.value + "|" + i].acc[0]);
curve.data = {lr: lrs, acc: accs};
marker.data = {lr: [lrs[lr.value]], acc: [d.acc[0]]};
label.text = `<b>learning rate</b> ${lrs[lr.value]}, <b>initial bias</b> ${biases[bias.value]}:`
  + ` test accuracy ${(100 * d.acc[0]).toFixed(1)} %,`
  + ` dead units ${(100 * d.dead.reduce((a, b) => a + b, 0) / d.dead.length).toFixed(0)} %`;
"""


def dying_lr(data: FigureData) -> Any:
    """Sliders over learning rate and initial bias; dead fraction per layer and accuracy."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, Div, Range1d

    m = data.meta
    first = data.table["0|0"]
    bars = ColumnDataSource({"layer": first["layer"], "dead": first["dead"]}, name="dying-bars")
    accs = [float(data.table[f"0|{i}"]["acc"][0]) for i in range(len(m["lrs"]))]
    curve = ColumnDataSource({"lr": list(m["lrs"]), "acc": accs}, name="dying-curve")
    marker = ColumnDataSource({"lr": [m["lrs"][0]], "acc": [accs[0]]}, name="dying-marker")
    p_dead = _panel(
        "dead units per hidden layer", "hidden layer", "fraction dead", y_range=Range1d(0, 1.02)
    )
    p_dead.vbar(x="layer", top="dead", width=0.7, source=bars, color=PALETTE[3])
    p_acc = _panel(
        "test accuracy against learning rate",
        "learning rate (Adam)",
        "test accuracy",
        x_axis_type="log",
        y_range=Range1d(0, 1.02),
    )
    p_acc.line("lr", "acc", source=curve, line_width=2, color=PALETTE[0])
    p_acc.scatter("lr", "acc", source=curve, size=5, color=PALETTE[0])
    p_acc.scatter("lr", "acc", source=marker, size=12, color=PALETTE[3])
    lr = _index_slider("learning rate", m["lrs"], "dying-lr")
    bias = _index_slider("initial bias of every hidden unit", m["biases"], "dying-bias")
    label = Div(text="", name="dying-label")
    _wire(
        _DYING_JS,
        {"lr": lr, "bias": bias},
        table=data.table,
        lrs=m["lrs"],
        biases=m["biases"],
        bars=bars,
        curve=curve,
        marker=marker,
        label=label,
    )
    label.text = (
        f"<b>learning rate</b> {m['lrs'][0]}, <b>initial bias</b> {m['biases'][0]}:"
        f" test accuracy {100 * accs[0]:.1f} %"
    )
    return column(row(lr, bias, spacing=24), label, row(p_dead, p_acc))


# ------------------------------------------------------------------- 4. linear regions


def _random_relu_net(width: int, depth: int, seed: int) -> nn.Sequential:
    gen = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    fan_in = 2
    for _ in range(depth):
        lin = nn.Linear(fan_in, width)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, fan_in, generator=gen) * np.sqrt(2 / fan_in))
            lin.bias.copy_(torch.randn(width, generator=gen) * 0.1)
        layers += [lin, nn.ReLU()]
        fan_in = width
    return nn.Sequential(*layers)


def _region_ids(net: nn.Sequential, points: torch.Tensor) -> np.ndarray:
    bits, h = [], points
    with torch.no_grad():
        for layer in net:
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                bits.append((h > 0).numpy())
    _, ids = np.unique(np.concatenate(bits, axis=1), axis=0, return_inverse=True)
    return ids.reshape(-1)


def linear_regions_data(
    widths: Sequence[int] = (4, 8, 16, 32),
    depths: Sequence[int] = (1, 2, 3, 4),
    resolution: int = 128,
    extent: float = 3.0,
    seed: int = 1,
) -> FigureData:
    """Activation-pattern maps of random ReLU networks (He weights) on ``[-extent, extent]^2``.

    Each grid point gets the id of its on/off pattern; ``count`` is the number of distinct
    patterns that cover at least one of the ``resolution^2`` points (a lower bound on the
    regions in the square). Colours in the figure are ids modulo 20, shuffled.

    Examples
    --------
    >>> d = linear_regions_data([2], [1], resolution=64)
    >>> d.table["2|1"]["image"].shape, int(d.table["2|1"]["count"][0]) <= 4
    ((64, 64), True)
    """
    t = np.linspace(-extent, extent, resolution, dtype=np.float32)
    g0, g1 = np.meshgrid(t, t)
    grid = torch.from_numpy(np.c_[g0.ravel(), g1.ravel()])
    shuffle = np.random.default_rng(0).permutation(20).astype(np.uint8)
    data = FigureData(
        meta={
            "widths": list(widths),
            "depths": list(depths),
            "extent": extent,
            "resolution": resolution,
        }
    )
    for w in widths:
        for d in depths:
            ids = _region_ids(_random_relu_net(w, d, seed), grid)
            data.table[f"{w}|{d}"] = {
                "image": shuffle[ids % 20].reshape(resolution, resolution),
                "count": np.asarray([ids.max() + 1], np.int32),
            }
    return data


_REGIONS_JS = """
const w = widths[width.value], d = depths[depth.value];
const e = table[w + "|" + d];
source.data = {image: [e.image], x: [-extent], y: [-extent], dw: [2 * extent], dh: [2 * extent]};
label.text = `<b>${d}</b> hidden layer${d > 1 ? "s" : ""} of <b>${w}</b> units`
  + ` (${w * d} units): <b>${e.count[0]}</b> linear regions in the square`;
"""


def linear_regions(data: FigureData) -> Any:
    """Width and depth sliders; the plane coloured by activation pattern, and the count."""
    from bokeh.layouts import column, row
    from bokeh.models import ColumnDataSource, Div, LinearColorMapper
    from bokeh.palettes import Category20

    m = data.meta
    e = float(m["extent"])
    first = data.table[f"{m['widths'][0]}|{m['depths'][0]}"]
    source = ColumnDataSource(
        {"image": [first["image"]], "x": [-e], "y": [-e], "dw": [2 * e], "dh": [2 * e]},
        name="regions-source",
    )
    p = _panel(
        "linear regions of a random ReLU network",
        "x₁",
        "x₂",
        height=380,
        width=400,
        x_range=(-e, e),
        y_range=(-e, e),
        match_aspect=True,
    )
    mapper = LinearColorMapper(palette=Category20[20], low=0, high=19)
    p.image(image="image", x="x", y="y", dw="dw", dh="dh", source=source, color_mapper=mapper)
    width = _index_slider("units per layer", m["widths"], "regions-width")
    depth = _index_slider("hidden layers", m["depths"], "regions-depth")
    w0, d0 = m["widths"][0], m["depths"][0]
    label = Div(
        text=f"<b>{d0}</b> hidden layer of <b>{w0}</b> units: "
        f"<b>{int(first['count'][0])}</b> linear regions in the square",
        name="regions-label",
    )
    _wire(
        _REGIONS_JS,
        {"width": width, "depth": depth},
        table=data.table,
        widths=m["widths"],
        depths=m["depths"],
        extent=e,
        source=source,
        label=label,
    )
    return column(row(width, depth, spacing=24), label, p)


# ---------------------------------------------------------------------------- display


class _Html:
    """A notebook output with an HTML representation (IPython displays ``_repr_html_``)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return "<interactive figure: open this notebook in Jupyter or the book to use it>"


def show(build: Callable[[FigureData], Any], data: FigureData, caption: str, *, name: str) -> Any:
    """The figure ``build(data)`` in a labelled block, as a notebook cell's output.

    ``caption`` says in words what the figure shows (screen readers read it; it is also
    printed under the figure); ``name`` becomes the block's ``id``. In the book build
    BokehJS comes from the page (see :data:`BOOK_ENV`); elsewhere it is embedded inline.
    Without Bokeh installed, a short Markdown note says how to get it.
    """
    try:
        from bokeh.embed import components
    except ImportError:
        from IPython.display import Markdown

        return Markdown(missing_bokeh_note())
    script, div = components(build(data))
    head = ""
    if not os.environ.get(BOOK_ENV):
        from bokeh.resources import INLINE

        head = INLINE.render_js()
    cap_id = f"{name}-caption"
    return _Html(
        f'{head}<div class="relu-interactive" id="{html.escape(name)}" role="figure" '
        f'aria-labelledby="{cap_id}">{div}{script}'
        f'<p class="relu-interactive-caption" id="{cap_id}">{html.escape(caption)}</p></div>'
    )


def missing_bokeh_note() -> str:
    """What a notebook without Bokeh shows instead of an interactive figure."""
    return (
        "This interactive figure needs Bokeh (`pip install bokeh`); the static figure "
        "above shows the same data."
    )


def sizes(data: Mapping[str, FigureData]) -> dict[str, int]:
    """Array bytes per figure, for the notes on what each figure adds to the site."""
    return {k: v.nbytes() for k, v in data.items()}
