"""The audit's values: the budgets of each suite, and what an audit returns (one `AuditPoint`
per eps with an `AttackRun` per attack, the `Indicator`s of attack failure, `AuditResult`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from robusteye.io import dumps_json

#: The name of the audit's worst case where it sits among robustness curves (result rows).
WORST_CASE = "worst case"
#: A difference in accuracy within this is noise, not evidence (one point in a hundred).
TOLERANCE = 0.01


@dataclass(frozen=True)
class Suite:
    """Budgets of one suite: steps of PGD and APGD, targets of APGD-T, queries of Square."""

    pgd_steps: int
    apgd_steps: int
    targets: int
    queries: int


SUITES: dict[str, Suite] = {
    "standard": Suite(pgd_steps=10, apgd_steps=100, targets=9, queries=5000),
    "quick": Suite(pgd_steps=10, apgd_steps=25, targets=3, queries=1000),
}


@dataclass(frozen=True)
class AttackRun:
    """One attack at one eps. `accuracy` counts a point robust when this attack and every
    attack before it in the cascade failed on it: for the reference attacks (run on every
    point, `cascade` False) that is the attack's own accuracy, for the cascade the robust
    accuracy after it."""

    name: str
    settings: dict[str, Any]
    cascade: bool
    attacked: int
    broken: int
    accuracy: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "settings": self.settings,
            "cascade": self.cascade,
            "attacked": self.attacked,
            "broken": self.broken,
            "accuracy": self.accuracy,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class AuditPoint:
    """The suite at one eps (one value, or one per image when it comes from an L2 SNR)."""

    eps: float
    snr_db: float
    target_snr_db: float | None
    clean_accuracy: float
    attacks: tuple[AttackRun, ...]
    worst_accuracy: float
    robust: Tensor  # bool, one per example: correct and unbroken by every attack
    broken_by: tuple[str | None, ...]  # the first attack that broke each point (None: robust)

    def accuracy(self, name: str) -> float:
        for run in self.attacks:
            if run.name == name:
                return run.accuracy
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "snr_db": self.snr_db if math.isfinite(self.snr_db) else None,
            "target_snr_db": self.target_snr_db,
            "clean_accuracy": self.clean_accuracy,
            "worst_accuracy": self.worst_accuracy,
            "attacks": [a.to_dict() for a in self.attacks],
            "broken_by": list(self.broken_by),
        }


@dataclass(frozen=True)
class Indicator:
    """One check of attack failure: `status` is "pass" or "warn", `reason` one line."""

    name: str
    status: str
    reason: str

    @property
    def warned(self) -> bool:
        return self.status == "warn"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class AuditResult:
    norm: str
    suite: str
    seed: int
    n: int
    classes: int
    settings: dict[str, Any]
    points: tuple[AuditPoint, ...]
    indicators: tuple[Indicator, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def attack_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.points[0].attacks) if self.points else ()

    @property
    def warnings(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.warned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "norm": self.norm,
            "suite": self.suite,
            "seed": self.seed,
            "n": self.n,
            "classes": self.classes,
            "settings": self.settings,
            "notes": list(self.notes),
            "points": [p.to_dict() for p in self.points],
            "indicators": [i.to_dict() for i in self.indicators],
        }

    def to_json(self) -> str:
        return dumps_json(self.to_dict(), indent=2)


Progress = Callable[[int, int, str], None]  # (units done, units planned, what runs now)
AttackDone = Callable[[float, AttackRun], None]  # (the ball's eps, the attack just finished)
