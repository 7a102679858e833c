"""The two bounds a row shows next to its attack curves: the attack audit's summary (whose
worst case is a curve, `AuditSummary.worst_case`) and certified accuracy (stored as its curve,
`CertificateSummary.curve`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robusteye._results._fields import Fields
from robusteye._results.curves import Accuracy, Curve, CurveKind, CurvePoint
from robusteye.evaluate.audit.result import WORST_CASE, AttackRun, Indicator
from robusteye.evaluate.ceiling import CEILING
from robusteye.evaluate.certify import CERTIFIED


@dataclass(frozen=True)
class AuditPointSummary:
    """The audit's suite at one eps ball (per-example masks left out of the row)."""

    eps: float | None
    snr_db: float | None
    target_snr_db: float | None
    clean_accuracy: float
    worst_accuracy: float
    attacks: tuple[AttackRun, ...]
    #: the data's robust-accuracy ceiling in the same ball (`evaluate.ceiling`); None in
    #: rows written before it was measured
    ceiling: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "snr_db": self.snr_db,
            "target_snr_db": self.target_snr_db,
            "clean_accuracy": self.clean_accuracy,
            "worst_accuracy": self.worst_accuracy,
            "attacks": [a.to_dict() for a in self.attacks],
            **({"ceiling": self.ceiling} if self.ceiling is not None else {}),
        }

    @classmethod
    def from_fields(cls, f: Fields) -> AuditPointSummary:
        runs = []
        for a in f.objs("attacks"):
            runs.append(
                AttackRun(
                    a.text("name"),
                    a.mapping("settings"),
                    a.flag("cascade"),
                    a.integer("attacked"),
                    a.integer("broken"),
                    a.number("accuracy"),
                    a.number("seconds"),
                )
            )
            a.done()
        out = cls(
            eps=f.number_or_none("eps"),
            snr_db=f.number_or_none("snr_db"),
            target_snr_db=f.number_or_none("target_snr_db"),
            clean_accuracy=f.number("clean_accuracy"),
            worst_accuracy=f.number("worst_accuracy"),
            attacks=tuple(runs),
            ceiling=f.number_or_none("ceiling") if f.has("ceiling") else None,
        )
        f.done()
        return out


@dataclass(frozen=True)
class AuditSummary:
    """The attack audit of a cell (`robusteye.evaluate.audit`): its points and indicators."""

    norm: str
    suite: str
    seed: int
    n: int
    classes: int
    settings: dict[str, Any]
    notes: tuple[str, ...]
    points: tuple[AuditPointSummary, ...]
    indicators: tuple[Indicator, ...]

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

    @classmethod
    def from_dict(cls, data: Any, where: str = "audit") -> AuditSummary:
        f = Fields(data, where)
        indicators = []
        for i in f.objs("indicators"):
            indicators.append(Indicator(i.text("name"), i.text("status"), i.text("reason")))
            i.done()
        out = cls(
            norm=f.text("norm"),
            suite=f.text("suite"),
            seed=f.integer("seed"),
            n=f.integer("n"),
            classes=f.integer("classes"),
            settings=f.mapping("settings"),
            notes=f.texts("notes"),
            points=tuple(AuditPointSummary.from_fields(p) for p in f.objs("points")),
            indicators=tuple(indicators),
        )
        f.done()
        return out

    @property
    def warnings(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.warned)

    def worst_case(self) -> Curve:
        """The worst case as a curve (accuracy only), shown next to FGSM and PGD."""
        first = self.points[0].clean_accuracy if self.points else None
        return Curve(
            kind=CurveKind.WORST_CASE,
            name=WORST_CASE,
            options={"suite": self.suite, "norm": self.norm},
            clean=Accuracy(first),
            points=tuple(
                CurvePoint(p.eps, p.snr_db, p.snr_db, p.target_snr_db, Accuracy(p.worst_accuracy))
                for p in self.points
            ),
            n=self.n,
        )

    def ceiling_curve(self) -> Curve | None:
        """The data's ceiling in the audit's balls as a curve, drawn above the worst case
        (None when a point lacks it)."""
        if not self.points or any(p.ceiling is None for p in self.points):
            return None
        return Curve(
            kind=CurveKind.CEILING,
            name=CEILING,
            options={"norm": self.norm},
            clean=Accuracy(1.0),
            points=tuple(
                CurvePoint(p.eps, p.snr_db, p.snr_db, p.target_snr_db, Accuracy(p.ceiling))
                for p in self.points
            ),
            n=self.n,
        )


@dataclass(frozen=True)
class CertificatePoint:
    """Certified accuracy at one L2 radius; `target_snr_db` when asked for by SNR."""

    radius: float | None
    target_snr_db: float | None
    mean_snr_db: float | None
    certified_accuracy: float | None


@dataclass(frozen=True)
class CertificateSummary:
    """Certified L2 accuracy from a Lipschitz bound (`robusteye.evaluate.certify`); a row
    stores it as its curve (`curve()`), read back by `from_curve`."""

    lipschitz: float
    n: int
    clean_accuracy: float | None
    points: tuple[CertificatePoint, ...]

    def curve(self) -> Curve:
        return Curve(
            kind=CurveKind.CERTIFIED,
            name=CERTIFIED,
            options={"norm": "l2", "lipschitz": self.lipschitz},
            clean=Accuracy(self.clean_accuracy),
            points=tuple(
                CurvePoint(
                    p.radius,
                    p.mean_snr_db,
                    p.mean_snr_db,
                    p.target_snr_db,
                    Accuracy(p.certified_accuracy),
                )
                for p in self.points
            ),
            n=self.n,
        )

    @classmethod
    def from_curve(cls, curve: Curve) -> CertificateSummary:
        lipschitz = curve.options.get("lipschitz")
        return cls(
            lipschitz=float(lipschitz) if isinstance(lipschitz, (int, float)) else float("nan"),
            n=curve.n,
            clean_accuracy=curve.clean.accuracy,
            points=tuple(
                CertificatePoint(p.eps, p.target_snr_db, p.mean_snr_db, p.metrics.accuracy)
                for p in curve.points
            ),
        )
