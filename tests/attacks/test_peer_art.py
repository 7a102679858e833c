"""Cross-check against the Adversarial Robustness Toolbox (dev extra; skipped if absent)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from robusteye.attacks import fgsm, pgd
from tests.toy import toy_batch

art = pytest.importorskip("art", reason="adversarial-robustness-toolbox not installed")
from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent  # noqa: E402
from art.estimators.classification import PyTorchClassifier  # noqa: E402


def _art_classifier(model):
    return PyTorchClassifier(
        model=copy.deepcopy(model),
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(1, 32, 32),
        nb_classes=2,
        clip_values=(0.0, 1.0),
        device_type="cpu",
    )


def _art_pgd(model, x, y, eps, step, *, random_init):
    """ART's L-inf PGD-10 examples, from `random_init` random starts (0: the clean image)."""
    return ProjectedGradientDescent(
        _art_classifier(model),
        norm=np.inf,
        eps=eps,
        eps_step=step,
        max_iter=10,
        num_random_init=random_init,
        verbose=False,
    ).generate(x.numpy(), y=y.numpy())


def _acc(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def test_fgsm_equals_art(trained_toy):
    x, y = toy_batch(128, seed=7)
    ours = fgsm(trained_toy, x, y, 0.03)
    theirs = FastGradientMethod(_art_classifier(trained_toy), eps=0.03, norm=np.inf).generate(
        x.numpy(), y=y.numpy()
    )
    assert float(np.abs(ours.numpy() - theirs).max()) <= 1e-6


def test_pgd_matches_art(trained_toy):
    x, y = toy_batch(400, seed=8)
    eps, step = 0.03, 0.0075
    theirs = _art_pgd(trained_toy, x, y, eps, step, random_init=0)
    ours = pgd(trained_toy, x, y, eps, alpha=step, steps=10, random_start=False, best=False)
    ours_acc, art_acc = _acc(trained_toy, ours, y), _acc(trained_toy, torch.from_numpy(theirs), y)
    assert 0.0 < art_acc < _acc(trained_toy, x, y)  # an eps where the comparison is informative
    assert abs(ours_acc - art_acc) <= 0.01
    assert float(np.abs(ours.numpy() - theirs).max()) <= 1e-6
    # the best iterate (our default) can only be stronger than ART's last iterate
    best = pgd(trained_toy, x, y, eps, alpha=step, steps=10, random_start=False)
    assert _acc(trained_toy, best, y) <= art_acc
    # a random start against ART's random start (like for like: a random start is a few
    # points weaker than none on this model, by how much depends on the trained weights)
    ours_rs = pgd(
        trained_toy, x, y, eps, alpha=step, steps=10, generator=torch.Generator().manual_seed(0)
    )
    np.random.seed(0)  # ART draws its start from numpy's global generator
    theirs_rs = _art_pgd(trained_toy, x, y, eps, step, random_init=1)
    art_rs_acc = _acc(trained_toy, torch.from_numpy(theirs_rs), y)
    assert abs(_acc(trained_toy, ours_rs, y) - art_rs_acc) <= 0.03
