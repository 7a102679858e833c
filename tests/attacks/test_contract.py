"""One contract for every attack: eps ball, [0, 1], no side effects, determinism, damage."""

from __future__ import annotations

import copy

import pytest
import torch

from robusteye.attacks import ATTACKS, run_attack
from robusteye.errors import UsageError

EPS = 0.08


def _acc(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_within_eps_and_unit_range(name, trained_toy, toy_data):
    x, y = toy_data
    x_adv = run_attack(name, trained_toy, x, y, EPS, generator=torch.Generator().manual_seed(0))
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype and x_adv.device == x.device
    assert float((x_adv - x).abs().max()) <= EPS + 1e-6
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert not x_adv.requires_grad and x_adv.grad_fn is None
    assert float((x_adv - x).abs().max()) > 0.5 * EPS  # it did perturb


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("training", [True, False])
def test_no_side_effects(name, trained_toy, toy_data, training):
    model = copy.deepcopy(trained_toy).train(training)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = toy_data
    x_before = x.clone()
    run_attack(name, model, x, y, EPS, generator=torch.Generator().manual_seed(0))
    assert model.training is training
    for k, v in model.state_dict().items():  # includes BatchNorm running stats
        assert torch.equal(v, state[k]), k
    assert all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
    assert torch.equal(x, x_before)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_deterministic_for_a_seed(name, trained_toy, toy_data):
    x, y = toy_data
    a = run_attack(name, trained_toy, x, y, EPS, generator=torch.Generator().manual_seed(5))
    b = run_attack(name, trained_toy, x, y, EPS, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


@pytest.mark.parametrize(("name", "eps"), [("fgsm", 0.08), ("pgd", 0.08), ("noise", 0.8)])
def test_accuracy_drops(name, eps, trained_toy, toy_data):
    x, y = toy_data
    clean = _acc(trained_toy, x, y)
    assert clean > 0.95
    x_adv = run_attack(name, trained_toy, x, y, eps, generator=torch.Generator().manual_seed(0))
    assert _acc(trained_toy, x_adv, y) < clean - 0.1


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_bad_input_is_refused_not_clamped(name, trained_toy, toy_data):
    x, y = toy_data
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        run_attack(name, trained_toy, x * 2.0, y, EPS)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(UsageError, match="NaN"):
        run_attack(name, trained_toy, bad, y, EPS)
    with pytest.raises(UsageError, match="eps"):
        run_attack(name, trained_toy, x, y, -0.1)


@pytest.mark.parametrize("name", ["fgsm", "pgd"])
def test_labels_are_required(name, trained_toy, toy_data):
    x, _ = toy_data
    with pytest.raises(UsageError, match="labels are required"):
        run_attack(name, trained_toy, x, None, EPS)


def test_unknown_attack_lists_known():
    with pytest.raises(UsageError, match="known: fgsm, noise, pgd"):
        run_attack("cw", None, torch.zeros(1, 1, 2, 2), None, 0.1)
