"""Cross-fold summaries of result rows: mean and std per variant, clean and under attack.

Pure functions of the rows (no I/O), so the runner can call `summarize` to write summary.json.
Std is the population std (ddof 0), so one fold gives std 0. None and non-finite values are
skipped; a statistic with no values left has mean and std None.

Over 300 lines because the summaries of clean metrics, attack points and corruptions are one
schema (summary.json's), built from the same cells by the same `stat` rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from robusteye.results import (
    CellRow,
    CorruptionPoint,
    CorruptionScores,
    Curve,
    CurveKind,
    CurvePoint,
    Row,
    Scores,
)
from robusteye.train.regimes import report_rank

#: Clean metrics summarised for every variant (keys of a Metrics dict).
CLEAN_METRICS = (
    "accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "roc_auc_macro",
    "roc_auc_micro",
    "loss",
)

#: The metrics reported in tables and model cards: (Metrics key, readable name).
HEADLINE_METRICS = (
    ("accuracy", "accuracy"),
    ("macro_precision", "macro precision"),
    ("macro_recall", "macro recall"),
    ("macro_f1", "macro F1"),
    ("roc_auc_macro", "ROC-AUC (macro)"),
)


@dataclass(frozen=True)
class Stat:
    """Mean and std (ddof 0) of the `n` usable values; None when there are none."""

    mean: float | None
    std: float | None
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n}

    def format(self, digits: int = 3) -> str:
        """'0.600 ± 0.100', or '–' without values."""
        if self.mean is None or self.std is None:
            return "–"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def stat(values: Iterable[Any]) -> Stat:
    """Mean and std of the finite numbers in `values` (None and NaN skipped)."""
    usable = [
        float(v)
        for v in values
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    ]
    if not usable:
        return Stat(None, None, 0)
    arr = np.asarray(usable, dtype=np.float64)
    return Stat(float(arr.mean()), float(arr.std(ddof=0)), len(usable))


@dataclass(frozen=True)
class PointSummary:
    """One attack point across folds. `label` is the target SNR (dB) if set, else the eps."""

    index: int
    label: float | None
    label_kind: str  # "target_snr_db" or "eps"
    eps: Stat
    snr_db: Stat
    mean_snr_db: Stat
    metrics: dict[str, Stat]

    def title(self, *, detail: bool = True) -> str:
        """'ε 0.03 (31.2 dB)' or 'SNR 30 dB (ε 0.021)'; without `detail`, 'SNR 30 dB'."""
        snr = "" if self.snr_db.mean is None else f"{self.snr_db.mean:.1f} dB"
        eps = "" if self.eps.mean is None else f"ε {self.eps.mean:.3g}"
        if self.label_kind == "target_snr_db":
            return f"SNR {self.label:g} dB" + (f" ({eps})" if eps and detail else "")
        return eps + (f" ({snr})" if snr else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "label": self.label,
            "label_kind": self.label_kind,
            "eps": self.eps.to_dict(),
            "snr_db": self.snr_db.to_dict(),
            "mean_snr_db": self.mean_snr_db.to_dict(),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


@dataclass(frozen=True)
class AttackSummary:
    """One attack's points, in the order the cells list them."""

    attack: str
    points: tuple[PointSummary, ...]
    #: clean metrics on the same images as the points (the attack's eps-0 baseline)
    clean: dict[str, Stat] = field(default_factory=dict)
    #: what the curves are: an attack's, the audit's worst case or the certificate
    kind: CurveKind = CurveKind.ATTACK

    def strongest(self) -> PointSummary | None:
        """The point with the largest eps, or the lowest target SNR when points are by SNR."""
        if not self.points:
            return None

        def strength(p: PointSummary) -> float:
            if p.label is None:
                return -math.inf
            return -p.label if p.label_kind == "target_snr_db" else p.label

        return max(self.points, key=strength)

    def to_dict(self) -> dict[str, Any]:
        strongest = self.strongest()
        return {
            "attack": self.attack,
            "strongest": None if strongest is None else strongest.index,
            "clean": {k: v.to_dict() for k, v in self.clean.items()},
            "points": [p.to_dict() for p in self.points],
        }


@dataclass(frozen=True)
class CorruptionSummary:
    """The corruption benchmark of a variant across folds.

    `mean` holds, per headline metric, the stat across folds of each fold's mean over every
    corruption and severity (for accuracy: the mCA); `per_corruption[name][i]` and
    `snr_db[name][i]` are the accuracy and batch SNR at `severities[i]`.
    """

    severities: tuple[int, ...]
    clean: dict[str, Stat]
    mean: dict[str, Stat]
    relative_drop: Stat
    per_corruption: dict[str, tuple[Stat, ...]]
    snr_db: dict[str, tuple[Stat, ...]]

    def worst(self) -> tuple[str, Stat] | None:
        """The corruption with the lowest accuracy averaged over severities."""
        means = {name: stat(s.mean for s in stats) for name, stats in self.per_corruption.items()}
        usable = {k: v for k, v in means.items() if v.mean is not None}
        if not usable:
            return None
        name = min(usable, key=lambda k: usable[k].mean or 0.0)
        return name, usable[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "severities": list(self.severities),
            "clean": {k: v.to_dict() for k, v in self.clean.items()},
            "mean": {k: v.to_dict() for k, v in self.mean.items()},
            "relative_drop": self.relative_drop.to_dict(),
            "per_corruption": {k: [s.to_dict() for s in v] for k, v in self.per_corruption.items()},
            "snr_db": {k: [s.to_dict() for s in v] for k, v in self.snr_db.items()},
        }


@dataclass(frozen=True)
class VariantSummary:
    """One variant (model + options + regime) across its folds and seeds."""

    variant: str
    label: str
    model: str
    regime: dict[str, Any]
    n_folds: int
    n_seeds: int
    n_cells: int
    clean: dict[str, Stat]
    attacks: tuple[AttackSummary, ...]
    corruptions: CorruptionSummary | None = None

    def to_dict(self) -> dict[str, Any]:
        extra = {} if self.corruptions is None else {"corruptions": self.corruptions.to_dict()}
        return {
            "variant": self.variant,
            "label": self.label,
            "model": self.model,
            "regime": dict(self.regime),
            "n_folds": self.n_folds,
            "n_seeds": self.n_seeds,
            "n_cells": self.n_cells,
            "clean": {k: v.to_dict() for k, v in self.clean.items()},
            "attacks": [a.to_dict() for a in self.attacks],
            **extra,
        }


def group_cells(rows: Iterable[Row]) -> dict[str, list[CellRow]]:
    """Cell rows by variant, sorted by model, regime kind (standard, augment, adversarial)
    and name, so the order does not depend on which cell finished first."""
    groups: dict[str, list[CellRow]] = {}
    for row in rows:
        if isinstance(row, CellRow):
            groups.setdefault(row.variant, []).append(row)

    def key(variant: str) -> tuple[str, float, str]:
        first = groups[variant][0]
        return first.model, report_rank(first.regime_kind), variant

    return {v: groups[v] for v in sorted(groups, key=key)}


def summarize(rows: Iterable[Row]) -> list[VariantSummary]:
    """Mean and std across folds (and seeds) of every variant's clean and attack metrics."""
    out = []
    for variant, cells in group_cells(rows).items():
        first = cells[0]
        out.append(
            VariantSummary(
                variant=variant,
                label=first.label or variant,
                model=first.model,
                regime=dict(first.regime),
                n_folds=len({c.fold for c in cells}),
                n_seeds=len({c.seed for c in cells}),
                n_cells=len(cells),
                clean=_metric_stats([c.clean for c in cells]),
                attacks=_attack_summaries(cells),
                corruptions=_corruption_summary(cells),
            )
        )
    return out


def metric(scores: Scores | None, name: str) -> Any:
    """One of `CLEAN_METRICS` of a point's scores (None where the scores lack it: a worst
    case or a certificate knows accuracy only)."""
    return getattr(scores, name, None)


def _metric_stats(metrics: Sequence[Scores | None]) -> dict[str, Stat]:
    return {k: stat(metric(m, k) for m in metrics) for k in CLEAN_METRICS}


def _attack_summaries(cells: Sequence[CellRow]) -> tuple[AttackSummary, ...]:
    # Curves matched by name (in order of first appearance), points by index within one curve.
    points: dict[str, list[list[CurvePoint]]] = {}
    curves: dict[str, list[Curve]] = {}
    for cell in cells:
        for curve in cell.attacks:
            curves.setdefault(curve.name, []).append(curve)
            slots = points.setdefault(curve.name, [])
            for i, point in enumerate(curve.points):
                if i == len(slots):
                    slots.append([])
                slots[i].append(point)
    return tuple(
        AttackSummary(
            name,
            tuple(_point_summary(i, ps) for i, ps in enumerate(slots)),
            _metric_stats([c.clean for c in curves[name]]),
            curves[name][0].kind,
        )
        for name, slots in points.items()
    )


def _point_summary(index: int, points: Sequence[CurvePoint]) -> PointSummary:
    target = points[0].target_snr_db
    kind = "target_snr_db" if target is not None else "eps"
    label = target if target is not None else points[0].eps
    return PointSummary(
        index=index,
        label=None if label is None else float(label),
        label_kind=kind,
        eps=stat(p.eps for p in points),
        snr_db=stat(p.snr_db for p in points),
        mean_snr_db=stat(p.mean_snr_db for p in points),
        metrics=_metric_stats([p.metrics for p in points]),
    )


def _at(result: CorruptionScores, name: str, severity: int) -> CorruptionPoint | None:
    return next((p for p in result.points if p.corruption == name and p.severity == severity), None)


def _corruption_summary(cells: Sequence[CellRow]) -> CorruptionSummary | None:
    results = [c.corruptions for c in cells if c.corruptions is not None]
    if not results:
        return None
    severities = tuple(int(s) for s in results[0].severities)
    names = list(dict.fromkeys(n for r in results for n in r.corruptions))

    def fold_mean(result: CorruptionScores, key: str) -> float | None:
        return stat(metric(p.metrics, key) for p in result.points if p.severity >= 1).mean

    def accuracy(p: CorruptionPoint | None) -> float | None:
        return None if p is None else p.metrics.accuracy

    def snr(p: CorruptionPoint | None) -> float | None:
        return None if p is None else p.snr_db

    return CorruptionSummary(
        severities=severities,
        clean=_metric_stats([r.clean for r in results]),
        mean={k: stat(fold_mean(r, k) for r in results) for k in CLEAN_METRICS},
        relative_drop=stat(r.relative_drop for r in results),
        per_corruption={
            n: tuple(stat(accuracy(_at(r, n, s)) for r in results) for s in severities)
            for n in names
        },
        snr_db={
            n: tuple(stat(snr(_at(r, n, s)) for r in results) for s in severities) for n in names
        },
    )
