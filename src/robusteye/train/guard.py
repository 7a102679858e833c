"""The attack regimes' robust check, the choice of `best/` it makes, and the guard against
catastrophic overfitting with its roll-back.

Each epoch of an attack regime (`Regime.attacks_model`), the first `TrainConfig.robust_val`
validation images (training images without a validation set) are attacked by PGD-10 at the
regime's training eps, its PGD starts drawn from a generator seeded afresh every epoch; their
clean accuracy is measured beside it. That robust accuracy picks `best/`, and when it
collapses (`RobustGuard.collapsed`) the trainer restores the snapshot taken before the epoch
and stops.

A run whose final clean accuracy is no better than always answering the largest class did
not learn (`did_not_learn`): it is reported as that, never as a collapse.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from robusteye.attacks import pgd
from robusteye.data import EyeDataset
from robusteye.evaluate import Metrics, predict_logits
from robusteye.models import EyeModel
from robusteye.train.config import TrainConfig
from robusteye.train.curves import EpochRecord
from robusteye.train.state import RunParts

#: the robust check: PGD steps, and the seed offset of its generator
ROBUST_CHECK_STEPS = 10
_ROBUST_SEED = 7919
#: a collapse leaves the robust accuracy under this share of the clean accuracy
COLLAPSE_SHARE = 0.5
#: a final clean accuracy within this of the largest class's share is no learning
LEARNING_MARGIN = 0.05


@dataclass(frozen=True)
class Check:
    """One epoch's robust check: accuracy under PGD-10 and clean, on the same images."""

    robust: float = math.nan
    clean: float = math.nan


def majority_share(labels: torch.Tensor) -> float:
    """The share of the largest class in `labels`: the accuracy of always answering it."""
    if labels.numel() == 0:
        return math.nan
    return float(torch.bincount(labels.long()).max()) / labels.numel()


def did_not_learn(clean: float, chance: float, margin: float = LEARNING_MARGIN) -> bool:
    """Whether a final clean accuracy is no better than always answering the largest class
    (`chance`, `majority_share`) by more than `margin`. Images of which one class makes up
    more than `1 - 2 margin` cannot tell the two apart: no verdict (False)."""
    if not (math.isfinite(clean) and math.isfinite(chance)) or chance > 1 - 2 * margin:
        return False
    return clean <= chance + margin


def final_clean(
    history: Sequence[EpochRecord],
    vm: Metrics | None,
    val: EyeDataset | None,
    train: EyeDataset,
    robust_val: int,
) -> tuple[float, float]:
    """A run's final clean accuracy and the largest class's share of the same images:
    validation, else the robust check's images (its first `robust_val` training images),
    else the last epoch's training batches."""
    if vm is not None and val is not None:
        return vm.accuracy, majority_share(val.labels)
    kept = [r for r in history if not r.collapsed]  # a rolled-back epoch is not kept
    if not kept:
        return math.nan, math.nan
    last = kept[-1]
    if math.isfinite(last.check_acc):
        return last.check_acc, majority_share(train.labels[:robust_val])
    return last.train_acc, majority_share(train.labels)


class RobustGuard:
    """The robust check and the overfitting guard of one run under `config`."""

    def __init__(self, config: TrainConfig, device: torch.device) -> None:
        self.config = config
        self.regime = config.regime
        self.device = device

    @property
    def active(self) -> bool:
        """Whether the guard watches this run (and needs a snapshot per epoch)."""
        return (
            self.regime.overfit_drop > 0
            and self.regime.attacks_model
            and self.config.robust_val > 0
        )

    def check(self, model: EyeModel, data: EyeDataset) -> Check:
        """Accuracy of the first `robust_val` images of `data` under PGD-10 at the regime's
        training eps, and clean (NaN for regimes that do not attack)."""
        eps = self.regime.train_eps
        n = self.config.robust_val
        if eps is None or n == 0 or len(data) == 0:
            return Check()
        xv = data.images[:n].to(self.device)
        yv = data.labels[:n].to(self.device)
        g = torch.Generator().manual_seed(self.config.seed * 1009 + _ROBUST_SEED)
        adv = pgd(model, xv, yv, eps, steps=ROBUST_CHECK_STEPS, generator=g)
        right = predict_logits(model, adv).argmax(1) == yv.cpu()
        clean = predict_logits(model, xv).argmax(1) == yv.cpu()
        return Check(float(right.float().mean()), float(clean.float().mean()))

    def score(self, epoch: int, robust: float, fallback: float) -> float:
        """What picks `best/`: the robust check's accuracy, else validation accuracy (else
        minus the training loss). A robust score of an epoch before `guard_from` ranks below
        every later one: an early model that predicts almost one class scores a high robust
        accuracy (half of a balanced 2-class set) that real learning then lowers."""
        if not math.isfinite(robust):
            return fallback
        return robust - 1.0 if epoch < self.regime.guard_from else robust

    def collapsed(self, history: Sequence[EpochRecord], robust: float, clean: float) -> bool:
        """Catastrophic overfitting: robust accuracy more than `overfit_drop` below the
        previous epoch's, beyond how far clean accuracy moved in the same epoch, counting from
        the regime's `guard_from` epoch. `clean` is the clean accuracy of the images the
        check attacks (`Check.clean`), compared with the previous epoch's `check_acc` (its
        `val_acc` in records that lack it). Without it, a run with no validation set counted
        no clean move, and a model forgetting both at once was stopped as a collapse. And the
        fall must leave robust accuracy under `COLLAPSE_SHARE` of the clean accuracy: a
        collapse takes robustness away, while PGD-10 training on 64 crops at its peak
        learning rate went from 0.81 to 0.59 robust at 0.97 clean and recovered.

        The previous epoch, not the best (Wong et al. 2020's rule): a collapse happens within
        an epoch, while a half-batch run's robust accuracy slides slowly as clean accuracy
        rises. Beyond the clean move: a collapse is a robust fall at a steady clean accuracy,
        while in an epoch whose clean accuracy moves a lot the model still changes which
        points it gets right. On the real crops, noisy PGD half-batch epochs lost 0.15 and
        0.20 robust with 0.065 and 0.053 clean, and a SiLU run went from 0.59 robust at 0.77
        clean (near-constant) to 0.32 at 0.86; none was a collapse, which falls to near 0."""
        counted = history[self.regime.guard_from :]
        last = next((r for r in reversed(counted) if math.isfinite(r.val_robust_acc)), None)
        if last is None:
            return False
        before = last.check_acc if math.isfinite(last.check_acc) else last.val_acc
        moved = abs(before - clean) if math.isfinite(before - clean) else 0.0
        fell = last.val_robust_acc - robust - moved > self.regime.overfit_drop
        gone = not math.isfinite(clean) or robust < COLLAPSE_SHARE * clean
        return fell and gone


@dataclass(frozen=True)
class Snapshot:
    """Copies of the weights, the optimizer state and the weight average before an epoch."""

    model: dict[str, Any]
    optimizer: dict[str, Any]
    ema: dict[str, torch.Tensor] | None

    @classmethod
    def take(cls, parts: RunParts) -> Snapshot:
        return cls(
            copy.deepcopy(parts.model.state_dict()),
            copy.deepcopy(parts.optimizer.state_dict()),
            None if parts.ema is None else parts.ema.tensors(),
        )

    def roll_back(self, parts: RunParts) -> None:
        """Put `parts` back as they were when the snapshot was taken."""
        parts.model.load_state_dict(self.model)
        parts.optimizer.load_state_dict(self.optimizer)
        if parts.ema is not None and self.ema is not None:
            parts.ema.restore(self.ema)
