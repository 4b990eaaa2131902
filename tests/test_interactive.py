"""relu_course.interactive: the precomputed data is right, and the figures are wired up.

The browser half (a slider moved in chromium redraws the figure) is in test_browser.py.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from relu_course import activations as act
from relu_course import interactive


@pytest.fixture(scope="module")
def explorer() -> interactive.FigureData:
    return interactive.activation_explorer_data()


def test_explorer_curves_are_the_package_functions(explorer: interactive.FigureData) -> None:
    for key, cols in explorer.table.items():
        name, i = key.split("|")
        pname, values = explorer.meta["params"][name]
        params = dict(act.get(name).params, **({pname: values[int(i)]} if pname else {}))
        x = cols["x"].astype(np.float64)
        np.testing.assert_allclose(cols["f"], act.get(name).fn(x, **params), rtol=1e-6, atol=1e-6)
        finite = ~np.isnan(cols["g"])
        assert (~finite).sum() == len(cols["kink_x"]), f"{key}: one break per kink"
        assert set(cols["gx"][~finite]) == set(cols["kink_x"])


@pytest.mark.parametrize(
    ("name", "torch_fn", "kw", "kinks"),
    [
        ("relu", F.relu, {}, [0.0]),
        ("relu6", F.relu6, {}, [0.0, 6.0]),
        ("leaky_relu", F.leaky_relu, {"negative_slope": 0.01}, [0.0]),
        ("elu", F.elu, {"alpha": 1.0}, []),  # alpha = 1: no jump in the derivative
        ("hardswish", F.hardswish, {}, [-3.0, 3.0]),
    ],
)
def test_explorer_marks_pytorchs_value_at_each_kink(
    explorer: interactive.FigureData, name: str, torch_fn, kw: dict, kinks: list[float]
) -> None:
    pname, values = explorer.meta["params"][name]
    i = values.index(kw[pname]) if pname else 0
    cols = explorer.table[f"{name}|{i}"]
    assert cols["kink_x"].tolist() == kinks
    t = torch.tensor(kinks, dtype=torch.float64, requires_grad=True)
    torch_fn(t, **kw).sum().backward()
    np.testing.assert_allclose(cols["kink_g"], t.grad.numpy(), atol=1e-7)
    assert np.all(cols["limit_g"] != cols["kink_g"])


def test_explorer_elu_with_alpha_not_one_has_a_kink(explorer: interactive.FigureData) -> None:
    values = explorer.meta["params"]["elu"][1]
    cols = explorer.table[f"elu|{values.index(2.0)}"]
    assert cols["kink_x"].tolist() == [0.0]
    assert cols["kink_g"].tolist() == [2.0] and cols["limit_g"].tolist() == [1.0]


def test_depth_signal_follows_the_variance_argument() -> None:
    data = interactive.depth_signal_data(
        ["relu"], ["he", "xavier", "default"], depths=[12], width=256, batch=512
    )
    he = data.table["relu|he|12"]["signal"]
    xavier = data.table["relu|xavier|12"]["signal"]
    default = data.table["relu|default|12"]["signal"]
    assert abs(he[0] - 1.0) < 0.1  # E[relu(z)^2] = Var(z) / 2 = 1 with He weights
    ratio = lambda s: (s[-1] / s[0]) ** (1 / (len(s) - 1))  # noqa: E731
    assert 0.8 < ratio(he) < 1.25
    assert 0.4 < ratio(xavier) < 0.6
    assert 0.12 < ratio(default) < 0.22
    assert all(np.all(np.isfinite(c)) for c in data.table["relu|he|12"].values())


def test_depth_signal_free_gain_matches_he_at_root_two() -> None:
    data = interactive.depth_signal_data(
        ["relu"], ["he", "gain"], gains=[math.sqrt(2)], depths=[4], width=32, batch=64
    )
    np.testing.assert_allclose(
        data.table["relu|gain0|4"]["signal"], data.table["relu|he|4"]["signal"], rtol=1e-5
    )


def test_dying_lr_data_records_every_layer() -> None:
    data = interactive.dying_lr_data(lrs=[1e-3], biases=[0.0, -5.0], hidden=[16, 16], epochs=1)
    healthy, killed = data.table["0|0"], data.table["1|0"]
    assert healthy["dead"].shape == (2,) and healthy["layer"].tolist() == [1.0, 2.0]
    assert killed["dead"][1] > healthy["dead"][1]
    assert 0.0 <= float(killed["acc"][0]) <= 1.0


@pytest.mark.parametrize("width", [1, 3, 6])
def test_one_layer_regions_never_exceed_the_line_arrangement_bound(width: int) -> None:
    data = interactive.linear_regions_data([width], [1], resolution=200, extent=10.0)
    count = int(data.table[f"{width}|1"]["count"][0])
    assert 1 <= count <= 1 + width + width * (width - 1) // 2


def test_builders_name_the_models_the_browser_test_reads() -> None:
    pytest.importorskip("bokeh")
    cases = {
        interactive.activation_explorer: (
            interactive.activation_explorer_data(["relu", "elu"], points=21),
            "explorer-curve",
        ),
        interactive.depth_signal: (
            interactive.depth_signal_data(
                ["relu"], ["he", "gain"], gains=[1.0], depths=[3], width=8, batch=8
            ),
            "depth-source",
        ),
        interactive.linear_regions: (
            interactive.linear_regions_data([2], [1, 2], resolution=16),
            "regions-source",
        ),
    }
    for build, (data, source) in cases.items():
        layout = build(data)
        assert layout.select_one({"name": source}) is not None, build.__name__


def test_show_embeds_bokehjs_only_outside_the_book(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bokeh")
    data = interactive.linear_regions_data([2], [1], resolution=8)
    monkeypatch.delenv(interactive.BOOK_ENV, raising=False)
    alone = interactive.show(interactive.linear_regions, data, "what it shows", name="f")
    monkeypatch.setenv(interactive.BOOK_ENV, "1")
    in_book = interactive.show(interactive.linear_regions, data, "what it shows", name="f")
    assert 'class="relu-interactive"' in in_book._repr_html_()
    assert 'aria-labelledby="f-caption"' in in_book._repr_html_()
    assert len(alone._repr_html_()) > len(in_book._repr_html_()) + 500_000  # BokehJS inline


def test_show_without_bokeh_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bokeh.embed", None)
    note = interactive.show(interactive.linear_regions, interactive.FigureData(), "c", name="f")
    assert "pip install bokeh" in note.data
