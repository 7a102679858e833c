from __future__ import annotations

import math

import pytest
import torch

from robusteye.attacks import eps_for_snr, fgsm, mean_snr_db, pgd, snr_db, uniform_noise
from robusteye.attacks.snr import snr_db_per_image
from robusteye.errors import UsageError


def test_snr_toy_values():
    x = torch.ones(1, 1, 2, 2)  # ||X|| = 2
    assert snr_db(x, x - 0.02) == pytest.approx(20 * math.log10(2 / 0.04))  # 33.98 dB
    assert snr_db(x, x) == math.inf
    x2 = torch.stack([torch.ones(1, 2, 2), torch.ones(1, 2, 2)])
    x2_adv = x2.clone()
    x2_adv[0] -= 0.1
    per = snr_db_per_image(x2, x2_adv)
    assert float(per[0]) == pytest.approx(20.0) and math.isinf(float(per[1]))
    assert mean_snr_db(x2, x2_adv) == pytest.approx(20.0)


@pytest.mark.parametrize("target", [45.0, 33.0, 25.0])
@pytest.mark.parametrize("attack", ["fgsm", "noise"])
def test_eps_for_snr_hits_the_target(trained_toy, toy_data, attack, target):
    x, y = toy_data
    eps = eps_for_snr(trained_toy, x, y, target, attack=attack, seed=4)
    if attack == "fgsm":
        x_adv = fgsm(trained_toy, x, y, eps)
    else:
        x_adv = uniform_noise(x, eps, generator=torch.Generator().manual_seed(4))
    assert snr_db(x, x_adv) == pytest.approx(target, abs=0.1)


def test_eps_for_snr_with_clipping_active(trained_toy):
    # bright images: many pixels at 1, so clipping removes part of the step
    x = torch.ones(32, 1, 32, 32)
    x[:, :, :16] = 0.5
    y = torch.zeros(32, dtype=torch.int64)
    eps = eps_for_snr(trained_toy, x, y, 12.0, attack="fgsm")
    assert snr_db(x, fgsm(trained_toy, x, y, eps)) == pytest.approx(12.0, abs=0.1)


def test_eps_for_snr_pgd(trained_toy, toy_data):
    x, y = toy_data
    eps = eps_for_snr(trained_toy, x[:64], y[:64], 35.0, attack="pgd", steps=3, seed=0)
    x_adv = pgd(
        trained_toy, x[:64], y[:64], eps, steps=3, generator=torch.Generator().manual_seed(0)
    )
    assert snr_db(x[:64], x_adv) == pytest.approx(35.0, abs=0.1)


def test_impossible_snr_is_refused(trained_toy, toy_data):
    x, y = toy_data
    with pytest.raises(UsageError, match="cannot reach"):
        eps_for_snr(trained_toy, x, y, -20.0, attack="fgsm")
    with pytest.raises(UsageError, match="finite"):
        eps_for_snr(trained_toy, x, y, float("nan"))


def test_the_linf_ball_of_an_snr_comes_from_the_images() -> None:
    from robusteye.attacks import linf_ball_eps_for_snr, linf_ball_noise

    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 1, 32, 32, generator=g)
    for target in (35.0, 25.0, 12.0):  # no pixel clips: eps = rms(x) 10^(-SNR/20)
        eps = linf_ball_eps_for_snr(x, target)
        assert math.isclose(eps, float(x.pow(2).mean().sqrt()) * 10 ** (-target / 20), rel_tol=1e-6)
    # beyond eps 0.5 pixels run out of room on both sides: the bisection takes clipping in
    eps = linf_ball_eps_for_snr(x, 0.5)
    assert eps > 0.5
    got = 10 * math.log10(float(x.double().pow(2).sum()) / float(linf_ball_noise(x, eps)))
    assert abs(got - 0.5) <= 0.01
    with pytest.raises(UsageError, match="no L-inf ball reaches"):
        linf_ball_eps_for_snr(x, -20.0)
