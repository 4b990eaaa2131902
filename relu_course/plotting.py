"""Figures for the course, all in one style; every function returns the Figure.

The style (:data:`STYLE`, applied with :func:`style`) uses the Okabe-Ito palette
(:data:`PALETTE`), which stays distinguishable for the common forms of colour blindness,
plus line styles so that curves differ without colour too. Every axis is labelled and
every figure has a title.

Figures are closed in pyplot before they are returned, so a notebook shows each one once:
make the figure the last expression of a cell (or call ``display(fig)``) to see it, and
``fig.savefig(path)`` to keep it. Nothing here calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from torch import nn

__all__ = [
    "PALETTE",
    "STYLE",
    "plot_activation",
    "plot_dead_units",
    "plot_decision_boundary",
    "plot_grad_norms",
    "plot_histograms",
    "plot_history",
    "plot_update_ratios",
    "style",
]

PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
"""Okabe & Ito's colour-blind-safe palette, in the order curves take it."""

_LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), "-", "--")

STYLE: dict[str, Any] = {
    "axes.prop_cycle": mpl.cycler(color=list(PALETTE)) + mpl.cycler(linestyle=_LINESTYLES),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "figure.constrained_layout.use": True,
}
"""matplotlib rc settings shared by every figure of the course."""


@contextmanager
def style() -> Iterator[None]:
    """Apply :data:`STYLE` inside a ``with`` block (for your own figures too).

    Examples
    --------
    >>> with style():
    ...     fig, ax = plt.subplots()
    >>> ax.spines["top"].get_visible()
    False
    >>> plt.close(fig)
    """
    # Load pyplot's backend before the rc context: in Jupyter, loading the inline
    # backend switches interactive mode on and sets rc values, and an rc context that
    # is open at that moment would undo both on exit (later plt.plot cells then show
    # nothing). draw_if_interactive loads the backend and draws nothing new.
    plt.draw_if_interactive()
    with mpl.rc_context(STYLE):
        yield


def _new_figure(ncols: int = 1, width: float = 5.0, height: float = 3.6) -> tuple[Figure, Any]:
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    plt.close(fig)  # keep it out of pyplot's list: shown once, when displayed
    return fig, axes[0] if ncols > 1 else axes[0, 0]


# --------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------


def _curves(
    activation: str | Callable[..., Any], x: np.ndarray
) -> tuple[str, np.ndarray, np.ndarray, str]:
    """Label, f(x), f'(x) and how the derivative was obtained."""
    if isinstance(activation, str):
        from relu_course.activations import get

        act = get(activation)
        return act.name, act.fn(x, **act.params), act.grad(x, **act.params), "exact"
    if not callable(activation):
        raise TypeError(
            "plot_activation takes activation names such as 'relu' or functions, "
            f"got {type(activation).__name__}"
        )
    label = getattr(activation, "__name__", None) or type(activation).__name__
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    try:
        y_t = activation(t)
    except (TypeError, RuntimeError):
        y_t = None  # a NumPy function: it rejects tensors (or ones that require grad)
    if isinstance(y_t, torch.Tensor):
        (dy,) = torch.autograd.grad(y_t.sum(), t, allow_unused=True)
        dy = torch.zeros_like(t) if dy is None else dy
        return label, y_t.detach().numpy(), dy.numpy(), "autograd"
    y = np.asarray(activation(x), dtype=np.float64)
    return label, y, np.gradient(y, x), "numerical"


def plot_activation(
    activations: str | Callable[..., Any] | Sequence[str | Callable[..., Any]],
    x_range: tuple[float, float] = (-4.0, 4.0),
    *,
    derivative: bool = True,
    num: int = 801,
) -> Figure:
    """Plot ``f(x)`` and, beside it, ``f'(x)`` for one or several activations.

    Names come from :mod:`relu_course.activations` with their default parameters, and
    their derivatives are the exact ones (PyTorch's kink convention). A function may be
    a torch function (derivative by autograd) or a NumPy function (derivative by
    central differences, which averages the two sides at a kink).

    Parameters
    ----------
    activations : str, callable or a sequence of them
        E.g. ``"relu"``, ``["relu", "gelu", "silu"]``, ``torch.tanh``.
    x_range : tuple of float
        Interval of ``x`` shown.
    derivative : bool
        Add the derivative panel.
    num : int
        Number of sample points (odd keeps ``x = 0`` on the grid for symmetric ranges).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_activation(["relu", "leaky_relu"])
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['f(x)', "f'(x)"]
    """
    items = (
        [activations]
        if isinstance(activations, str) or callable(activations)
        else list(activations)
    )
    if not items:
        raise ValueError("give at least one activation, e.g. plot_activation('relu')")
    lo, hi = x_range
    if not lo < hi:
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}")
    x = np.linspace(lo, hi, num)
    with style():
        fig, axes = _new_figure(2 if derivative else 1)
        ax_f, ax_d = (axes[0], axes[1]) if derivative else (axes, None)
        for item in items:
            label, y, dy, how = _curves(item, x)
            ax_f.plot(x, y, label=label)
            if ax_d is not None:
                ax_d.plot(x, dy, label=label if how == "exact" else f"{label} ({how})")
        ax_f.set(xlabel="pre-activation x", ylabel="f(x)", title="Activation")
        if ax_d is not None:
            ax_d.set(xlabel="pre-activation x", ylabel="f'(x)", title="Derivative")
            ax_d.legend()
        ax_f.legend()
        for ax in fig.axes:
            ax.axhline(0, color="0.5", linewidth=0.8, linestyle="-")
            ax.axvline(0, color="0.5", linewidth=0.8, linestyle="-")
    return fig


# --------------------------------------------------------------------------------------
# Per-layer diagnostics
# --------------------------------------------------------------------------------------


def _series(values: Mapping[str, Any], what: str) -> dict[str, dict[str, float]]:
    """Accept ``{layer: value}`` (one series) or ``{label: {layer: value}}`` (several)."""
    if not values:
        raise ValueError(f"{what} is empty; compute it first (it maps layer names to values)")
    if all(isinstance(v, Mapping) for v in values.values()):
        return {str(label): dict(series) for label, series in values.items()}
    return {"": dict(values)}


def plot_grad_norms(
    norms: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    *,
    title: str = "Gradient norm by depth",
) -> Figure:
    """Plot ``||dL/dW_l||`` against depth ``l`` on a log scale.

    Parameters
    ----------
    norms : dict
        The output of :func:`relu_course.diagnostics.grad_norms` (``{layer: norm}``), or
        several of them by label, e.g. ``{"sigmoid": ..., "relu": ...}``.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_grad_norms({"sigmoid": {"0": 1e-6, "2": 1e-3}, "relu": {"0": 0.5, "2": 0.7}})
    >>> fig.axes[0].get_yscale(), len(fig.axes[0].lines)
    ('log', 2)
    """
    with style():
        fig, ax = _new_figure()
        groups = _series(norms, "norms")
        for label, series in groups.items():
            depth = np.arange(1, len(series) + 1)
            ax.plot(depth, list(series.values()), marker="o", label=label or None)
        ax.set_yscale("log")
        ax.set(
            xlabel="layer depth (1 = next to the input)",
            ylabel="weight-gradient norm ||dL/dW|| (log scale)",
            title=title,
        )
        if len(groups) > 1 or "" not in groups:
            ax.legend()
    return fig


def plot_dead_units(
    fractions: Mapping[str, float] | Mapping[str, Mapping[str, float]],
    *,
    title: str = "Dead units by layer",
) -> Figure:
    """Bar chart of the share of dead units in each activation layer.

    Parameters
    ----------
    fractions : dict
        The output of :func:`relu_course.diagnostics.dead_unit_fraction`, or several of
        them by label (grouped bars), e.g. ``{"before": ..., "after training": ...}``.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_dead_units({"1": 0.0, "3": 0.25, "5": 0.5})
    >>> [float(p.get_height()) for p in fig.axes[0].patches]
    [0.0, 25.0, 50.0]
    """
    groups = _series(fractions, "fractions")
    layers = list(next(iter(groups.values())))
    width = 0.8 / len(groups)
    with style():
        fig, ax = _new_figure()
        for i, (label, series) in enumerate(groups.items()):
            heights = [100.0 * series.get(layer, np.nan) for layer in layers]
            offsets = np.arange(len(layers)) + (i - (len(groups) - 1) / 2) * width
            ax.bar(offsets, heights, width=width, label=label or None, color=PALETTE[i % 8])
        ax.set_xticks(
            np.arange(len(layers)), [f"{k + 1}\n({name})" for k, name in enumerate(layers)]
        )
        ax.set_ylim(0, 100)
        ax.set(
            xlabel="activation layer (module name)",
            ylabel="dead units (% of the layer)",
            title=title,
        )
        if len(groups) > 1 or "" not in groups:
            ax.legend()
    return fig


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------


def plot_history(history: Any | Mapping[str, Any], *, title: str = "Training") -> Figure:
    """Loss (left) and accuracy (right) per epoch; train solid, test dashed.

    Parameters
    ----------
    history : History or dict of str to History
        What :func:`relu_course.training.train` returned, or several runs by label,
        e.g. ``{"relu": h1, "sigmoid": h2}`` (one colour per run).
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from relu_course.training import History
    >>> h = History(epoch=[1, 2], train_loss=[1.0, 0.5], train_acc=[0.6, 0.8],
    ...             test_loss=[1.1, 0.7], test_acc=[0.5, 0.7], seconds=[0.1, 0.1])
    >>> fig = plot_history(h)
    >>> [ax.get_xlabel() for ax in fig.axes], len(fig.axes[0].lines)
    (['epoch', 'epoch'], 2)
    """
    runs = dict(history) if isinstance(history, Mapping) else {"": history}
    if not runs:
        raise ValueError("history is empty; pass what train(...) returned")
    with style():
        fig, (ax_loss, ax_acc) = _new_figure(2)
        for i, (label, h) in enumerate(runs.items()):
            color = PALETTE[i % len(PALETTE)]
            prefix = f"{label}: " if label else ""
            for ax, train_key, test_key in (
                (ax_loss, "train_loss", "test_loss"),
                (ax_acc, "train_acc", "test_acc"),
            ):
                scale = 100.0 if ax is ax_acc else 1.0
                ax.plot(
                    h.epoch,
                    scale * np.asarray(getattr(h, train_key)),
                    color=color,
                    linestyle="-",
                    label=f"{prefix}train",
                )
                test = getattr(h, test_key)
                if len(test):
                    ax.plot(
                        h.epoch,
                        scale * np.asarray(test),
                        color=color,
                        linestyle="--",
                        label=f"{prefix}test",
                    )
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss (nats)", title=f"{title}: loss")
        ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title=f"{title}: accuracy")
        ax_loss.legend()
        ax_acc.legend()
    return fig


# --------------------------------------------------------------------------------------
# Diagnostics over training
# --------------------------------------------------------------------------------------


def plot_histograms(
    recorder: Any,
    kind: str = "activation",
    *,
    bins: int = 40,
    value_range: tuple[float, float] | None = None,
    snapshots: int = 4,
    title: str | None = None,
) -> Figure:
    """One panel per layer: histograms of recorded values at a few training steps.

    Parameters
    ----------
    recorder : relu_course.diagnostics.ActivationRecorder
        A recorder that has recorded some training steps.
    kind : {"activation", "gradient"}
        Layer outputs ``h`` or their gradients ``dL/dh``.
    bins, value_range
        As in :meth:`ActivationRecorder.histograms`.
    snapshots : int
        How many recorded steps to draw per panel, spread from the first to the last.
    title : str, optional
        Figure title; by default it names ``kind``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from relu_course.diagnostics import ActivationRecorder
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh())
    >>> with ActivationRecorder(net) as rec:
    ...     for _ in range(3):
    ...         net(torch.randn(8, 3)).sum().backward()
    ...         rec.step()
    >>> fig = plot_histograms(rec, snapshots=2)
    >>> len(fig.axes), len(fig.axes[0].lines)
    (2, 2)
    """
    edges, counts = recorder.histograms(kind, bins=bins, value_range=value_range)
    steps = recorder.steps(kind)
    centers = (edges[:-1] + edges[1:]) / 2
    label = "layer output h" if kind == "activation" else "gradient dL/dh"
    with style():
        fig, axes = _new_figure(len(counts), width=3.4, height=3.0)
        axes = np.atleast_1d(axes)
        for ax, (layer, rows) in zip(axes, counts.items(), strict=True):
            picks = np.unique(np.linspace(0, len(rows) - 1, min(snapshots, len(rows))).round())
            for j, i in enumerate(picks.astype(int)):
                ax.plot(
                    centers,
                    100 * rows[i],
                    color=PALETTE[j % 8],
                    drawstyle="steps-mid",
                    label=f"step {steps[layer][i]}",
                )
            ax.set(xlabel=label, ylabel="share of values (%)", title=f"layer {layer}")
        axes[0].legend()
        fig.suptitle(title or f"Histograms of {label} during training")
    return fig


def plot_update_ratios(
    ratios: Mapping[str, Sequence[float]],
    *,
    steps: Sequence[int] | None = None,
    reference: float | None = 1e-3,
    title: str = "Update-to-data ratio per layer",
) -> Figure:
    """``log10(||Delta W|| / ||W||)`` per layer against the training step.

    Parameters
    ----------
    ratios : dict of str to sequence of float
        Per layer, one ratio per recorded step (from
        :func:`relu_course.diagnostics.update_to_data_ratio`, collected over training).
    steps : sequence of int, optional
        The steps of the values; 0, 1, 2 ... by default.
    reference : float or None
        A horizontal guide line (1e-3 by default, a common rule of thumb); None for none.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_update_ratios({"0": [1e-2, 1e-3], "2": [1e-3, 1e-4]})
    >>> len(fig.axes[0].lines), fig.axes[0].get_ylabel()
    (3, 'log10 of ||ΔW|| / ||W||')
    """
    if not ratios:
        raise ValueError("ratios is empty; collect update_to_data_ratio(...) over training")
    with style():
        fig, ax = _new_figure()
        for layer, values in ratios.items():
            x = np.arange(len(values)) if steps is None else np.asarray(steps)
            ax.plot(x, np.log10(np.asarray(values, dtype=float)), label=f"layer {layer}")
        if reference is not None:
            ax.axhline(np.log10(reference), color="gray", linestyle=":", label="reference")
        ax.set(xlabel="training step", ylabel="log10 of ||ΔW|| / ||W||", title=title)
        ax.legend()
    return fig


# --------------------------------------------------------------------------------------
# Decision boundaries
# --------------------------------------------------------------------------------------


def _predict_labels(model: nn.Module | Callable[[np.ndarray], Any], grid: np.ndarray) -> np.ndarray:
    """Class of each grid point, from a torch model (argmax of logits) or a function."""
    if isinstance(model, nn.Module):
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        modes = {m: m.training for m in model.modules()}
        model.eval()
        try:
            with torch.no_grad():
                out = model(torch.as_tensor(grid, dtype=torch.float32, device=device))
        finally:
            for m, mode in modes.items():
                m.train(mode)
        out = out.cpu().numpy()
    else:
        out = model(grid)
        out = out.detach().cpu().numpy() if isinstance(out, torch.Tensor) else np.asarray(out)
    if out.ndim == 2 and out.shape[1] > 1:
        return out.argmax(axis=1)
    out = out.reshape(-1)
    if np.issubdtype(out.dtype, np.floating):
        return (out > (0.5 if out.min() >= 0 and out.max() <= 1 else 0.0)).astype(int)
    return out.astype(int)


def plot_decision_boundary(
    model: nn.Module | Callable[[np.ndarray], Any],
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    resolution: int = 200,
    padding: float = 0.25,
    title: str = "Decision regions",
) -> Figure:
    """Colour the plane by predicted class and scatter the 2-D data over it.

    Parameters
    ----------
    model : nn.Module or callable
        A torch model mapping ``(M, 2)`` inputs to class scores (the class is the argmax;
        a single column is thresholded at 0, or 0.5 for probabilities), or a function
        ``predict(points: np.ndarray (M, 2)) -> labels (M,) or scores (M, k)``.
    X : array of shape (n, 2)
        The points.
    y : array of shape (n,)
        Their integer labels.
    resolution : int
        Grid points per axis.
    padding : float
        Margin around the data, as a fraction of its range.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> X = np.array([[-1.0, 0.0], [1.0, 0.0]]); y = np.array([0, 1])
    >>> fig = plot_decision_boundary(lambda p: (p[:, 0] > 0).astype(int), X, y)
    >>> fig.axes[0].get_xlabel()
    'x1 (input units)'
    """
    X = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2) for a picture in the plane, got {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
    lo, hi = X.min(axis=0), X.max(axis=0)
    margin = padding * np.maximum(hi - lo, 1e-9)
    xs = np.linspace(lo[0] - margin[0], hi[0] + margin[0], resolution)
    ys = np.linspace(lo[1] - margin[1], hi[1] + margin[1], resolution)
    gx, gy = np.meshgrid(xs, ys)
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    labels = _predict_labels(model, grid).reshape(gx.shape)
    n_classes = int(max(labels.max(), y.max())) + 1
    cmap = ListedColormap([PALETTE[k % len(PALETTE)] for k in range(n_classes)])
    with style():
        fig, ax = _new_figure(width=5.0, height=4.6)
        ax.contourf(gx, gy, labels, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, alpha=0.25)
        for k in range(n_classes):
            pts = X[y == k]
            if len(pts):
                ax.scatter(
                    pts[:, 0],
                    pts[:, 1],
                    s=14,
                    color=PALETTE[k % len(PALETTE)],
                    edgecolor="white",
                    linewidth=0.4,
                    label=f"class {k}",
                )
        accuracy = 100.0 * np.mean(_predict_labels(model, X.astype(np.float64)) == y)
        ax.set(
            xlabel="x1 (input units)",
            ylabel="x2 (input units)",
            title=f"{title} (accuracy {accuracy:.1f} %)",
        )
        ax.set_aspect("equal", adjustable="box")
        ax.grid(False)
        ax.legend(loc="upper right")
    return fig
