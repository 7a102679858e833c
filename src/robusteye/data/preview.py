"""A labelled montage of crops per class, for checking a data set by eye.

The montage holds at most `MAX_PREVIEW_CELLS` crops: with many classes it shows the first
`preview_rows` of them (a figure of 10,000 x 40 axes takes minutes and gigabytes to draw)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from robusteye.data.dataset import EyeDataset
from robusteye.errors import UsageError
from robusteye.io import atomic_path

#: Most cells (crops) of one montage: 40 classes of 10, or 10 classes of 40.
MAX_PREVIEW_CELLS = 400


def preview_rows(num_classes: int, per_class: int) -> int:
    """How many classes (rows, the first ones) a montage of `per_class` crops each shows."""
    return min(num_classes, max(1, MAX_PREVIEW_CELLS // max(per_class, 1)))


def preview_grid(
    ds: EyeDataset, out: str | os.PathLike[str], *, per_class: int = 10, seed: int = 0
) -> Path:
    """Write a PNG with one row per class of `per_class` random crops, titled with person ids
    (the first `preview_rows` classes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UsageError(f"preview output must end in .png: {out}")
    if per_class < 1:
        raise UsageError(f"per_class must be >= 1, got {per_class}")
    rng = np.random.default_rng(seed)
    labels = ds.labels.numpy()
    rows = preview_rows(ds.num_classes, per_class)
    fig, axes = plt.subplots(
        rows, per_class, squeeze=False, figsize=(1.1 * per_class + 1.4, 1.25 * rows)
    )
    for row, name in enumerate(ds.classes[:rows]):
        idx = np.flatnonzero(labels == row)
        pick: np.ndarray | list[int] = (
            rng.choice(idx, size=min(per_class, idx.size), replace=False) if idx.size else []
        )
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(pick):
                i = int(pick[col])
                ax.imshow(ds.images[i, 0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
                ax.set_title(ds.persons[i][-12:], fontsize=6)
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(f"{name}\n({idx.size})", fontsize=8)
    shown = "" if rows == ds.num_classes else f"; the first {rows} of {ds.num_classes:,} classes"
    fig.suptitle(f"{len(ds)} crops, {len(ds.person_ids)} persons{shown}", fontsize=9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
