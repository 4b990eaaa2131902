"""Tests of relu_course.plotting: each function returns a labelled Figure in the style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import nn  # noqa: E402

from relu_course import plotting as P  # noqa: E402
from relu_course.training import History  # noqa: E402


def assert_labelled(fig: Figure) -> None:
    assert isinstance(fig, Figure)
    assert fig.axes, "the figure has no axes"
    for ax in fig.axes:
        assert ax.get_xlabel().strip(), f"axes {ax} has no x label"
        assert ax.get_ylabel().strip(), f"axes {ax} has no y label"
        assert ax.get_title().strip(), f"axes {ax} has no title"


@pytest.fixture(autouse=True)
def no_open_figures():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "plotting functions must not leave pyplot figures open"


def make_history(n: int = 4, test: bool = True) -> History:
    h = History()
    for e in range(1, n + 1):
        h.epoch.append(e)
        h.train_loss.append(1 / e)
        h.train_acc.append(1 - 0.5 / e)
        if test:
            h.test_loss.append(1.2 / e)
            h.test_acc.append(1 - 0.6 / e)
        h.seconds.append(0.1)
    return h


def test_palette_is_okabe_ito_and_style_applies() -> None:
    assert P.PALETTE[:3] == ("#0072B2", "#E69F00", "#009E73")
    before = matplotlib.rcParams["axes.spines.top"]
    with P.style():
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["axes.spines.top"] == before, "style() must not leak"


def test_plot_activation_names_with_derivative() -> None:
    fig = P.plot_activation(["relu", "leaky_relu", "sigmoid"], x_range=(-3, 3))
    assert_labelled(fig)
    ax_f, ax_d = fig.axes
    assert ax_d.get_ylabel() == "f'(x)"
    lines = [ln for ln in ax_f.lines if ln.get_label() in ("relu", "leaky_relu", "sigmoid")]
    assert len(lines) == 3
    x, y = lines[0].get_data()
    assert x[0] == -3 and x[-1] == 3
    np.testing.assert_allclose(y, np.maximum(x, 0))
    # derivative of relu: 0 on the left (and at 0, PyTorch's convention), 1 on the right
    dx, dy = ax_d.lines[0].get_data()
    assert set(np.unique(dy)) == {0.0, 1.0} and dy[np.argmin(np.abs(dx))] == 0.0
    # first curve takes the first colour of the palette
    assert to_hex(lines[0].get_color()).lower() == P.PALETTE[0].lower()


def test_plot_activation_single_panel_and_callables() -> None:
    fig = P.plot_activation("tanh", derivative=False)
    assert_labelled(fig)
    assert len(fig.axes) == 1

    def numpy_softsign(x: np.ndarray) -> np.ndarray:
        return x / (1 + np.abs(x))

    fig = P.plot_activation([torch.tanh, numpy_softsign], x_range=(-2, 2), num=401)
    ax_d = fig.axes[1]
    labels = [ln.get_label() for ln in ax_d.lines]
    assert "tanh (autograd)" in labels and "numpy_softsign (numerical)" in labels
    x, dy = ax_d.lines[labels.index("tanh (autograd)")].get_data()
    np.testing.assert_allclose(dy, 1 - np.tanh(x) ** 2, atol=1e-12)
    x, dy = ax_d.lines[labels.index("numpy_softsign (numerical)")].get_data()
    # central differences: exact to ~1e-4 except at the cusp at 0, where they give 0.99
    np.testing.assert_allclose(dy[1:-1], 1 / (1 + np.abs(x[1:-1])) ** 2, atol=0.011)


def test_plot_activation_errors() -> None:
    with pytest.raises(ValueError, match="low < high"):
        P.plot_activation("relu", x_range=(1, -1))
    with pytest.raises(KeyError, match="unknown activation"):
        P.plot_activation("rleu")


def test_plot_grad_norms_log_scale_by_depth() -> None:
    norms = {"0": 1e-8, "2": 1e-5, "4": 1e-2}
    fig = P.plot_grad_norms(norms)
    assert_labelled(fig)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    x, y = ax.lines[0].get_data()
    assert list(x) == [1, 2, 3] and list(y) == [1e-8, 1e-5, 1e-2]
    fig = P.plot_grad_norms({"sigmoid": norms, "relu": {"0": 0.3, "2": 0.4, "4": 0.5}})
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["sigmoid", "relu"]
    with pytest.raises(ValueError, match="empty"):
        P.plot_grad_norms({})


def test_plot_dead_units_bars_in_percent() -> None:
    fig = P.plot_dead_units({"1": 0.1, "3": 0.5})
    assert_labelled(fig)
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([10.0, 50.0])
    assert ax.get_ylim() == (0, 100)
    fig = P.plot_dead_units({"init": {"1": 0.5, "3": 0.5}, "trained": {"1": 0.2, "3": 0.9}})
    assert len(fig.axes[0].patches) == 4
    assert fig.axes[0].get_legend() is not None


def test_plot_history_one_and_several_runs() -> None:
    fig = P.plot_history(make_history())
    assert_labelled(fig)
    ax_loss, ax_acc = fig.axes
    assert [ln.get_label() for ln in ax_loss.lines] == ["train", "test"]
    _, acc = ax_acc.lines[0].get_data()
    assert acc[-1] == pytest.approx(100 * (1 - 0.5 / 4)), "accuracy is shown in percent"
    fig = P.plot_history({"relu": make_history(), "sigmoid": make_history(test=False)})
    assert len(fig.axes[0].lines) == 3  # relu train + test, sigmoid train only
    assert "%" in fig.axes[1].get_ylabel()


def test_plot_decision_boundary_with_model_and_function() -> None:
    X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    net = nn.Linear(2, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        net.bias.zero_()
    net.train()
    fig = P.plot_decision_boundary(net, X, y, resolution=50)
    assert_labelled(fig)
    assert "100.0 %" in fig.axes[0].get_title()
    assert net.training, "the model's mode is restored"
    fig = P.plot_decision_boundary(
        lambda p: np.zeros(len(p), dtype=int),
        torch.from_numpy(X),
        torch.from_numpy(y),
        resolution=20,
    )
    assert "50.0 %" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        P.plot_decision_boundary(net, np.zeros((4, 3)), y)


def test_figures_save(tmp_path) -> None:
    path = tmp_path / "history.png"
    P.plot_history(make_history()).savefig(path)
    assert path.stat().st_size > 1000


def test_plot_histograms_one_panel_per_layer_and_plot_update_ratios() -> None:
    from relu_course.diagnostics import ActivationRecorder

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    with ActivationRecorder(net) as rec:
        for _ in range(6):
            net(torch.randn(16, 3)).sum().backward()
            rec.step()
    for kind in ("activation", "gradient"):
        fig = P.plot_histograms(rec, kind, snapshots=3)
        assert len(fig.axes) == 2 and all(len(ax.lines) == 3 for ax in fig.axes)
        assert_labelled(fig)
    fig = P.plot_update_ratios({"0": [1e-2, 1e-3, 1e-4]}, steps=[10, 20, 30], reference=None)
    assert_labelled(fig)
    assert fig.axes[0].lines[0].get_ydata().tolist() == pytest.approx([-2, -3, -4])
    with pytest.raises(ValueError, match="empty"):
        P.plot_update_ratios({})
