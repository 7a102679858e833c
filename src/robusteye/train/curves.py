"""Learning curves: one record per epoch, written as CSV (and optionally TensorBoard), and the
learning-rate schedules, pure functions of the config and the (fractional) epoch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from robusteye.errors import UsageError
from robusteye.io import write_csv
from robusteye.train.config import TrainConfig

CURVE_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_macro_f1",
    "seconds",
    "val_robust_acc",
    "ema_val_acc",
    "collapsed",
    "check_acc",
)
#: one-cycle: the share of the run spent warming up, and the start lr as a share of `lr`
ONECYCLE_WARMUP = 0.3
ONECYCLE_START = 1.0 / 25.0


@dataclass(frozen=True)
class EpochRecord:
    """One epoch's curves. `val_robust_acc` is the PGD check of the attack regimes and
    `ema_val_acc` the weight average's validation accuracy (NaN where not measured);
    `collapsed` is 1 on the epoch whose robust accuracy collapsed (catastrophic overfitting),
    which the trainer rolled back before it stopped; `check_acc` is the clean accuracy of the
    images the PGD check attacks (the training images' without a validation set)."""

    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_macro_f1: float
    seconds: float
    val_robust_acc: float = math.nan
    ema_val_acc: float = math.nan
    collapsed: int = 0
    check_acc: float = math.nan


def lr_at(config: TrainConfig, epoch: float) -> float:
    """The learning rate at 0-based `epoch` (fractional within an epoch): a pure function, so
    resume needs no state. `step`, `cosine` and `constant` change once per epoch (the study's
    and earlier runs' schedules); `onecycle` (Smith & Topin 2019) changes every batch: linear
    from lr/25 to lr over the first 30% of the run, then a cosine down to 0."""
    if config.schedule == "onecycle":
        t = epoch / config.epochs
        if t < ONECYCLE_WARMUP:
            share = ONECYCLE_START + (1.0 - ONECYCLE_START) * t / ONECYCLE_WARMUP
            return config.lr * share
        rest = (t - ONECYCLE_WARMUP) / (1.0 - ONECYCLE_WARMUP)
        return 0.5 * config.lr * (1.0 + math.cos(math.pi * min(1.0, rest)))
    whole = math.floor(epoch)
    if config.schedule == "step":
        return config.lr * config.gamma ** (whole // config.step_size)
    if config.schedule == "cosine":
        return 0.5 * config.lr * (1.0 + math.cos(math.pi * whole / config.epochs))
    return config.lr


def write_curves(path: Path, history: list[EpochRecord]) -> None:
    """Learning curves as CSV (rewritten whole, atomically, so a resume never duplicates rows)."""
    write_csv(path, [{f: getattr(r, f) for f in CURVE_FIELDS} for r in history], CURVE_FIELDS)


def write_tensorboard(folder: Path, record: EpochRecord) -> None:
    """Append one epoch's curves as TensorBoard scalars (needs the `tensorboard` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError(
            "--tensorboard needs the tensorboard package: pip install 'robusteye[tensorboard]'"
        ) from None
    with SummaryWriter(str(folder)) as writer:
        for name in CURVE_FIELDS[1:]:
            value = getattr(record, name)
            if math.isfinite(value):
                writer.add_scalar(name.replace("_", "/", 1), value, record.epoch)
