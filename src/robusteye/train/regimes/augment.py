"""`augment` (the study's aim 1): `percent`% of the training set perturbed once by
`perturbation` (any attack of `ATTACKS`: "fgsm" crafted on `source` or on a standard model
trained first, or "noise", which needs no model) at `eps`, added with the true labels; then
training from scratch, with cross entropy."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from robusteye.attacks import ATTACKS
from robusteye.data import EyeDataset
from robusteye.train.regimes.base import Regime

if TYPE_CHECKING:
    from robusteye.train.config import RegimeConfig


class Augment(Regime):
    name = "augment"
    fields = ("perturbation", "eps", "percent", "source")
    grid_keys = ("perturbation", "eps", "percent")
    scalar_keys = ("source",)
    rank = report_rank = 1

    def tag(self, r: RegimeConfig) -> str:
        src = "" if r.source is None else "-src"
        return f"augment-{r.perturbation}-e{r.eps:g}-p{r.percent:g}{src}"

    def label(self, r: RegimeConfig) -> str:
        what = r.perturbation.upper() if self.needs_source(r) else r.perturbation
        return f"aim 1: +{r.percent:g}% {what} eps {r.eps:g}"

    def needs_source(self, r: RegimeConfig) -> bool:
        """A perturbation crafted on a model (anything but noise)."""
        return ATTACKS[r.perturbation].needs_model

    def prepare(
        self,
        train: EyeDataset,
        r: RegimeConfig,
        source: nn.Module | None,
        seed: int,
        log: Callable[[str], None],
    ) -> EyeDataset:
        out = perturbed_copies(train, r, source, seed)
        log(
            f"aim 1: added {len(out) - len(train)} {r.perturbation} examples "
            f"(eps {r.eps}, {r.percent:g}%)"
        )
        return out


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


REGIME = Augment()
