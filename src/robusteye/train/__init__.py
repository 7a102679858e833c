"""Training: the SGD trainer, regimes (standard, augment, adversarial), exact resume."""

from robusteye.train.config import REGIMES, RegimeConfig, TrainConfig
from robusteye.train.curves import EpochRecord, lr_at
from robusteye.train.trainer import FitResult, Trainer

__all__ = ["REGIMES", "EpochRecord", "FitResult", "RegimeConfig", "TrainConfig", "Trainer", "lr_at"]
