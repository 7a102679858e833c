"""The report's image grid: a few evaluation crops, perturbed by each evaluation attack at each
of its eps, crafted on one model of the first fold (its standard variant where there is one)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from robusteye.attacks import ATTACKS, run_attack, snr_db
from robusteye.data import EyeDataset
from robusteye.experiments.grid.spec import ExperimentSpec
from robusteye.folders import inside
from robusteye.io import atomic_path
from robusteye.models import load_model
from robusteye.results import CellRow, CurveKind, Row

EXAMPLES_FILE = "examples.npz"


def write_examples(
    out: Path,
    spec: ExperimentSpec,
    data: EyeDataset,
    eval_idx: np.ndarray,
    rows: Sequence[Row],
) -> Path | None:
    """Write `examples.npz` once (it depends only on finished cells); None if nothing to show."""
    path = out / EXAMPLES_FILE
    cells = [r for r in rows if isinstance(r, CellRow) and r.fold == 0 and r.seed == spec.seeds[0]]
    if path.is_file() or not cells:
        return None
    row = next((r for r in cells if r.regime_kind == "standard"), cells[0])
    model = load_model(inside(out, row.checkpoint, "checkpoint"), channels_last=True)
    pick = _one_per_class(data, eval_idx, spec.evaluation.examples)
    x, y = data.images[pick], data.labels[pick]
    # the audit's worst case and the certificate are curves of the row, not attacks to re-run
    curves = [c for c in row.attacks if c.kind is CurveKind.ATTACK and c.name in ATTACKS]
    arrays: dict[str, np.ndarray] = {
        "clean": x.numpy(),
        "labels": y.numpy(),
        "classes": np.array(data.classes),
        "model": np.array(row.variant),
        "attacks": np.array([c.name for c in curves]),
    }
    for curve in curves:
        name = curve.name
        eps = [p.eps for p in curve.points if p.eps is not None]
        advs = [
            run_attack(
                name, model, x, y, e, generator=torch.Generator().manual_seed(0),
                **curve.options,
            ).cpu()
            for e in eps
        ]  # fmt: skip
        arrays[f"{name}_eps"] = np.array(eps, dtype=np.float64)
        arrays[f"{name}_snr_db"] = np.array([snr_db(x, a) for a in advs], dtype=np.float64)
        arrays[f"{name}_adv"] = torch.stack(advs).numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    return path


def _one_per_class(data: EyeDataset, rows: np.ndarray, n: int) -> np.ndarray:
    """Up to `n` rows, taking the classes in turn so every class shows."""
    labels = data.labels[rows].numpy()
    queues = [list(rows[labels == c]) for c in range(data.num_classes)]
    out: list[int] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(int(q.pop(0)))
    return np.array(out, dtype=np.int64)
