"""Curves of a result row: accuracy (and more) at growing perturbation, of four kinds.

An attack's robustness curve carries full `Metrics` at each point (and a ROC curve); the
audit's worst case and the certificate carry accuracy only. In a row all three are stored
under `attacks`, the worst case and the certificate named "worst case" and "certified" (the
row format predates `CurveKind`); reading a row gives each curve its kind back. Corruption
curves are never stored as curves: `CorruptionScores.curves()` builds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from robusteye._results._fields import Fields
from robusteye.evaluate.audit.result import WORST_CASE
from robusteye.evaluate.ceiling import CEILING
from robusteye.evaluate.certify import CERTIFIED
from robusteye.evaluate.metrics import Metrics


class CurveKind(str, Enum):
    ATTACK = "attack"
    WORST_CASE = "worst case"
    CERTIFIED = "certified"
    CORRUPTION = "corruption"
    CEILING = "data ceiling"


def curve_kind(name: str) -> CurveKind:
    """The kind of a stored curve, from its name."""
    kinds = {
        WORST_CASE: CurveKind.WORST_CASE,
        CERTIFIED: CurveKind.CERTIFIED,
        CEILING: CurveKind.CEILING,
    }
    return kinds.get(name, CurveKind.ATTACK)


@dataclass(frozen=True)
class Accuracy:
    """Accuracy alone: what a worst case or a certificate knows at a point."""

    accuracy: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy": self.accuracy}

    @classmethod
    def from_fields(cls, f: Fields) -> Accuracy:
        out = cls(f.number_or_none("accuracy"))
        f.done()
        return out


def _per_class(f: Fields, key: str) -> dict[str, float]:
    values = f.mapping(key)
    if not all(v is None or isinstance(v, (int, float)) for v in values.values()):
        f.fail(key, "an object of numbers", values)
    return values


def metrics_from(f: Fields) -> Metrics:
    """`Metrics` from its `to_dict` form (null losses back to NaN)."""
    confusion = f.array("confusion")
    if not all(isinstance(r, list) and all(isinstance(v, int) for v in r) for r in confusion):
        f.fail("confusion", "a list of lists of integers", confusion)
    out = Metrics(
        n=f.integer("n"),
        accuracy=f.number("accuracy"),
        loss=f.number_nan("loss"),
        precision=_per_class(f, "precision"),
        recall=_per_class(f, "recall"),
        f1=_per_class(f, "f1"),
        macro_precision=f.number_nan("macro_precision"),
        macro_recall=f.number_nan("macro_recall"),
        macro_f1=f.number_nan("macro_f1"),
        roc_auc_macro=f.number_or_none("roc_auc_macro"),
        roc_auc_micro=f.number_or_none("roc_auc_micro"),
        confusion=confusion,
        classes=f.texts("classes"),
    )
    f.done()
    return out


def read_metrics(data: Any, where: str = "metrics") -> Metrics:
    """`Metrics` from its `to_dict` form, checked like a row's."""
    return metrics_from(Fields(data, where))


Scores = Metrics | Accuracy


@dataclass(frozen=True)
class Roc:
    """A micro-averaged ROC curve on a fixed FPR grid (`robusteye.evaluate.roc`)."""

    fpr: tuple[float, ...]
    tpr: tuple[float | None, ...]
    auc: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"fpr": list(self.fpr), "tpr": list(self.tpr), "auc": self.auc}

    @classmethod
    def from_dict(cls, data: Any, where: str = "roc") -> Roc:
        f = Fields(data, where)
        out = cls(f.numbers("fpr"), f.numbers("tpr", null=True), f.number_or_none("auc"))
        f.done()
        return out


@dataclass(frozen=True)
class CurvePoint:
    """One point: the perturbation size (eps, or a radius), the SNR it gave (dB; the target
    SNR when points were asked for by SNR) and the scores there. `severity` is set on the
    points of corruption curves only."""

    eps: float | None
    snr_db: float | None
    mean_snr_db: float | None
    target_snr_db: float | None
    metrics: Scores
    roc: Roc | None = None
    severity: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "snr_db": self.snr_db,
            "mean_snr_db": self.mean_snr_db,
            "target_snr_db": self.target_snr_db,
            "metrics": self.metrics.to_dict(),
            **({"roc": self.roc.to_dict()} if self.roc is not None else {}),
        }

    @classmethod
    def from_fields(cls, f: Fields, *, full: bool) -> CurvePoint:
        scores = f.obj("metrics")
        out = cls(
            eps=f.number_or_none("eps"),
            snr_db=f.number_or_none("snr_db"),
            mean_snr_db=f.number_or_none("mean_snr_db"),
            target_snr_db=f.number_or_none("target_snr_db"),
            metrics=metrics_from(scores) if full else Accuracy.from_fields(scores),
            roc=Roc.from_dict(f.raw("roc"), f.name("roc")) if f.has("roc") else None,
        )
        f.done()
        return out


@dataclass(frozen=True)
class Curve:
    """A curve of one cell: `name` is the attack (or corruption), `clean` the scores on the
    same images unperturbed, `n` how many images each point scored."""

    kind: CurveKind
    name: str
    options: dict[str, Any]
    clean: Scores
    points: tuple[CurvePoint, ...]
    n: int

    def to_dict(self) -> dict[str, Any]:
        head = {"attack": self.name, "options": self.options}
        points = [p.to_dict() for p in self.points]
        if self.kind is CurveKind.ATTACK:  # the key order each kind has always been written in
            return {**head, "points": points, "clean": self.clean.to_dict(), "n": self.n}
        return {**head, "clean": self.clean.to_dict(), "points": points, "n": self.n}

    @classmethod
    def from_dict(cls, data: Any, where: str = "curve") -> Curve:
        f = Fields(data, where)
        name = f.text("attack")
        kind = curve_kind(name)
        full = kind is CurveKind.ATTACK
        clean = f.obj("clean")
        out = cls(
            kind=kind,
            name=name,
            options=f.mapping("options"),
            clean=metrics_from(clean) if full else Accuracy.from_fields(clean),
            points=tuple(CurvePoint.from_fields(p, full=full) for p in f.objs("points")),
            n=f.integer("n"),
        )
        f.done()
        return out

    @property
    def is_bound(self) -> bool:
        """The worst case, the certificate or the data's ceiling: scores from masks or
        matchings, not logits (no ROC)."""
        return self.kind in (CurveKind.WORST_CASE, CurveKind.CERTIFIED, CurveKind.CEILING)
