"""`selection.json`, the summary `robusteye select` writes: its ranking entries and winner,
read with the same cheap type checks as the result rows (`Fields`), so that a damaged file
is one error line naming the field (`winner.cv`), not a traceback in the report.

The report keeps drawing from the checked JSON objects (`Selection.data`, each entry's and
the winner's `data`); keys this version does not read are kept, not refused (the file is a
summary, never written back).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robusteye._results._fields import Fields
from robusteye._results.curves import Curve, read_metrics

#: the statistics every ranking entry holds (mean and std across folds; null: no value)
SELECTION_METRICS = (
    "objective",
    "accuracy",
    "robust_accuracy",
    "macro_f1",
    "roc_auc_macro",
    "loss",
    "train_acc",
    "seconds",
)


def _stats(f: Fields, key: str, required: tuple[str, ...]) -> dict[str, Any]:
    """An object of statistics `{name: {mean, std, n?}}`, each mean and std a number or null."""
    metrics = f.obj(key)
    for name in (*required, *(k for k in metrics.data if k not in required)):
        stat = metrics.obj(name)
        stat.number_or_none("mean")
        stat.number_or_none("std")
        if stat.has("n"):
            stat.integer("n")
    return metrics.data


@dataclass(frozen=True)
class RankingEntry:
    """One trial of the ranking, at the furthest rung it reached."""

    trial: str
    params: dict[str, Any]
    epochs: int
    completed: bool
    rank: int
    folds: int
    metrics: dict[str, Any]
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, f: Fields) -> RankingEntry:
        return cls(
            trial=f.text("trial"),
            params=f.mapping("params"),
            epochs=f.integer("epochs"),
            completed=f.flag("completed"),
            rank=f.integer("rank"),
            folds=f.integer("folds"),
            metrics=_stats(f, "metrics", SELECTION_METRICS),
            data=f.data,
        )


@dataclass(frozen=True)
class Winner:
    """The best trial, retrained from its training spec and scored on the hold-out."""

    trial: str
    params: dict[str, Any]
    spec: str
    checkpoint: str
    cv: dict[str, Any]
    holdout: dict[str, Any]
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, f: Fields) -> Winner:
        holdout: dict[str, Any] = {}
        if f.has("holdout") and f.data["holdout"] is not None:
            h = f.obj("holdout")
            if h.data.get("clean"):
                read_metrics(h.raw("clean"), h.name("clean"))
                h.integer("n")
                h.integer("persons")
                if h.has("attacks"):
                    for i, curve in enumerate(h.array("attacks")):
                        Curve.from_dict(curve, f"{h.name('attacks')}[{i}]")
            holdout = h.data
        return cls(
            trial=f.text("trial"),
            params=f.mapping("params"),
            spec=f.text("spec"),
            checkpoint=f.text("checkpoint"),
            cv=_stats(f, "cv", ("objective",)),
            holdout=holdout,
            data=f.data,
        )


@dataclass(frozen=True)
class Selection:
    """The whole `selection.json`: the objective, the ranking and the winner (None when the
    winner was not retrained)."""

    objective: Any
    ranking: tuple[RankingEntry, ...]
    winner: Winner | None
    data: dict[str, Any]

    @classmethod
    def from_dict(cls, data: Any) -> Selection:
        f = Fields(data, "")
        ranking: tuple[RankingEntry, ...] = ()
        if f.has("ranking") and f.data["ranking"] is not None:
            ranking = tuple(RankingEntry.from_dict(e) for e in f.objs("ranking"))
        winner = None
        if f.has("winner") and f.data["winner"] is not None:
            winner = Winner.from_dict(f.obj("winner"))
        objective = f.data.get("objective")
        if objective is not None and not isinstance(objective, str):
            f.fail("objective", "a string", objective)
        return cls(objective, ranking, winner, f.data)
