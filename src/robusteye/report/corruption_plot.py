"""Figures of a corruption benchmark: accuracy against severity, and accuracy against SNR with
optional adversarial curves on the same axes (the report's house style).

Beside the report's other figures, apart from `robusteye.evaluate.corruption`, so that
computing a benchmark never imports matplotlib.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from robusteye.evaluate.corruption import AdversarialCurve, CorruptionResult
from robusteye.report.style import (
    FigureFile,
    bottom_legend,
    house_style,
    new_figure,
    palette,
    save_figure,
    suptitle,
)

__all__ = ["AdversarialCurve", "plot_corruption_benchmark"]
_MEAN = "mean over corruptions"


def _finite_pairs(
    xs: Sequence[float | None], ys: Sequence[float | None]
) -> list[tuple[float, float]]:
    return [
        (float(x), float(y))
        for x, y in zip(xs, ys, strict=True)
        if x is not None and y is not None and math.isfinite(x) and math.isfinite(y)
    ]


def _by_severity(ax: Axes, result: CorruptionResult, colors: dict[str, object]) -> None:
    xs = [0, *(s for s in result.severities if s > 0)]
    for name in result.corruptions:
        accs = [result.point(name, s).metrics.accuracy for s in xs[1:]]
        ax.plot(xs, [result.clean.accuracy, *accs], color=colors[name], marker="o", markersize=3)
    means = [result.clean.accuracy] + [
        sum(result.point(c, s).metrics.accuracy for c in result.corruptions)
        / len(result.corruptions)
        for s in xs[1:]
    ]
    ax.plot(xs, means, color="black", linewidth=2.2, marker="s", markersize=4)
    ax.set_xticks(xs, ["clean", *map(str, xs[1:])])
    ax.set(ylim=(0, 1), xlabel="severity", ylabel="accuracy", title="Accuracy by severity")


def _by_snr(
    ax: Axes,
    result: CorruptionResult,
    colors: dict[str, object],
    adversarial: Sequence[AdversarialCurve],
) -> list[tuple[Line2D, str]]:
    curves = [
        (name, _finite_pairs([p.snr_db for p in pts], [p.metrics.accuracy for p in pts]))
        for name in result.corruptions
        for pts in [[p for p in result.points if p.corruption == name and p.severity > 0]]
    ]
    adv = [(label, _finite_pairs(snr, acc)) for label, snr, acc in adversarial]
    xs = [x for _, pairs in curves + adv for x, _ in pairs]
    if not xs:
        ax.set_visible(False)
        return []
    gap = max(3.0, 0.15 * (max(xs) - min(xs)))
    x_clean = max(xs) + gap
    for name, pairs in curves:
        ax.plot(
            [x_clean, *(x for x, _ in pairs)],
            [result.clean.accuracy, *(y for _, y in pairs)],
            color=colors[name],
            marker="o",
            markersize=3,
        )
    handles = []
    styles = ("--", "-.", ":")
    for i, (label, pairs) in enumerate(adv):
        (line,) = ax.plot(
            [x for x, _ in pairs],
            [y for _, y in pairs],
            color=f"{0.15 + 0.2 * (i % 3):.2f}",
            linestyle=styles[i % 3],
            linewidth=1.8,
            marker="x",
            markersize=4,
        )
        handles.append((line, label))
    ax.axvline(x_clean - gap / 2, color="0.6", linewidth=0.8, linestyle=":")
    ticks = [t for t in MaxNLocator(6).tick_values(min(xs), max(xs)) if min(xs) <= t <= max(xs)]
    ax.set_xticks([x_clean, *ticks], ["clean", *(f"{t:g}" for t in ticks)])
    ax.set_xlim(x_clean + gap / 3, min(xs) - gap / 3)  # reversed: more damage to the right
    ax.set(ylim=(0, 1), ylabel="accuracy", title="Accuracy against SNR")
    ax.set_xlabel("SNR of the damaged images (dB); more damage →")
    return handles


def plot_corruption_benchmark(
    result: CorruptionResult,
    path: str | os.PathLike[str],
    *,
    adversarial: Sequence[AdversarialCurve] = (),
    title: str | None = None,
) -> FigureFile:
    """Write a PNG with accuracy against severity (one line per corruption, their mean in
    black) and against SNR, where `adversarial` curves (label, SNRs, accuracies) are drawn
    dashed in grey on the same axes."""
    colors = palette(list(result.corruptions))
    with house_style():
        fig, axes = new_figure(1, 2, panel=(4.6, 3.4))
        _by_severity(axes[0, 0], result, colors)
        adv = _by_snr(axes[0, 1], result, colors, adversarial)
        handles: list[Line2D] = [Line2D([], [], color=colors[c]) for c in result.corruptions]
        labels = [c.replace("_", " ") for c in result.corruptions]
        handles.append(Line2D([], [], color="black", linewidth=2.2))
        labels.append(_MEAN)
        handles += [h for h, _ in adv]
        labels += [label for _, label in adv]
        bottom_legend(fig, handles, labels)
        text = f"mCA {result.mean_corruption_accuracy:.3f}, clean {result.clean.accuracy:.3f}"
        suptitle(fig, f"{title} · {text}" if title else f"Corruption benchmark · {text}")
        return save_figure(fig, Path(path), title or "Corruption benchmark")
