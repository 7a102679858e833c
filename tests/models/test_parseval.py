"""Parseval constraints: retraction, scaled convolution, simplex projection, convex merge."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from robusteye.models import (
    ConvexMerge,
    ParsevalConv2d,
    ParsevalLinear,
    conv_operator_norm,
    create_model,
    orthogonality_error,
    project_simplex,
    retract_,
)
from robusteye.models.parseval import conv_weight


def _random_start(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g)
    # Spectral norm 1 keeps every singular value inside the retraction's basin.
    return w / torch.linalg.matrix_norm(w.reshape(shape[0], -1), ord=2)


@pytest.mark.parametrize(
    "shape",
    [(16, 16, 3, 3), (16, 1, 3, 3), (64, 256), (64, 32)],
    ids=["wide-conv", "tall-stem-conv", "wide-linear", "tall-linear"],
)
def test_retraction_converges_monotonically(shape: tuple[int, ...]) -> None:
    w = _random_start(shape, seed=0)
    errors = [orthogonality_error(w)]
    for _ in range(200):
        retract_(w, beta=0.1)
        errors.append(orthogonality_error(w))
    assert errors[0] > 0.3
    assert all(a > b for a, b in itertools.pairwise(errors[:51]))
    assert errors[-1] < 1e-3


def test_default_beta_lowers_error_every_step() -> None:
    w = _random_start((32, 16, 3, 3), seed=1)
    errors = [orthogonality_error(w)]
    for _ in range(20):
        retract_(w, beta=3e-4)
        errors.append(orthogonality_error(w))
    assert all(a > b for a, b in itertools.pairwise(errors))
    # The pull is weak: rate 1 - 2 beta per pass near sigma = 1.
    assert errors[-1] > 0.9 * errors[0]


def test_tall_retraction_is_the_same_formula() -> None:
    w = _random_start((16, 9), seed=2)
    expected = 1.1 * w - 0.1 * (w @ w.T) @ w
    retract_(w, beta=0.1)
    torch.testing.assert_close(w, expected, atol=1e-6, rtol=1e-5)


def test_retraction_keeps_dtype_and_runs_without_grad() -> None:
    w = nn.Parameter(_random_start((8, 72), seed=3).double())
    retract_(w, beta=0.1, passes=3)
    assert w.dtype == torch.float64 and w.grad is None


def test_row_subsampling_is_seeded_and_converges() -> None:
    results = []
    for _ in range(2):
        w = _random_start((32, 144), seed=4)
        g = torch.Generator().manual_seed(7)
        for _ in range(400):
            retract_(w, beta=0.1, row_fraction=0.5, generator=g)
        results.append(w)
    assert torch.equal(results[0], results[1])
    assert orthogonality_error(results[0]) < 1e-3


def test_parseval_layers_start_orthonormal() -> None:
    assert orthogonality_error(ParsevalConv2d(16, 32, 3, padding=1).weight) < 1e-5
    assert orthogonality_error(ParsevalConv2d(1, 16, 3, padding=1).weight) < 1e-5  # tall
    assert orthogonality_error(ParsevalLinear(1024, 256).weight) < 1e-5


def _conv_norm(conv: nn.Conv2d, size: int = 32) -> float:
    return conv_operator_norm(
        conv_weight(conv), (conv.in_channels, size, size), stride=conv.stride, padding=conv.padding,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def test_orthonormal_unfolded_kernel_is_not_enough() -> None:
    # The study's weakness: W W^T = I for the unfolded 3x3 kernel, yet the conv has norm > 1.
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    nn.init.orthogonal_(conv.weight)
    assert orthogonality_error(conv.weight) < 1e-5
    assert 1.5 < _conv_norm(conv) < 2.2


@pytest.mark.parametrize(
    ("cin", "cout", "stride"), [(16, 16, 1), (1, 16, 1), (16, 32, 2), (64, 64, 1)]
)
def test_parseval_conv_is_one_lipschitz(cin: int, cout: int, stride: int) -> None:
    torch.manual_seed(0)
    plain = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
    nn.init.kaiming_normal_(plain.weight, mode="fan_out", nonlinearity="relu")
    parseval = ParsevalConv2d(cin, cout, 3, stride=stride, padding=1)
    assert _conv_norm(plain) > 1.3
    assert _conv_norm(parseval) <= 1.05


def test_parseval_conv_stays_near_one_through_training() -> None:
    """Same SGD on both layers; only the Parseval one is retracted after each step."""
    torch.manual_seed(0)
    plain = nn.Conv2d(16, 16, 3, padding=1, bias=False)
    parseval = ParsevalConv2d(16, 16, 3, padding=1, beta=0.1)
    plain.weight.data.copy_(parseval.effective_weight.detach())
    x = torch.rand(8, 16, 16, 16)
    for layer in (plain, parseval):
        opt = torch.optim.SGD(layer.parameters(), lr=0.05)
        for _ in range(20):
            # Push toward a larger output: the direction that breaks 1-Lipschitzness.
            loss = -layer(x).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if isinstance(layer, ParsevalConv2d):
                layer.project_()
    assert _conv_norm(plain, 16) > 1.3
    assert _conv_norm(parseval, 16) <= 1.05
    assert orthogonality_error(parseval.weight) < 0.05


def test_simplex_projection_of_arbitrary_values() -> None:
    g = torch.Generator().manual_seed(0)
    v = 10 * torch.randn(500, 2, generator=g)
    w = project_simplex(v)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(dim=-1), torch.ones(500), atol=1e-6, rtol=0)
    torch.testing.assert_close(project_simplex(w), w, atol=1e-6, rtol=0)  # idempotent
    # Optimality: no random simplex point is closer to v than its projection.
    u = project_simplex(torch.rand(500, 2, generator=g) * 3)
    assert ((v - w).norm(dim=-1) <= (v - u).norm(dim=-1) + 1e-6).all()


@pytest.mark.parametrize(
    ("v", "expected"),
    [([0.5, 0.5], [0.5, 0.5]), ([2.0, 0.0], [1.0, 0.0]), ([0.3, -0.2], [0.75, 0.25]),
     ([-1.0, -3.0], [1.0, 0.0]), ([0.2, 0.2, 0.2], [1 / 3, 1 / 3, 1 / 3])],
)  # fmt: skip
def test_simplex_projection_toy_values(v: list[float], expected: list[float]) -> None:
    torch.testing.assert_close(project_simplex(torch.tensor(v)), torch.tensor(expected))


@pytest.mark.parametrize("mode", ["simplex", "sigmoid"])
def test_convex_merge_stays_convex_after_steps(mode: str) -> None:
    merge = ConvexMerge(mode)
    torch.testing.assert_close(merge.coefficients().detach(), torch.tensor([0.5, 0.5]))
    opt = torch.optim.SGD(merge.parameters(), lr=5.0)
    a, b = torch.ones(4), 3 * torch.ones(4)
    for _ in range(5):
        loss = -merge(a, b).sum()  # pushes the branch weight up without bound
        opt.zero_grad()
        loss.backward()
        opt.step()
        merge.project_()
        w = merge.coefficients().detach()
        assert (w >= 0).all() and float(w.sum()) == pytest.approx(1.0, abs=1e-6)
    assert float(merge.coefficients().detach()[1]) > 0.9


def test_apply_constraints_is_a_noop_for_plain_models() -> None:
    model = create_model("wrn_16_1")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.apply_constraints()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.constrained_modules() == []


def test_parseval_model_constrains_the_documented_layers() -> None:
    model = create_model("parseval_wrn_16_1")
    names = {n for n, _ in model.constrained_modules()}
    assert "stem" in names and "blocks.2.shortcut" in names and "blocks.5.merge" in names
    assert "classifier" not in names  # the paper leaves the classifier out
    assert "classifier" in {
        n
        for n, _ in create_model(
            "parseval_wrn_16_1", constrain_classifier=True
        ).constrained_modules()
    }
    cnn = {n for n, _ in create_model("parseval_cnn").constrained_modules()}
    assert cnn == {"stages.0.conv", "stages.1.conv", "stages.2.conv", "stages.3.conv", "hidden"}
