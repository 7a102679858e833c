"""Square: within eps, seeded, early stop per example, and effective where gradients are
useless."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from robusteye.attacks import pgd, square
from robusteye.attacks.square import square_fraction
from robusteye.errors import UsageError
from tests.toy import toy_batch


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


class Counting(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.rows = inner, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.rows += x.shape[0]
        return self.inner(x)


class Quantised(nn.Module):
    """Inputs rounded to 8 grey levels: the gradient through `round` is zero everywhere."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(torch.round(x * 7) / 7)


def test_within_eps_and_seeded(trained_toy: nn.Module) -> None:
    x, y = toy_batch(64, seed=3)
    a = square(trained_toy, x, y, 0.03, queries=100, generator=torch.Generator().manual_seed(2))
    b = square(trained_toy, x, y, 0.03, queries=100, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    assert float((a - x).abs().max()) <= 0.03 + 1e-6
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_lowers_accuracy(trained_toy: nn.Module) -> None:
    x, y = toy_batch(200, seed=8)
    x_adv = square(trained_toy, x, y, 0.05, queries=300, generator=torch.Generator().manual_seed(0))
    assert _acc(trained_toy, x_adv, y) < 0.2 < _acc(trained_toy, x, y)


def test_broken_points_stop_costing_queries(trained_toy: nn.Module) -> None:
    counting = Counting(trained_toy).eval()
    x, y = toy_batch(64, seed=3)
    square(counting, x, y, 0.05, queries=200, generator=torch.Generator().manual_seed(0))
    assert counting.rows < 0.5 * 64 * 200  # at eps 0.05 most points break early


def test_works_where_gradients_are_zero(trained_toy: nn.Module) -> None:
    model = Quantised(trained_toy).eval()
    x, y = toy_batch(200, seed=8)
    clean = _acc(model, x, y)
    g = torch.Generator().manual_seed(0)
    assert (
        _acc(model, pgd(model, x, y, 0.06, steps=10, generator=g, random_start=False), y) == clean
    )
    assert _acc(model, square(model, x, y, 0.06, queries=300, generator=g), y) < clean - 0.3


def test_schedule_and_options() -> None:
    assert square_fraction(0.8, 0, 10000) == 0.8
    assert square_fraction(0.8, 100, 10000) == pytest.approx(0.2)
    assert square_fraction(0.8, 500, 1000) == pytest.approx(0.8 / 128)
    x, y = toy_batch(4, seed=3)
    with pytest.raises(UsageError, match="linf' only"):
        square(nn.Flatten(), x, y, 0.1, norm="l2")
