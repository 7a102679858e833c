"""A cell's corruption benchmark (`robusteye.evaluate.corruption`) as a row stores it, and as
corruption curves (accuracy against severity and SNR) for figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robusteye._results._fields import Fields
from robusteye._results.curves import Curve, CurveKind, CurvePoint, metrics_from
from robusteye.evaluate.metrics import Metrics


@dataclass(frozen=True)
class CorruptionPoint:
    corruption: str
    severity: int
    snr_db: float | None
    mean_snr_db: float | None
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "corruption": self.corruption,
            "severity": self.severity,
            "snr_db": self.snr_db,
            "mean_snr_db": self.mean_snr_db,
            "metrics": self.metrics.to_dict(),
        }

    @classmethod
    def from_fields(cls, f: Fields) -> CorruptionPoint:
        out = cls(
            corruption=f.text("corruption"),
            severity=f.integer("severity"),
            snr_db=f.number_or_none("snr_db"),
            mean_snr_db=f.number_or_none("mean_snr_db"),
            metrics=metrics_from(f.obj("metrics")),
        )
        f.done()
        return out


@dataclass(frozen=True)
class PerCorruption:
    """One corruption's accuracy at each severity, and their mean."""

    accuracy: tuple[float | None, ...]
    mean_accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": list(self.accuracy), "mean_accuracy": self.mean_accuracy}


@dataclass(frozen=True)
class CorruptionScores:
    """Clean metrics and one point per (corruption, severity) on `n` images."""

    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    seed: int
    class_map: dict[str, Any] | None
    clean: Metrics
    mean_corruption_accuracy: float | None
    relative_drop: float | None
    per_corruption: dict[str, PerCorruption]
    points: tuple[CorruptionPoint, ...]
    n: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "seed": self.seed,
            "class_map": self.class_map,
            "clean": self.clean.to_dict(),
            "mean_corruption_accuracy": self.mean_corruption_accuracy,
            "relative_drop": self.relative_drop,
            "per_corruption": {k: v.to_dict() for k, v in self.per_corruption.items()},
            "points": [p.to_dict() for p in self.points],
            **({"n": self.n} if self.n is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "corruptions") -> CorruptionScores:
        f = Fields(data, where)
        per = {}
        table = f.obj("per_corruption")
        for name in table.data:
            entry = table.obj(name)
            per[name] = PerCorruption(
                entry.numbers("accuracy", null=True), entry.number_or_none("mean_accuracy")
            )
            entry.done()
        table.done()
        class_map = f.raw("class_map")
        if class_map is not None and not isinstance(class_map, dict):
            f.fail("class_map", "a JSON object or null", class_map)
        severities = f.numbers("severities")
        if not all(isinstance(s, int) for s in severities):
            f.fail("severities", "a list of integers", severities)
        out = cls(
            corruptions=f.texts("corruptions"),
            severities=severities,
            seed=f.integer("seed"),
            class_map=class_map,
            clean=metrics_from(f.obj("clean")),
            mean_corruption_accuracy=f.number_or_none("mean_corruption_accuracy"),
            relative_drop=f.number_or_none("relative_drop"),
            per_corruption=per,
            points=tuple(CorruptionPoint.from_fields(p) for p in f.objs("points")),
            n=f.integer("n") if f.has("n") else None,
        )
        f.done()
        return out

    def curves(self) -> tuple[Curve, ...]:
        """One curve per corruption: its points at severities 1 and up (severity set)."""
        return tuple(
            Curve(
                kind=CurveKind.CORRUPTION,
                name=name,
                options={},
                clean=self.clean,
                points=tuple(
                    CurvePoint(None, p.snr_db, p.mean_snr_db, None, p.metrics, severity=p.severity)
                    for p in self.points
                    if p.corruption == name and p.severity >= 1
                ),
                n=self.n if self.n is not None else self.clean.n,
            )
            for name in self.corruptions
        )
