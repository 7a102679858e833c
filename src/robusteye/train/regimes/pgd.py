"""`pgd` (PGD-AT, Madry et al. 2018): every example replaced by the last iterate of
`pgd_steps` L-inf PGD steps of 2.5 `eps` / steps from a random start, at `eps`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from robusteye.attacks import pgd
from robusteye.train.regimes.base import Regime, warmup_tag

if TYPE_CHECKING:
    from robusteye.train.config import RegimeConfig


class PGD(Regime):
    name = "pgd"
    fields: tuple[str, ...] = ("eps", "pgd_steps")
    grid_keys: tuple[str, ...] = ("eps", "pgd_steps", "eps_warmup", "awp_gamma")
    scalar_keys: tuple[str, ...] = ("overfit_drop",)
    attacks_model = True
    rank = 4
    report_rank = 3

    def tag(self, r: RegimeConfig) -> str:
        return f"pgd-k{r.pgd_steps}-e{r.eps:g}{warmup_tag(r)}"

    def label(self, r: RegimeConfig) -> str:
        return f"PGD-AT: PGD-{r.pgd_steps} eps {r.eps:g}"

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
        return pgd(model, x, y, eps, best=False, generator=generator, **self.steps(r, eps))

    def steps(self, r: RegimeConfig, eps: float) -> dict[str, Any]:
        """The PGD options of the training attack at `eps` (Madry's: `pgd_steps` steps of the
        attack's default size)."""
        return {"steps": r.pgd_steps}


REGIME = PGD()
