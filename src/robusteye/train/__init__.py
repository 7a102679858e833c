"""Training: the SGD trainer, regimes (standard, augment, adversarial), exact resume."""

from robusteye.train.config import REGIMES, RegimeConfig, TrainConfig
from robusteye.train.trainer import EpochRecord, FitResult, Trainer, lr_at

__all__ = ["REGIMES", "EpochRecord", "FitResult", "RegimeConfig", "TrainConfig", "Trainer", "lr_at"]
