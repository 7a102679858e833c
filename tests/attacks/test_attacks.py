from __future__ import annotations

import pytest
import torch
from torch import nn

from robusteye.attacks import fgsm, pgd, uniform_noise


def test_fgsm_on_a_linear_model_matches_the_hand_worked_step():
    # logits = W x; for CE the input gradient is W^T (softmax(Wx) - onehot(y)).
    torch.manual_seed(0)
    lin = nn.Linear(16, 3, bias=False)
    model = nn.Sequential(nn.Flatten(), lin)
    x = torch.rand(5, 1, 4, 4) * 0.5 + 0.25
    y = torch.tensor([0, 1, 2, 1, 0])
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
        grad = (p - nn.functional.one_hot(y, 3).float()) @ lin.weight
    expected = (x + 0.1 * grad.view_as(x).sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(model, x, y, 0.1), expected, rtol=0, atol=1e-7)
    targeted = fgsm(model, x, y, 0.1, targeted=True)
    torch.testing.assert_close(
        targeted, (x - 0.1 * grad.view_as(x).sign()).clamp(0, 1), rtol=0, atol=1e-7
    )


def test_per_example_eps(trained_toy, toy_data):
    x, y = toy_data
    eps = torch.linspace(0.0, 0.05, x.shape[0])
    x_adv = fgsm(trained_toy, x, y, eps)
    per = (x_adv - x).abs().flatten(1).max(1).values
    assert torch.all(per <= eps + 1e-6)
    assert float(per[0]) == 0.0


def test_chunking_does_not_change_the_result(trained_toy, toy_data):
    x, y = toy_data[0][:40], toy_data[1][:40]
    whole = fgsm(trained_toy, x, y, 0.05, chunk_size=10_000)
    torch.testing.assert_close(fgsm(trained_toy, x, y, 0.05, chunk_size=16), whole)
    g = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    a = pgd(trained_toy, x, y, 0.05, steps=3, generator=g(), chunk_size=10_000)
    torch.testing.assert_close(
        pgd(trained_toy, x, y, 0.05, steps=3, generator=g(), chunk_size=16), a
    )


def test_pgd_is_at_least_as_strong_as_fgsm(trained_toy, toy_data):
    x, y = toy_data

    def acc(xa):
        with torch.no_grad():
            return float((trained_toy(xa).argmax(1) == y).float().mean())

    eps = 0.025
    fgsm_acc = acc(fgsm(trained_toy, x, y, eps))
    assert 0.0 < fgsm_acc < 1.0  # an eps where the comparison means something
    assert acc(pgd(trained_toy, x, y, eps, steps=10)) <= fgsm_acc


def test_pgd_l2_stays_in_the_l2_ball(trained_toy, toy_data):
    x, y = toy_data
    x_adv = pgd(
        trained_toy, x, y, 0.5, norm="l2", steps=5, generator=torch.Generator().manual_seed(0)
    )
    norms = (x_adv - x).flatten(1).norm(dim=1)
    assert float(norms.max()) <= 0.5 + 1e-5
    assert float(norms.mean()) > 0.25


def test_noise_is_uniform_in_the_box():
    x = torch.full((64, 1, 32, 32), 0.5)
    out = uniform_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    delta = out - x
    assert float(delta.abs().max()) <= 0.1 + 1e-7
    assert abs(float(delta.mean())) < 2e-3
    assert float(delta.std()) == pytest.approx(0.1 / 3**0.5, rel=0.02)  # U(-a, a) std a/sqrt 3
