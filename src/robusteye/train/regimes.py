"""What the regimes do: per-batch adversarial replacement (aim 2), the one-off perturbed
copies added to the training set (aim 1), and the loss (the certified regime's margin)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.attacks import ATTACKS
from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.models import EyeModel
from robusteye.train.config import RegimeConfig


def draw_eps(n: int, regime: RegimeConfig, generator: torch.Generator) -> Tensor:
    """One eps per example: uniform in [eps_min, eps_max], or drawn from `eps_choices`."""
    if regime.eps_choices:
        choices = torch.tensor(regime.eps_choices, dtype=torch.float64)
        return choices[torch.randint(len(choices), (n,), generator=generator)]
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return regime.eps_min + (regime.eps_max - regime.eps_min) * u


def adversarial_batch(
    model: nn.Module, x: Tensor, y: Tensor, regime: RegimeConfig, generator: torch.Generator
) -> Tensor:
    """`x` with a `fraction` of its rows replaced by examples crafted on the current model."""
    n = x.shape[0]
    k = round(regime.fraction * n)
    if k == 0:
        return x
    rows = torch.randperm(n, generator=generator)[:k].to(x.device)
    eps = draw_eps(k, regime, generator).to(x.device, x.dtype)
    attack = ATTACKS[regime.attack]
    adv = attack(model, x[rows], y[rows], eps, generator=generator, **regime.attack_options())
    out = x.clone()
    out[rows] = adv
    return out


def check_regime_model(regime: RegimeConfig, model: EyeModel) -> None:
    """Refuse a regime the model cannot take: the certified regime's margin is a certificate
    only for models that are 1-Lipschitz by construction."""
    if regime.kind == "certified" and not model.one_lipschitz:
        raise UsageError(
            "the certified regime trains models that are 1-Lipschitz by construction "
            f"(lipschitz_cnn); {model.config.name} is not"
        )


def regime_loss(logits: Tensor, y: Tensor, regime: RegimeConfig) -> Tensor:
    """The training loss: cross entropy, or for the certified regime the Lipschitz-margin
    loss, cross entropy on `(z - sqrt(2) radius e_y) / T`, times T (so its gradients keep
    the scale of plain cross entropy as T changes)."""
    if regime.kind != "certified":
        return F.cross_entropy(logits, y)
    offset = math.sqrt(2.0) * regime.radius * F.one_hot(y, logits.shape[1]).to(logits.dtype)
    t = regime.temperature
    return F.cross_entropy((logits - offset) / t, y) * t


def perturbed_copies(
    train: EyeDataset, regime: RegimeConfig, source: nn.Module | None, seed: int
) -> EyeDataset:
    """Aim 1: `train` plus perturbed copies of `percent`% of it, with their true labels."""
    g = torch.Generator().manual_seed(seed)
    k = max(1, round(len(train) * regime.percent / 100.0))
    rows = torch.randperm(len(train), generator=g)[:k].sort().values
    x, y = train.images[rows], train.labels[rows]
    if regime.needs_source:
        assert source is not None, f"{regime.perturbation} augmentation needs a source model"
    adv = ATTACKS[regime.perturbation](source, x, y, regime.eps, generator=g).cpu()
    idx = rows.tolist()
    return EyeDataset(
        images=torch.cat([train.images, adv]),
        labels=torch.cat([train.labels, y]),
        classes=train.classes,
        persons=train.persons + tuple(train.persons[i] for i in idx),
        sources=None
        if train.sources is None
        else train.sources + tuple(f"{train.sources[i]}#{regime.perturbation}" for i in idx),
        meta={**train.meta, "augmented": regime.summary()},
    )
