"""A search's results as a ranking (each trial at the furthest rung it reached, mean and std
across folds of every metric) and as flat tables: `trials.csv`, `curves.csv`, `ranking.csv`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.experiments.selection.spec import Trial
from robusteye.io import write_csv
from robusteye.results import TrialRow

#: per-fold metrics of a trial row (the objective last); ranked by mean and std across folds
METRICS = (
    "objective",
    "accuracy",
    "robust_accuracy",
    "macro_f1",
    "roc_auc_macro",
    "loss",
    "train_loss",
    "train_acc",
    "seconds",
)


def fold_stats(rows: Sequence[TrialRow], metric: str) -> dict[str, Any]:
    values = [
        float(v) for r in rows if (v := r.value(metric)) is not None and math.isfinite(float(v))
    ]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    arr = np.array(values)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size)}


def rank_trials(rows: Sequence[TrialRow], trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Each trial at the furthest rung it reached: mean and std across folds of every metric,
    best first (furthest rung, then mean objective, then lower std)."""
    ranking = []
    for t in trials:
        mine = [r for r in rows if r.trial == t.id]
        if not mine:
            continue
        epochs = max(r.epochs for r in mine)
        final = [r for r in mine if r.epochs == epochs]
        stats = {m: fold_stats(final, m) for m in METRICS}
        ranking.append(
            {
                "trial": t.id,
                "params": t.params,
                "epochs": epochs,
                "rung": max(r.rung for r in final),
                "max_epochs": final[0].max_epochs,
                "completed": epochs >= final[0].max_epochs,
                "folds": len(final),
                "metrics": stats,
            }
        )

    def key(e: dict[str, Any]) -> tuple[float, ...]:
        objective = e["metrics"]["objective"]
        return (-e["rung"], -(objective["mean"] or -math.inf), objective["std"] or 0.0)

    ranking.sort(key=key)
    for i, entry in enumerate(ranking, 1):
        entry["rank"] = i
    return ranking


def write_tables(
    out: Path, rows: list[TrialRow], ranking: list[dict[str, Any]], trials: Sequence[Trial]
) -> None:
    keys = list(dict.fromkeys(k for t in trials for k in t.params))
    by_trial = {t.id: t for t in trials}
    ordered = sorted(rows, key=lambda r: (by_trial[r.trial].index, r.epochs, r.fold))
    flat = [
        {
            "trial": r.trial,
            "fold": r.fold,
            "rung": r.rung,
            "epochs": r.epochs,
            **{k: r.params.get(k) for k in keys},
            **{k: r.value(k) for k in METRICS if k != "seconds"},
            "val_loss": r.metrics.loss,
            "seconds": r.seconds,
        }
        for r in ordered
    ]
    write_csv(out / "trials.csv", flat)
    curves = [
        {"trial": r.trial, "fold": r.fold, "rung": r.rung, **asdict(epoch)}
        for r in ordered
        for epoch in r.history
    ]
    write_csv(out / "curves.csv", curves)
    table = []
    for e in ranking:
        entry: dict[str, Any] = {
            "rank": e["rank"],
            "trial": e["trial"],
            **{k: e["params"].get(k) for k in keys},
            "epochs": e["epochs"],
            "completed": e["completed"],
            "folds": e["folds"],
        }
        for m in METRICS:
            entry[f"{m}_mean"] = e["metrics"][m]["mean"]
            entry[f"{m}_std"] = e["metrics"][m]["std"]
        table.append(entry)
    write_csv(out / "ranking.csv", table)
