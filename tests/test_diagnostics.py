"""Tests of relu_course.diagnostics on hand-built networks whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from relu_course import diagnostics as D


def two_layer_net() -> nn.Sequential:
    """Linear(2, 4) -> ReLU -> Linear(4, 3) -> ReLU with hand-set weights.

    On inputs with both coordinates > 0: unit 0 gets -(x1 + x2) < 0 and unit 2 gets
    -x1 - 1 < 0, so exactly units 0 and 2 of the first ReLU are dead; units 1 and 3 are
    positive. The second layer's unit 1 has bias -1000: dead; units 0 and 2 live.
    """
    net = nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU())
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[-1.0, -1.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]))
        net[0].bias.copy_(torch.tensor([0.0, 0.0, -1.0, 0.0]))
        net[2].weight.fill_(1.0)
        net[2].bias.copy_(torch.tensor([0.0, -1000.0, 1.0]))
    return net


def positive_inputs(n: int = 50, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 2, generator=torch.Generator().manual_seed(seed)) + 0.1


def test_activation_types_cover_torch_and_mirrors() -> None:
    for cls in (nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.Sigmoid, nn.Hardswish):
        assert cls in D.ACTIVATION_TYPES
    try:
        from relu_course import torch_activations as T
    except ImportError:
        pytest.skip("relu_course.torch_activations not importable")
    assert T.ReLU in D.ACTIVATION_TYPES and T.LeakyReLU in D.ACTIVATION_TYPES
    net = two_layer_net()
    net[1] = T.ReLU()  # the package's mirror is hooked like torch's own
    assert D.dead_units(net, positive_inputs())["1"].tolist() == [True, False, True, False]


def test_dead_units_known_mask() -> None:
    masks = D.dead_units(two_layer_net(), positive_inputs())
    assert list(masks) == ["1", "3"]
    assert masks["1"].tolist() == [True, False, True, False]
    assert masks["3"].tolist() == [False, True, False]
    assert masks["1"].dtype == torch.bool


def test_dead_unit_fraction_known_values_tensor_and_loader() -> None:
    net, X = two_layer_net(), positive_inputs()
    expected = {"1": 0.5, "3": 1 / 3}
    assert D.dead_unit_fraction(net, X) == pytest.approx(expected)
    loader = DataLoader(TensorDataset(X, torch.zeros(len(X), dtype=torch.long)), batch_size=7)
    assert D.dead_unit_fraction(net, loader) == pytest.approx(expected)
    assert D.dead_unit_fraction(net, [X[:10], X[10:]]) == pytest.approx(expected)


def test_unit_alive_if_positive_in_any_batch() -> None:
    """A unit positive on a single example of a later batch is alive."""
    net = two_layer_net()
    X = positive_inputs(20)
    X[-1] = torch.tensor([0.5, -2.0])  # unit 0 gets +1.5 here, unit 2 still -1.5
    loader = DataLoader(TensorDataset(X, torch.zeros(20, dtype=torch.long)), batch_size=8)
    assert D.dead_units(net, loader)["1"].tolist() == [False, False, True, False]


def test_huge_negative_bias_kills_everything() -> None:
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        net[0].bias.fill_(-1e6)
    assert D.dead_unit_fraction(net, torch.randn(100, 5)) == {"1": 1.0}


def test_conv_channel_dead_only_if_nonpositive_everywhere() -> None:
    conv = nn.Conv2d(1, 3, kernel_size=1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0, 0.0]).reshape(3, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
    net = nn.Sequential(conv, nn.ReLU())
    X = -torch.ones(4, 1, 5, 5)
    X[2, 0, 3, 1] = 2.0  # one positive pixel in one image keeps channel 0 alive
    # channel 1 is -x: positive wherever x < 0, alive; channel 2 is always -1: dead
    assert D.dead_units(net, X)["1"].tolist() == [False, False, True]


def test_leaky_relu_never_positive_counts_as_dead() -> None:
    net = nn.Sequential(nn.Linear(1, 2), nn.LeakyReLU(0.1))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
        net[0].bias.copy_(torch.tensor([-10.0, 10.0]))
    assert D.dead_units(net, torch.linspace(-1, 1, 9)[:, None])["1"].tolist() == [True, False]


def test_mode_restored_hooks_removed_even_on_error() -> None:
    net = two_layer_net()
    net.train()
    net[1].eval()  # a mixed state must come back exactly
    D.dead_units(net, positive_inputs())
    assert net.training and not net[1].training and net[3].training
    assert all(len(m._forward_hooks) == 0 for m in net.modules())
    with pytest.raises(RuntimeError):
        D.dead_units(net, torch.randn(3, 7))  # wrong input width
    assert net.training and not net[1].training
    assert all(len(m._forward_hooks) == 0 for m in net.modules())


def test_diagnostics_record_no_gradient_and_use_eval_mode() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.RReLU())
    X = torch.randn(64, 3)
    stats_a = D.activation_stats(net, X)
    stats_b = D.activation_stats(net, X)
    assert stats_a == stats_b, "RReLU in eval mode is deterministic"
    assert all(p.grad is None for p in net.parameters())


def test_errors_are_helpful() -> None:
    class FunctionalNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.fc(x))

    with pytest.raises(ValueError, match="no activation layer"):
        D.dead_units(FunctionalNet(), torch.randn(2, 2))
    with pytest.raises(TypeError, match="torch.as_tensor"):
        D.dead_units(two_layer_net(), np.ones((2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="no batches"):
        D.dead_units(two_layer_net(), [])


def test_activation_stats_by_hand() -> None:
    net = nn.Sequential(nn.Identity(), nn.ReLU(), nn.Identity(), nn.Tanh())
    X = torch.tensor([[-2.0, 0.5, 3.0], [1.0, -1.0, 0.0]])
    relu_out = np.array([0.0, 0.5, 3.0, 1.0, 0.0, 0.0])
    tanh_out = np.tanh(relu_out)
    stats = D.activation_stats(net, DataLoader(TensorDataset(X), batch_size=1))
    assert stats["1"]["mean"] == pytest.approx(relu_out.mean())
    assert stats["1"]["var"] == pytest.approx(relu_out.var())
    assert stats["1"]["frac_zero"] == pytest.approx(0.5)
    assert stats["3"]["mean"] == pytest.approx(tanh_out.mean(), rel=1e-6)
    assert stats["3"]["var"] == pytest.approx(tanh_out.var(), rel=1e-6)


def test_activation_stats_batches_merge_exactly() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 32), nn.ReLU())
    X = torch.randn(301, 6) * 3 + 5
    whole = D.activation_stats(net, X)["1"]
    merged = D.activation_stats(net, DataLoader(TensorDataset(X), batch_size=17))["1"]
    assert merged == pytest.approx(whole, rel=1e-9, abs=1e-12)
    ref = net[1](net[0](X)).detach().double()
    assert whole["mean"] == pytest.approx(ref.mean().item())
    assert whole["var"] == pytest.approx(ref.var(unbiased=False).item())
    assert whole["frac_zero"] == pytest.approx((ref == 0).double().mean().item())


def test_about_half_relu_outputs_zero_at_he_init() -> None:
    """Glorot et al. 2011: roughly half of ReLU outputs are exactly 0 at initialisation."""
    from relu_course.training import make_mlp

    torch.manual_seed(0)
    net = make_mlp(20, [256, 256, 256], 10)
    stats = D.activation_stats(net, torch.randn(512, 20))
    for name, s in stats.items():
        assert 0.45 < s["frac_zero"] < 0.55, (name, s)


def test_grad_norms_match_manual_norms() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.PReLU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    X, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    nn.functional.cross_entropy(net(X), y).backward()
    norms = D.grad_norms(net)
    assert list(norms) == ["0", "2", "4"], "PReLU's slope is not a layer"
    for name, value in norms.items():
        g = net.get_submodule(name).weight.grad
        assert value == pytest.approx(math.sqrt(float((g.double() ** 2).sum())), rel=1e-6)


def test_grad_norms_fixed_network_by_hand() -> None:
    """y = w2 relu(W1 x): with x = (1, 2), W1 = I, w2 = (3, 4), dy/dW1 = w2^T x^T."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
        net[2].weight.copy_(torch.tensor([[3.0, 4.0]]))
    net(torch.tensor([[1.0, 2.0]])).sum().backward()
    # dy/dW1 = [[3, 6], [4, 8]] -> sqrt(9+36+16+64) = sqrt(125); dy/dw2 = relu(x) = (1, 2)
    assert D.grad_norms(net) == pytest.approx({"0": math.sqrt(125), "2": math.sqrt(5)})


def test_grad_norms_before_backward_raises() -> None:
    with pytest.raises(RuntimeError, match="backward"):
        D.grad_norms(nn.Sequential(nn.Linear(2, 2)))


@pytest.mark.parametrize(
    ("width", "depth", "expected"),
    [
        (1, 1, 0.5),
        (1, 2, 0.75),  # 1 - (1/2)^2
        (2, 1, 0.25),
        (2, 2, 1 - (3 / 4) ** 2),  # 0.4375
        (3, 2, 1 - (7 / 8) ** 2),  # 0.234375
        (10, 1, 1 / 1024),
    ],
)
def test_born_dead_probability_hand_values(width: int, depth: int, expected: float) -> None:
    assert D.born_dead_probability(width, depth) == pytest.approx(expected, rel=1e-12)


def test_born_dead_probability_laws() -> None:
    # deeper is deadlier, wider is safer, and tiny probabilities stay accurate
    assert D.born_dead_probability(3, 10) < D.born_dead_probability(3, 11)
    assert D.born_dead_probability(4, 10) < D.born_dead_probability(3, 10)
    assert D.born_dead_probability(60, 1) == pytest.approx(2.0**-60, rel=1e-12)
    with pytest.raises(ValueError, match="width must be a positive int"):
        D.born_dead_probability(0, 3)


@pytest.mark.parametrize(("width", "depth"), [(1, 1), (3, 1), (2, 10), (3, 20)])
def test_simulation_within_four_standard_errors(width: int, depth: int) -> None:
    trials = 20_000
    p = D.born_dead_probability(width, depth)
    estimate = D.simulate_born_dead(width, depth, trials=trials, seed=1)
    se = math.sqrt(p * (1 - p) / trials)
    assert abs(estimate - p) < 4 * se, (estimate, p, se)


def test_simulation_seeded_and_input_size_free() -> None:
    a = D.simulate_born_dead(2, 5, trials=500, seed=3)
    assert a == D.simulate_born_dead(2, 5, trials=500, seed=3)
    draws = {D.simulate_born_dead(2, 5, trials=500, seed=s) for s in range(5)}
    assert len(draws) > 1, "different seeds should give different estimates"
    p = D.born_dead_probability(3, 4)
    wide = D.simulate_born_dead(3, 4, trials=20_000, d_in=16, seed=0)
    assert abs(wide - p) < 4 * math.sqrt(p * (1 - p) / 20_000)


# ------------------------------------------------- dormant units, saturation, update ratios


def test_dormant_scores_divide_by_the_layer_mean_and_tau_zero_is_dead() -> None:
    net = two_layer_net()
    x = positive_inputs()
    scores = D.dormant_scores(net, x)
    assert list(scores) == ["1", "3"]
    for name, s in scores.items():
        assert s.dtype == torch.float64 and s.shape == (4 if name == "1" else 3,)
        torch.testing.assert_close(s.mean(), torch.tensor(1.0, dtype=torch.float64))
    dead = D.dead_units(net, x)
    assert {n: (s <= 0) for n, s in scores.items()}.keys() == dead.keys()
    for name in dead:
        assert torch.equal(scores[name] <= 0, dead[name])
    dormant, dead_share = D.dormant_fraction(net, x, tau=0.0), D.dead_unit_fraction(net, x)
    assert dormant == pytest.approx(dead_share)


def test_dormant_fraction_counts_weak_units_and_validates_tau() -> None:
    net = nn.Sequential(nn.Identity(), nn.ReLU())
    x = torch.tensor([[0.01, 1.0, 1.0, 2.0], [0.01, 1.0, 1.0, 2.0]])
    # mean |h| = 0.01, 1, 1, 2; layer mean 1.0025: unit 0 scores ~0.01
    assert D.dormant_fraction(net, x, tau=0.025) == {"1": 0.25}
    assert D.dormant_fraction(net, x, tau=0.0) == {"1": 0.0}
    assert D.dormant_scores(net, torch.zeros(3, 4))["1"].tolist() == [0.0] * 4
    with pytest.raises(ValueError, match="tau"):
        D.dormant_fraction(net, x, tau=-0.1)


def test_saturation_fraction_rules_per_activation() -> None:
    x = torch.tensor([[-10.0, -0.5, 0.0, 0.5, 10.0, 3.0]])
    net = nn.Sequential(
        nn.Identity(),
        nn.Sigmoid(),
        nn.Identity(),
        nn.Identity(),
        nn.Tanh(),
        nn.Identity(),
        nn.ReLU(),
        nn.Identity(),
        nn.GELU(),
    )
    got = D.saturation_fraction(nn.Sequential(nn.Identity(), nn.Sigmoid()), x)
    assert got == {"1": pytest.approx(2 / 6)}  # sigmoid(-10), sigmoid(10)
    got = D.saturation_fraction(nn.Sequential(nn.Tanh()), x)
    assert got == {"0": pytest.approx(3 / 6)}  # tanh(-10), tanh(10), tanh(3) = 0.99505
    got = D.saturation_fraction(nn.Sequential(nn.Tanh()), x, eps=0.001)
    assert got == {"0": pytest.approx(2 / 6)}
    got = D.saturation_fraction(nn.Sequential(nn.ReLU6()), torch.tensor([[-1.0, 0.0, 3.0, 7.0]]))
    assert got == {"0": 0.75}
    got = D.saturation_fraction(net, x)
    assert list(got) == ["1", "4", "6"]  # GELU has no flat side: left out
    relu = D.saturation_fraction(nn.Sequential(nn.ReLU()), x)
    assert relu == {"0": pytest.approx(3 / 6)}  # exact zeros only: -10, -0.5 and 0
    with pytest.raises(ValueError, match="eps"):
        D.saturation_fraction(net, x, eps=0.7)


def test_update_to_data_ratio_measured_across_an_optimizer_step() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net(torch.randn(16, 3)).pow(2).mean().backward()
    predicted = D.update_to_data_ratio(net, lr=0.1)
    before = D.weight_snapshot(net)
    opt.step()
    measured = D.update_to_data_ratio(net, before)
    assert list(measured) == ["0", "2"]
    for name in measured:  # for plain SGD the two forms agree
        assert measured[name] == pytest.approx(predicted[name], rel=1e-5)
        assert measured[name] > 0
    before["0"] += 1.0  # the snapshot is a copy: editing it changes nothing in the model
    assert not torch.equal(before["0"], net[0].weight)
    with pytest.raises(ValueError, match="exactly one"):
        D.update_to_data_ratio(net)
    with pytest.raises(KeyError, match="snapshot"):
        D.update_to_data_ratio(net, {})


def test_activation_recorder_records_every_nth_training_step_and_removes_hooks() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 50), nn.ReLU(), nn.Linear(50, 50), nn.Tanh(), nn.Linear(50, 1))
    x = torch.randn(40, 3)
    state = torch.get_rng_state()
    with D.ActivationRecorder(net, every=2, max_values=100) as rec:
        for _ in range(5):
            net(x).sum().backward()
            with torch.no_grad():
                net.eval()
                net(x)  # an evaluation pass is not recorded
                net.train()
            rec.step()
    assert torch.equal(torch.get_rng_state(), state), "the recorder must not draw from torch's RNG"
    assert rec.steps() == {"1": [0, 2, 4], "3": [0, 2, 4]}
    assert rec.steps("gradient") == rec.steps()
    for _step, values in rec.activations["1"]:
        assert values.shape == (100,) and (values >= 0).all()
    assert all(np.abs(v).max() < 1 for _, v in rec.activations["3"])
    with torch.no_grad():
        h = net[:2](x)
    assert set(rec.activations["1"][-1][1].tolist()) <= set(h.flatten().tolist())
    edges, counts = rec.histograms("activation", bins=10)
    assert edges.shape == (11,) and counts["1"].shape == (3, 10)
    assert np.all(counts["1"].sum(axis=1) <= 1 + 1e-12)
    assert all(not m._forward_hooks for m in net.modules())
    net(x).sum().backward()  # no recording after the block
    assert len(rec.activations["1"]) == 3
    with pytest.raises(ValueError, match="kind"):
        rec.histograms("weights")
