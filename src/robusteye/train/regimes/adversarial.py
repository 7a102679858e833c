"""`adversarial` (the study's aim 2): in every batch a `fraction` of the examples is replaced by
`attack` examples (a gradient attack of `ATTACKS`, `pgd_steps` steps where it takes steps)
crafted on the current model, eps per example uniform in [`eps_min`, `eps_max`] (or drawn
from `eps_choices` when given)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from robusteye.attacks import ATTACKS
from robusteye.train.regimes.base import Regime, awp_tag

if TYPE_CHECKING:
    from robusteye.train.config import RegimeConfig


class Adversarial(Regime):
    name = "adversarial"
    fields = ("fraction", "attack", "eps_min", "eps_max", "eps_choices", "pgd_steps")
    grid_keys = ("fraction", "attack", "eps_min", "eps_max", "pgd_steps", "awp_gamma")
    scalar_keys = ("eps_choices", "eps_warmup", "overfit_drop")
    attacks_model = True
    rank = report_rank = 2

    def tag(self, r: RegimeConfig) -> str:
        eps = (
            "c" + "_".join(f"{e:g}" for e in r.eps_choices)
            if r.eps_choices
            else f"e{r.eps_min:g}-{r.eps_max:g}"
        )
        steps = f"-k{r.pgd_steps}" if "steps" in attack_options(r) else ""
        return f"adversarial-{r.attack}{steps}-{eps}-f{r.fraction:g}{awp_tag(r)}"

    def label(self, r: RegimeConfig) -> str:
        eps = (
            "/".join(f"{e:g}" for e in r.eps_choices)
            if r.eps_choices
            else f"{r.eps_min:g}-{r.eps_max:g}"
        )
        return f"adversarial: {r.attack.upper()} eps {eps}, {r.fraction:.0%} of each batch"

    def train_eps(self, r: RegimeConfig) -> float | None:
        return max(r.eps_choices) if r.eps_choices else r.eps_max

    def perturb(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        r: RegimeConfig,
        generator: torch.Generator,
        scale: float = 1.0,
    ) -> Tensor:
        """`x` with a `fraction` of its rows replaced by adversarial examples."""
        n = x.shape[0]
        k = round(r.fraction * n)
        if k == 0:
            return x
        rows = torch.randperm(n, generator=generator)[:k].to(x.device)
        eps_k = draw_eps(k, r, generator).to(x.device, x.dtype) * scale
        attack = ATTACKS[r.attack]
        adv = attack(model, x[rows], y[rows], eps_k, generator=generator, **attack_options(r))
        out = x.clone()
        out[rows] = adv
        return out


def draw_eps(n: int, regime: RegimeConfig, generator: torch.Generator) -> Tensor:
    """One eps per example: uniform in [eps_min, eps_max], or drawn from `eps_choices`."""
    if regime.eps_choices:
        choices = torch.tensor(regime.eps_choices, dtype=torch.float64)
        return choices[torch.randint(len(choices), (n,), generator=generator)]
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return regime.eps_min + (regime.eps_max - regime.eps_min) * u


def attack_options(regime: RegimeConfig) -> dict[str, Any]:
    """Options of the regime's attack: `pgd_steps` where it takes steps, and the last iterate
    (Madry's training attack) where it would keep the best one."""
    names = ATTACKS[regime.attack].options
    opts: dict[str, Any] = {"steps": regime.pgd_steps} if "steps" in names else {}
    return {**opts, "best": False} if "best" in names else opts


REGIME = Adversarial()
