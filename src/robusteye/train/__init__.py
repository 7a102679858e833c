"""Training: the SGD trainer, the regimes (one registry, `REGIMES`; `register_regime` adds
one), the robust check and its guard, checkpoints and exact resume."""

from robusteye.train.config import REGIMES, RegimeConfig, TrainConfig
from robusteye.train.curves import EpochRecord, lr_at
from robusteye.train.regimes import Regime, register_regime, unregister_regime
from robusteye.train.trainer import FitResult, Trainer

__all__ = [
    "REGIMES",
    "EpochRecord",
    "FitResult",
    "Regime",
    "RegimeConfig",
    "TrainConfig",
    "Trainer",
    "lr_at",
    "register_regime",
    "unregister_regime",
]
