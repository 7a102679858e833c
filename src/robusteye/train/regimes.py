"""What the regimes do: per-batch adversarial examples (aim 2, PGD-AT, FGSM-RS), the one-off
perturbed copies added to the training set (aim 1), and the loss (label smoothing, the
certified regime's margin, TRADES' clean-plus-KL)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.attacks import ATTACKS, attack_mode, pgd
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


#: FGSM-RS's step, in units of eps (Wong et al. 2020)
FGSM_RS_STEP = 1.25


def adversarial_batch(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    regime: RegimeConfig,
    generator: torch.Generator,
    scale: float = 1.0,
) -> Tensor:
    """The batch a regime that replaces examples trains on, crafted on the current model
    with eps times `scale` (the warm-up): `adversarial` replaces a `fraction` of the rows,
    `pgd` and `fgsm-rs` all of them."""
    if regime.kind in ("pgd", "fgsm-rs"):
        eps = regime.eps * scale
        if eps == 0:
            return x
        steps, alpha = (regime.pgd_steps, None) if regime.kind == "pgd" else (1, FGSM_RS_STEP * eps)
        return pgd(model, x, y, eps, steps=steps, alpha=alpha, best=False, generator=generator)
    n = x.shape[0]
    k = round(regime.fraction * n)
    if k == 0:
        return x
    rows = torch.randperm(n, generator=generator)[:k].to(x.device)
    eps_k = draw_eps(k, regime, generator).to(x.device, x.dtype) * scale
    attack = ATTACKS[regime.attack]
    adv = attack(model, x[rows], y[rows], eps_k, generator=generator, **regime.attack_options())
    out = x.clone()
    out[rows] = adv
    return out


def trades_loss(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    regime: RegimeConfig,
    generator: torch.Generator,
    scale: float = 1.0,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """TRADES (Zhang et al. 2019): (CE(f(x), y) + beta KL(f(x) || f(x')), the clean logits).

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


def check_regime_model(regime: RegimeConfig, model: EyeModel) -> None:
    """Refuse a regime the model cannot take: the certified regime's margin is a certificate
    only for models that are 1-Lipschitz by construction."""
    if regime.kind == "certified" and not model.one_lipschitz:
        raise UsageError(
            "the certified regime trains models that are 1-Lipschitz by construction "
            f"(lipschitz_cnn); {model.config.name} is not"
        )


def regime_loss(
    logits: Tensor, y: Tensor, regime: RegimeConfig, label_smoothing: float = 0.0
) -> Tensor:
    """The training loss (TRADES' is `trades_loss`): cross entropy with `label_smoothing`, or
    for the certified regime the Lipschitz-margin loss, cross entropy on
    `(z - sqrt(2) radius e_y) / T`, times T (so its gradients keep the scale of plain cross
    entropy as T changes)."""
    if regime.kind != "certified":
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    offset = math.sqrt(2.0) * regime.radius * F.one_hot(y, logits.shape[1]).to(logits.dtype)
    t = regime.temperature
    return F.cross_entropy((logits - offset) / t, y, label_smoothing=label_smoothing) * t


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
