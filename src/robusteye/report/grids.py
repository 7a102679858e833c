"""Grid figures: example images under attack, transferability heatmaps, confusion matrices."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from robusteye.report.style import (
    FigureFile,
    Variants,
    new_figure,
    panel_title,
    save_figure,
    suptitle,
    wrap,
)
from robusteye.report.summary import stat
from robusteye.results import TransferRow, TransferScores

MAX_EXAMPLES = 4


def _str(value: Any) -> str:
    return str(value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value)


def example_attacks(examples: dict[str, np.ndarray]) -> list[str]:
    """The attacks with perturbed images in `examples.npz`."""
    if "clean" not in examples or "attacks" not in examples:
        return []
    names = [str(a) for a in np.atleast_1d(examples["attacks"])]
    return [a for a in names if f"{a}_adv" in examples]


def _columns(
    examples: dict[str, np.ndarray], attack: str, clean: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    """Clean, then per eps of `attack` the perturbed images and the amplified difference."""
    eps = np.atleast_1d(examples.get(f"{attack}_eps", np.array([])))
    snr = np.atleast_1d(examples.get(f"{attack}_snr_db", np.full(len(eps), np.nan)))
    adv = examples[f"{attack}_adv"]
    columns: list[tuple[str, np.ndarray]] = [("clean", clean)]
    for k in range(min(len(eps), len(adv))):
        x_adv = np.asarray(adv[k], np.float32)[: len(clean), 0]
        diff = x_adv - clean
        gain = 0.5 / (float(np.abs(diff).max()) or 1.0)  # the largest change spans half the range
        db = f"{snr[k]:.1f} dB" if k < len(snr) and np.isfinite(snr[k]) else "SNR n/a"
        columns.append((f"{attack.upper()} ε {eps[k]:.3g}\n{db}", x_adv))
        columns.append((f"difference\n×{gain:.0f}", 0.5 + diff * gain))
    return columns


def example_grid(examples: dict[str, np.ndarray], attack: str, path: Path) -> FigureFile:
    """Rows: example crops. Columns: clean, then per eps of `attack` the perturbed image and
    the difference amplified (mid-grey = unchanged)."""
    clean = np.asarray(examples["clean"], np.float32)[:MAX_EXAMPLES, 0]
    labels = np.asarray(examples.get("labels", np.zeros(len(clean), int)))
    classes = [str(c) for c in np.atleast_1d(examples.get("classes", np.array([])))]
    columns = _columns(examples, attack, clean)
    fig, axes = new_figure(len(clean), len(columns), panel=(1.25, 1.35))
    for j, (title, images) in enumerate(columns):
        for i in range(len(clean)):
            ax = axes[i, j]
            ax.imshow(np.clip(images[i], 0, 1), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
            if i == 0:
                ax.set_title(title, fontsize=7.5)
            if j == 0 and i < len(labels):
                label = int(labels[i])
                ax.set_ylabel(classes[label] if label < len(classes) else str(label), fontsize=8)
    crafted = _str(examples.get("model", ""))
    suptitle(fig, f"{attack.upper()} examples" + (f" crafted on {crafted}" if crafted else ""))
    return save_figure(fig, path, f"Example images under {attack.upper()}")


def _annotate(ax: Axes, values: np.ndarray, fmt: str) -> None:
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(
                j,
                i,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v < 0.5 else "black",
            )


def transfer_settings(transfers: Sequence[TransferRow]) -> list[list[TransferScores]]:
    """Transfer matrices grouped by setting (index within each row), each a list over folds."""
    settings: list[list[TransferScores]] = []
    for row in transfers:
        for i, matrix in enumerate(row.matrices):
            if i == len(settings):
                settings.append([])
            settings[i].append(matrix)
    return settings


def setting_title(matrices: Sequence[TransferScores]) -> str:
    """'FGSM at ε 0.03' or 'FGSM at SNR 30 dB'."""
    first = matrices[0]
    attack = first.attack.upper()
    if first.target_snr_db is not None:
        return f"{attack} at SNR {first.target_snr_db:g} dB"
    eps = first.eps or (math.nan,)
    return f"{attack} at ε {eps[0]:g}"


def transfer_heatmap(vs: Variants, matrices: Sequence[TransferScores], path: Path) -> FigureFile:
    """Mean accuracy across folds of examples crafted on the row model, scored on the column."""
    names = list(matrices[0].names)
    stack = np.stack([np.asarray(m.accuracy, float) for m in matrices if list(m.names) == names])
    mean = stack.mean(0)
    labels = [wrap(vs.label(n) if n in vs.cells else n, 22) for n in names]
    side = max(3.8, 1.0 + 0.9 * len(names))
    fig, axes = new_figure(1, 1, panel=(side + 1.2, side))
    ax = axes[0, 0]
    image = ax.imshow(mean, cmap="viridis", vmin=0, vmax=1)
    _annotate(ax, mean, ".2f")
    ax.grid(False)
    ax.set_xticks(range(len(names)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), labels, fontsize=7)
    ax.set_xlabel("target model (evaluated on)")
    ax.set_ylabel("source model (examples crafted on)")
    fig.colorbar(image, ax=ax, label="accuracy", shrink=0.8)
    title = setting_title(matrices)
    # Name what the setting leaves free: the SNR an eps gives, or the eps an SNR needs.
    by_snr = matrices[0].target_snr_db is not None
    value = stat(v for m in matrices for v in (m.eps if by_snr else m.snr_db)).mean
    at = "" if value is None else (f" (mean ε {value:.3g})" if by_snr else f" ({value:.1f} dB)")
    ax.set_title(f"Transfer, {title}{at}\naccuracy, mean of {len(stack)} fold(s) and seed(s)")
    return save_figure(fig, path, f"Transferability, {title}")


def confusion_matrices(vs: Variants, path: Path) -> FigureFile:
    """Clean confusion matrix per variant, summed across folds and normalised by row (true)."""
    variants = list(vs.cells)
    ncols = min(4, len(variants))
    fig, axes = new_figure(math.ceil(len(variants) / ncols), ncols, panel=(3.4, 3.2))
    for ax, v in zip(axes.flat, variants, strict=False):
        matrices = [np.asarray(c.clean.confusion, float) for c in vs.cells[v] if c.clean.confusion]
        if not matrices or len({m.shape for m in matrices}) != 1:
            ax.set_visible(False)
            continue
        total = np.sum(matrices, axis=0)
        rows = total.sum(1, keepdims=True)
        norm = np.divide(total, rows, out=np.full_like(total, np.nan), where=rows > 0)
        classes = list(vs.cells[v][0].clean.classes)
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(norm):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7.5,
                    color="white" if value > 0.5 else "black",
                )
        ax.grid(False)
        ticks = range(len(classes))
        ax.set_xticks(ticks, classes, rotation=30, ha="right", fontsize=7)
        ax.set_yticks(ticks, classes, fontsize=7)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        panel_title(ax, f"{vs.label(v)} (n={int(total.sum())})", fontsize=8.5)
    for ax in axes.flat[len(variants) :]:
        ax.set_visible(False)
    suptitle(fig, "Clean confusion matrices, summed across folds, rows normalised")
    return save_figure(fig, path, "Confusion matrices (clean)")
