"""`trades` (Zhang et al. 2019): cross entropy on the clean batch plus `beta` times the KL
divergence between the clean and the adversarial prediction, the adversarial point the
maximiser of that KL found by `pgd_steps` L-inf steps in the `eps` ball."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.attacks import attack_mode
from robusteye.train.regimes.base import Regime, warmup_tag

if TYPE_CHECKING:
    from robusteye.train.config import RegimeConfig


class Trades(Regime):
    name = "trades"
    fields = ("eps", "pgd_steps", "beta")
    grid_keys = ("eps", "pgd_steps", "beta", "eps_warmup", "awp_gamma")
    scalar_keys = ("overfit_drop",)
    attacks_model = True
    rank = 5
    report_rank = 4

    def tag(self, r: RegimeConfig) -> str:
        return f"trades-k{r.pgd_steps}-b{r.beta:g}-e{r.eps:g}{warmup_tag(r)}"

    def label(self, r: RegimeConfig) -> str:
        return f"TRADES: beta {r.beta:g}, PGD-{r.pgd_steps} eps {r.eps:g}"

    def loss(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        r: RegimeConfig,
        generator: torch.Generator,
        scale: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> tuple[Tensor, Tensor]:
        return trades_loss(model, x, y, r, generator, scale, label_smoothing)


def trades_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    regime: RegimeConfig,
    generator: torch.Generator,
    scale: float = 1.0,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """TRADES: (CE(f(x), y) + beta KL(f(x) || f(x')), the clean logits).

    x' maximises the KL in the L-inf ball of eps (times `scale`): `pgd_steps` sign steps of
    2.5 eps / steps from x plus a small Gaussian (0.001), the model in eval mode as in the
    authors' code; the loss is then taken in training mode.
    """
    eps = regime.eps * scale
    x_adv = x
    if eps > 0:
        with attack_mode(model):
            p_clean = F.softmax(model(x), dim=1).detach()
            start = 0.001 * torch.randn(x.shape, generator=generator, dtype=x.dtype)
            x_adv = (x + start.to(x.device)).clamp(0.0, 1.0)
            step = 2.5 * eps / regime.pgd_steps
            for _ in range(regime.pgd_steps):
                with torch.enable_grad():
                    xg = x_adv.detach().requires_grad_(True)
                    kl = F.kl_div(F.log_softmax(model(xg), dim=1), p_clean, reduction="sum")
                    (grad,) = torch.autograd.grad(kl, xg)
                x_adv = x_adv.detach() + step * grad.sign()
                x_adv = torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0.0, 1.0)
    logits = model(x)
    natural = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    if eps == 0 or regime.beta == 0:
        return natural, logits
    adv_logp = F.log_softmax(model(x_adv.detach()), dim=1)
    robust = F.kl_div(adv_logp, F.softmax(logits, dim=1), reduction="batchmean")
    return natural + regime.beta * robust, logits


REGIME = Trades()
