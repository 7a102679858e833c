"""`fgsm-rs` (Wong et al. 2020, "Fast is better than free"): one FGSM step of 1.25 `eps` from
a uniform random start in the ball, projected back; fast, and prone to catastrophic
overfitting, which the robust check detects (`overfit_drop`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from robusteye.attacks import pgd
from robusteye.train.regimes.base import Regime, warmup_tag

if TYPE_CHECKING:
    from robusteye.train.config import RegimeConfig

#: FGSM-RS's step, in units of eps (Wong et al. 2020)
FGSM_RS_STEP = 1.25


class FGSMRS(Regime):
    name = "fgsm-rs"
    fields = ("eps",)
    grid_keys = ("eps", "eps_warmup", "overfit_drop")
    attacks_model = True
    rank = 6
    report_rank = 5

    def tag(self, r: RegimeConfig) -> str:
        return f"fgsm-rs-e{r.eps:g}{warmup_tag(r)}"

    def label(self, r: RegimeConfig) -> str:
        return f"FGSM-RS: eps {r.eps:g}"

    def perturb(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        r: RegimeConfig,
        generator: torch.Generator,
        scale: float = 1.0,
    ) -> Tensor:
        eps = r.eps * scale
        if eps == 0:
            return x
        alpha = FGSM_RS_STEP * eps
        return pgd(model, x, y, eps, steps=1, alpha=alpha, best=False, generator=generator)


REGIME = FGSMRS()
