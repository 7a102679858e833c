"""Training regimes, one object each in one registry (`REGIMES`): standard, augment (aim 1),
adversarial (aim 2), certified, pgd, trades, fgsm-rs. `base.Regime` says what a regime is;
one module per regime defines it; `registry` registers them.

The functions below apply a config's regime (`RegimeConfig.kind`) where the caller holds a
config rather than a regime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from robusteye.train.regimes.adversarial import draw_eps
from robusteye.train.regimes.augment import perturbed_copies
from robusteye.train.regimes.base import ATTACK_FIELDS, Regime
from robusteye.train.regimes.fgsm_rs import FGSM_RS_STEP
from robusteye.train.regimes.registry import (
    REGIMES,
    attack_regimes,
    get_regime,
    register_regime,
    report_rank,
    unregister_regime,
)
from robusteye.train.regimes.trades import trades_loss

if TYPE_CHECKING:
    from robusteye.models import EyeModel
    from robusteye.train.config import RegimeConfig

__all__ = [
    "ATTACK_FIELDS",
    "FGSM_RS_STEP",
    "REGIMES",
    "Regime",
    "adversarial_batch",
    "attack_regimes",
    "check_regime_model",
    "draw_eps",
    "get_regime",
    "perturbed_copies",
    "regime_loss",
    "register_regime",
    "report_rank",
    "trades_loss",
    "unregister_regime",
]


def adversarial_batch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    regime: RegimeConfig,
    generator: torch.Generator,
    scale: float = 1.0,
) -> Tensor:
    """The batch `regime` trains on, crafted on the current model with eps times `scale`
    (the warm-up): `adversarial` replaces a `fraction` of the rows, `pgd` and `fgsm-rs` all
    of them, the others none."""
    return get_regime(regime.kind).perturb(model, x, y, regime, generator, scale)


def regime_loss(
    logits: Tensor, y: Tensor, regime: RegimeConfig, label_smoothing: float = 0.0
) -> Tensor:
    """The loss of the logits under `regime` (TRADES' whole loss is `trades_loss`)."""
    return get_regime(regime.kind).criterion(logits, y, regime, label_smoothing)


def check_regime_model(regime: RegimeConfig, model: EyeModel) -> None:
    """Refuse a model `regime` cannot train (the certified regime: not 1-Lipschitz)."""
    get_regime(regime.kind).check_model(regime, model)
