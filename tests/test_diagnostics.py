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
