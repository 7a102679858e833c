"""Robustness curves: metrics of one model under one attack at growing eps (or falling SNR)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from robusteye.attacks import eps_for_snr, get_attack, mean_snr_db, snr_db
from robusteye.errors import UsageError
from robusteye.evaluate.metrics import Metrics, classification_metrics
from robusteye.evaluate.predict import predict_logits
from robusteye.evaluate.roc import roc_curve_micro
from robusteye.io import dumps_json


@dataclass(frozen=True)
class CurvePoint:
    """One eps of a curve; `eps = 0` is the clean point (SNR +inf, stored as None in JSON)."""

    eps: float
    snr_db: float
    mean_snr_db: float
    metrics: Metrics
    target_snr_db: float | None = None
    roc: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        def finite(v: float | None) -> float | None:
            return v if v is not None and math.isfinite(v) else None

        return {
            "eps": self.eps,
            "snr_db": finite(self.snr_db),
            "mean_snr_db": finite(self.mean_snr_db),
            "target_snr_db": self.target_snr_db,
            "metrics": self.metrics.to_dict(),
            **({"roc": self.roc} if self.roc is not None else {}),
        }


@dataclass(frozen=True)
class RobustnessCurve:
    attack: str
    points: tuple[CurvePoint, ...]
    options: dict[str, Any]

    @property
    def clean(self) -> CurvePoint:
        return self.points[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack": self.attack,
            "options": self.options,
            "points": [p.to_dict() for p in self.points],
        }

    def to_json(self) -> str:
        return dumps_json(self.to_dict(), indent=2)


def robustness_curve(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    classes: tuple[str, ...],
    attack: str,
    *,
    eps: Sequence[float] | None = None,
    snr: Sequence[float] | None = None,
    seed: int = 0,
    roc: bool = False,
    **options: Any,
) -> RobustnessCurve:
    """Metrics at the clean point and at each eps (or at the eps reaching each SNR in dB).

    The attack's `Perturber` is built once: FGSM reuses one input gradient for every eps
    (x + eps * sign(grad) is exact for all), noise one draw; the other attacks re-run from a
    generator seeded with `seed` at every eps. `roc=True` also keeps each point's micro ROC
    curve (`roc_curve_micro`).
    """
    if (eps is None) == (snr is None):
        raise UsageError("give either eps or snr values, not both")
    targets: list[float | None] = [None] * len(eps) if eps is not None else list(snr or [])
    perturb = get_attack(attack).perturber(model, x, y, seed=seed, **options)
    values = (
        list(eps)
        if eps is not None
        else [
            eps_for_snr(model, x, y, s, attack=attack, seed=seed, perturber=perturb)
            for s in (snr or [])
        ]
    )

    def point(x_eval: Tensor, e: float, target: float | None) -> CurvePoint:
        logits = predict_logits(model, x_eval)
        m = classification_metrics(logits, y, classes)
        curve = roc_curve_micro(logits, y) if roc else None
        return CurvePoint(float(e), snr_db(x, x_eval), mean_snr_db(x, x_eval), m, target, curve)

    points = [point(x, 0.0, None)]
    for e, target in zip(values, targets, strict=True):
        if e < 0:
            raise UsageError(f"eps must be >= 0, got {e}")
        points.append(point(perturb.at(e).cpu(), e, target))
    return RobustnessCurve(attack, tuple(points), dict(options))
