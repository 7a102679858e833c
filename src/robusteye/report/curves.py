"""Line figures: ROC curves (clean and under attack), learning curves, accuracy against SNR.

Every curve is the mean across a variant's cells (folds and seeds) with a ±1 std band.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, MaxNLocator

from robusteye.report.style import (
    FigureFile,
    Variants,
    band,
    figure_legend,
    mean_std,
    new_figure,
    panel_title,
    save_figure,
    short_label,
    suptitle,
)
from robusteye.report.summary import stat
from robusteye.results import CellRow, CurvePoint, Roc
from robusteye.train.curves import EpochRecord

FPR_GRID = np.linspace(0.0, 1.0, 101)
ROC_PANEL = (4.0, 3.6)


def mean_roc(rocs: Sequence[Roc | None]) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Mean and std TPR on `FPR_GRID` and an 'AUC m ± s' text; None without any curve."""
    curves = [
        np.interp(FPR_GRID, np.asarray(r.fpr, float), np.asarray(r.tpr, float))
        for r in rocs
        if r and r.fpr and r.tpr
    ]
    if not curves:
        return None
    arr = np.stack(curves)
    auc = stat(r.auc for r in rocs if r)
    return arr.mean(0), arr.std(0), f"AUC {auc.format(3)}"


def _roc_axes(ax: Axes, title: str) -> None:
    ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    panel_title(ax, title)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (micro-average)")
    if ax.get_legend_handles_labels()[0]:  # AUC per curve; variant names in the figure legend
        ax.legend(loc="lower right", fontsize=6.5, handlelength=1.5)


def _hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def roc_clean(vs: Variants, path: Path) -> FigureFile:
    """One panel per model and regime kind; the model's standard variant drawn dashed in each."""
    panels: list[tuple[str, str, list[str]]] = []
    for model, variants in vs.by_model().items():
        kinds: dict[str, list[str]] = {}
        for v in variants:
            kinds.setdefault(vs.kind(v), []).append(v)
        panels += [(model, kind, members) for kind, members in kinds.items()]
    ncols = min(3, len(panels))
    fig, axes = new_figure(math.ceil(len(panels) / ncols), ncols, panel=ROC_PANEL)
    for ax, (model, kind, members) in zip(axes.flat, panels, strict=False):
        reference = [
            v for v in vs.by_model()[model] if v not in members and vs.kind(v) == "standard"
        ]
        for v in reference + members:
            roc = mean_roc([c.roc for c in vs.cells[v]])
            if roc is None:
                continue
            dash = "--" if v in reference else "-"
            band(ax, FPR_GRID, roc[0], roc[1], color=vs.colors[v], label=roc[2], linestyle=dash)
        _roc_axes(ax, f"{vs.model_title(model)} · {kind}")
    _hide_unused(axes, len(panels))
    figure_legend(fig, vs, list(vs.cells), dashed="standard variant (reference)")
    suptitle(fig, "Clean ROC curves, mean ± 1 std across folds")
    return save_figure(fig, path, "ROC curves (clean test data)")


def _point_title(points: Sequence[CurvePoint]) -> str:
    target = points[0].target_snr_db
    if target is not None:
        return f"target SNR {target:g} dB"
    snr = stat(p.snr_db for p in points)
    eps = stat(p.eps for p in points).mean
    text = "ε ?" if eps is None else f"ε {eps:.3g}"
    return text + ("" if snr.mean is None else f" ({snr.mean:.1f} dB)")


def _points(cells: Sequence[CellRow], attack: str) -> list[list[CurvePoint]]:
    """The points of `attack` by index, each a list over cells."""
    slots: list[list[CurvePoint]] = []
    for cell in cells:
        for entry in cell.attacks:
            if entry.name != attack:
                continue
            for i, point in enumerate(entry.points):
                if i == len(slots):
                    slots.append([])
                slots[i].append(point)
    return slots


def attack_names(vs: Variants) -> list[str]:
    """Attack names in order of first appearance across all cells."""
    names: dict[str, None] = {}
    for cells in vs.cells.values():
        for cell in cells:
            for entry in cell.attacks:
                names.setdefault(entry.name, None)
    return list(names)


def roc_attack(vs: Variants, attack: str, path: Path) -> FigureFile:
    """ROC under `attack`: one row per model, one column per attack point, a curve per variant."""
    models = vs.by_model()
    ncols = max(len(_points([c for v in vs.cells for c in vs.cells[v]], attack)), 1)
    fig, axes = new_figure(len(models), ncols, panel=ROC_PANEL)
    for row, (model, variants) in zip(axes, models.items(), strict=True):
        slots = _points([c for v in variants for c in vs.cells[v]], attack)
        for i, ax in enumerate(row):
            if i >= len(slots):
                ax.set_visible(False)
                continue
            for v in variants:
                points = _points(vs.cells[v], attack)
                roc = mean_roc([p.roc for p in points[i]]) if i < len(points) else None
                if roc is not None:
                    band(ax, FPR_GRID, roc[0], roc[1], color=vs.colors[v], label=roc[2])
            _roc_axes(ax, f"{vs.model_title(model)} · {attack.upper()} {_point_title(slots[i])}")
    figure_legend(fig, vs, list(vs.cells))
    suptitle(fig, f"ROC curves under {attack.upper()}, mean ± 1 std across folds")
    return save_figure(fig, path, f"ROC curves under {attack.upper()}")


def _side_legend(ax: Axes, extra: Sequence[tuple[Any, str]] = ()) -> None:
    """The panel's legend to its right, plus grey line styles named in `extra`."""
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", linestyle=style) for style, _ in extra]
    labels += [name for _, name in extra]
    if handles:
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)


def _learning_panels(vs: Variants, variants: Sequence[str], ax_loss: Axes, ax_acc: Axes) -> bool:
    """Draw one model's panels; True when a robust check (PGD accuracy per epoch) was drawn."""
    means: list[float] = []
    robust_drawn = False
    for v in variants:
        histories = [c.history for c in vs.cells[v]]
        epochs = sorted({h.epoch for hist in histories for h in hist})
        x = np.asarray(epochs, float)
        for ax, key, bounds in ((ax_loss, "loss", (0.0, np.inf)), (ax_acc, "acc", (0.0, 1.0))):
            for split, style in (("train", "-"), ("val", "--")):
                mean, std = mean_std([_by_epoch(h, epochs, f"{split}_{key}") for h in histories])
                label = short_label(vs.label(v)) if split == "train" and key == "acc" else None
                band(
                    ax,
                    x,
                    mean,
                    std,
                    color=vs.colors[v],
                    label=label,
                    bounds=bounds,
                    linestyle=style,
                    marker="o",
                    markersize=2.5,
                )
                means += list(mean[np.isfinite(mean)]) if key == "loss" else []
        mean, std = mean_std([_by_epoch(h, epochs, "val_robust_acc") for h in histories])
        if np.isfinite(mean).any():  # the attack regimes' PGD check, dotted
            band(ax_acc, x, mean, std, color=vs.colors[v], bounds=(0.0, 1.0), linestyle=":")
            robust_drawn = True
        for hist in histories:  # catastrophic overfitting: the epoch the guard rolled back
            for h in hist:
                if h.collapsed:
                    robust = h.val_robust_acc
                    y = robust if robust is not None and math.isfinite(robust) else 0.0
                    ax_acc.plot(h.epoch, y, "x", color="red", ms=8)
    if means and min(means) > 0 and max(means) / min(means) > 10:
        ax_loss.set_yscale("log")  # one diverging epoch would flatten every other curve
        ax_loss.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax_loss.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    return robust_drawn


def learning_curves(vs: Variants, path: Path) -> FigureFile:
    """Train (solid) and validation (dashed) loss and accuracy per epoch, one row per model;
    for the attack regimes also the PGD check's accuracy (dotted) and a red x where the
    guard caught catastrophic overfitting."""
    models = vs.by_model()
    fig, axes = new_figure(len(models), 2, panel=(4.4, 3.0))
    for (ax_loss, ax_acc), (model, variants) in zip(axes, models.items(), strict=True):
        robust = _learning_panels(vs, variants, ax_loss, ax_acc)
        title = vs.model_title(model)
        log = " (log scale)" if ax_loss.get_yscale() == "log" else ""
        ax_loss.set(xlabel="epoch", ylabel=f"cross-entropy loss{log}")
        ax_acc.set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1))
        panel_title(ax_loss, f"{title} · loss")
        panel_title(ax_acc, f"{title} · accuracy")
        for ax in (ax_loss, ax_acc):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        styles = [("-", "train"), ("--", "validation")]
        _side_legend(ax_acc, [*styles, (":", "PGD check")] if robust else styles)
    suptitle(fig, "Learning curves, mean ± 1 std across folds")
    return save_figure(fig, path, "Learning curves")


def _by_epoch(history: Sequence[EpochRecord], epochs: Sequence[int], field: str) -> list[Any]:
    """The EpochRecord `field` (train_loss, val_acc, ...) at each of `epochs` (None if absent)."""
    values = {h.epoch: getattr(h, field) for h in history}
    return [values.get(e) for e in epochs]


def _accuracies(cell: CellRow, attack: str) -> list[float | None]:
    """Clean accuracy (on the attacked images where the row has it), then the accuracy at
    each point of `attack`, for one cell."""
    points = _points([cell], attack)
    entry = next((a for a in cell.attacks if a.name == attack), None)
    clean = cell.clean if entry is None else entry.clean
    return [clean.accuracy] + [ps[0].metrics.accuracy for ps in points]


def _snr_ticks(ax: Axes, xs: Sequence[float], x_clean: float) -> None:
    """Ticks at the measured SNRs (thinned so labels never collide) and 'clean'."""
    spacing = 0.06 * (x_clean - min(xs))
    ticks: list[float] = []
    for s in sorted(xs, reverse=True):
        if not ticks or ticks[-1] - s >= spacing:
            ticks.append(s)
    ax.set_xticks([x_clean, *ticks], ["clean", *(f"{t:.1f}" for t in ticks)])


def accuracy_vs_snr(vs: Variants, attack: str, path: Path) -> FigureFile:
    """Accuracy against SNR (dB), one row per model; SNR falls to the right, clean at the left."""
    models = vs.by_model()
    fig, axes = new_figure(len(models), 1, panel=(8.6, 3.2))
    for ax, (model, variants) in zip(axes.flat, models.items(), strict=True):
        curves = []
        for v in variants:
            snr = [stat(p.snr_db for p in ps).mean for ps in _points(vs.cells[v], attack)]
            curves.append((v, snr, [_accuracies(c, attack) for c in vs.cells[v]]))
        xs = [s for _, snr, _ in curves for s in snr if s is not None]
        if not xs:
            ax.set_visible(False)
            continue
        gap = max(3.0, 0.2 * (max(xs) - min(xs)))
        x_clean = max(xs) + gap
        for v, snr, rows in curves:
            keep = [0] + [i + 1 for i, s in enumerate(snr) if s is not None]
            x = np.asarray([x_clean] + [s for s in snr if s is not None], float)
            mean, std = mean_std([[r[i] if i < len(r) else None for i in keep] for r in rows])
            band(
                ax,
                x,
                mean,
                std,
                color=vs.colors[v],
                label=short_label(vs.label(v)),
                bounds=(0.0, 1.0),
                marker="o",
                markersize=3,
            )
        ax.axvline(x_clean - gap / 2, color="0.6", linewidth=0.8, linestyle=":")
        _snr_ticks(ax, xs, x_clean)
        ax.set_xlim(x_clean + gap / 3, min(xs) - gap / 3)  # reversed: SNR decreases to the right
        ax.set(ylim=(0, 1))
        panel_title(ax, f"{vs.model_title(model)} · {attack.upper()}")
        ax.set_xlabel("SNR of the perturbed images (dB); stronger attack →")
        ax.set_ylabel("accuracy")
        _side_legend(ax)
    suptitle(fig, f"Accuracy under {attack.upper()} against SNR, mean ± 1 std across folds")
    return save_figure(fig, path, f"Accuracy against SNR under {attack.upper()}")
