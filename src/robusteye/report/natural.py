"""Natural robustness in the report: the three kinds of robustness side by side (clean,
adversarial, corruptions), accuracy against severity per corruption, and corruptions and
attacks on one SNR axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Literal

import numpy as np
from matplotlib.lines import Line2D

from robusteye.report.page import name_cell
from robusteye.report.style import (
    FigureFile,
    Variants,
    bottom_legend,
    new_figure,
    panel_title,
    save_figure,
    short_label,
    suptitle,
    wrap,
)
from robusteye.report.summary import Stat, VariantSummary


def has_corruptions(summaries: Sequence[VariantSummary]) -> bool:
    return any(s.corruptions is not None for s in summaries)


def robustness_table(summaries: Sequence[VariantSummary], colors: dict[str, str]) -> str:
    """Per variant: clean accuracy, accuracy at each attack's strongest point, the mean
    corruption accuracy (mCA), its relative drop and the worst corruption."""
    attacks = list(dict.fromkeys(a.attack for s in summaries for a in s.attacks))
    head = ['<th class="name">variant</th>', "<th>clean</th>"]
    strongest: dict[str, str] = {}
    for name in attacks:
        for s in summaries:
            attack = next((a for a in s.attacks if a.attack == name), None)
            point = attack.strongest() if attack else None
            if point is not None:
                strongest[name] = point.title(detail=False)
                break
        head.append(f"<th>{escape(name.upper())} {escape(strongest.get(name, ''))}</th>")
    head += ["<th>corruptions (mCA)</th>", "<th>relative drop</th>", "<th>worst corruption</th>"]
    rows = []
    for s in summaries:
        cells = [name_cell(s, colors), _td(s.clean["accuracy"])]
        for name in attacks:
            attack = next((a for a in s.attacks if a.attack == name), None)
            point = attack.strongest() if attack else None
            cells.append(_td(point.metrics["accuracy"]) if point else "<td>–</td>")
        c = s.corruptions
        if c is None:
            cells += ["<td>–</td>"] * 3
        else:
            worst = c.worst()
            cells += [
                _td(c.mean["accuracy"]),
                f"<td>{_percent(c.relative_drop)}</td>",
                "<td>–</td>"
                if worst is None
                else f'<td class="name">{escape(worst[0])} ({worst[1].format(3)})</td>',
            ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><tr>{''.join(head)}</tr>{''.join(rows)}</table>"


def _td(stat: Stat) -> str:
    return f"<td>{escape(stat.format(3))}</td>"


def _percent(stat: Stat) -> str:
    if stat.mean is None or stat.std is None:
        return "–"
    return f"{100 * stat.mean:.1f}% ± {100 * stat.std:.1f}"


def accuracy_vs_severity(
    vs: Variants, summaries: Sequence[VariantSummary], path: Path
) -> FigureFile:
    """One panel per corruption (and one for their mean): accuracy against severity per
    variant, mean ± 1 std across folds, clean at severity 0."""
    with_c = [s for s in summaries if s.corruptions is not None]
    names = list(dict.fromkeys(n for s in with_c for n in s.corruptions.per_corruption))  # type: ignore[union-attr]
    panels = ["mean of all corruptions", *names]
    ncols = min(5, len(panels))  # no empty columns beside a single corruption
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = new_figure(nrows, ncols, panel=(2.5, 2.1))
    for ax, panel in zip(axes.flat, panels, strict=False):
        for s in with_c:
            c = s.corruptions
            assert c is not None
            x = np.array([0, *c.severities], float)
            if panel in c.per_corruption:
                stats = [c.clean["accuracy"], *c.per_corruption[panel]]
            else:
                per = [stat for stats in c.per_corruption.values() for stat in stats]
                k = len(c.severities)
                stats = [c.clean["accuracy"]] + [
                    _mean_of([per[i] for i in range(j, len(per), k)]) for j in range(k)
                ]
            mean = np.array([np.nan if st.mean is None else st.mean for st in stats])
            std = np.array([np.nan if st.std is None else st.std for st in stats])
            color = vs.colors.get(s.variant, "0.4")
            ax.plot(x, mean, color=color, marker="o", markersize=2.5, linewidth=1.2)
            ax.fill_between(x, np.clip(mean - std, 0, 1), np.clip(mean + std, 0, 1),
                            color=color, alpha=0.12, linewidth=0)  # fmt: skip
        ax.set_title(panel.replace("_", " "), fontsize=8.5)
        ax.set_ylim(0, 1)
        ax.set_xticks(range(0, 6))
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("accuracy")
    for ax in axes[-1, :]:
        ax.set_xlabel("severity (0 = clean)")
    handles = [Line2D([], [], color=vs.colors.get(s.variant, "0.4")) for s in with_c]
    one_model = len(vs.by_model()) == 1
    bottom_legend(fig, handles, [wrap(short_label(s.label) if one_model else s.label, 34)
                                 for s in with_c])  # fmt: skip
    suptitle(fig, "Accuracy under natural corruptions against severity, mean ± 1 std across folds")
    return save_figure(fig, path, "Accuracy against corruption severity")


def _mean_of(stats: Sequence[Stat]) -> Stat:
    means = [s.mean for s in stats if s.mean is not None]
    stds = [s.std for s in stats if s.std is not None]
    if not means:
        return Stat(None, None, 0)
    return Stat(float(np.mean(means)), float(np.mean(stds)) if stds else 0.0, len(means))


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "8")


def natural_vs_adversarial(
    vs: Variants, summaries: Sequence[VariantSummary], path: Path
) -> FigureFile:
    """One panel per variant: accuracy against SNR for every attack (lines) and every
    corruption at every severity (markers), so natural and adversarial damage share an axis."""
    with_c = [s for s in summaries if s.corruptions is not None]
    ncols = min(3, len(with_c))
    nrows = math.ceil(len(with_c) / ncols)
    fig, axes = new_figure(nrows, ncols, panel=(3.9, 3.1))
    names = list(dict.fromkeys(n for s in with_c for n in s.corruptions.per_corruption))  # type: ignore[union-attr]
    markers = {n: _MARKERS[i % len(_MARKERS)] for i, n in enumerate(names)}
    line_styles: tuple[Literal["-", "--", ":", "-."], ...] = ("-", "--", ":", "-.")
    attack_names = list(dict.fromkeys(a.attack for s in with_c for a in s.attacks))
    for ax, s in zip(axes.flat, with_c, strict=False):
        c = s.corruptions
        assert c is not None
        for name in names:
            xs = [st.mean for st in c.snr_db.get(name, ())]
            ys = [st.mean for st in c.per_corruption.get(name, ())]
            pts = [(x, y) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
            if pts:
                ax.scatter(*zip(*pts, strict=True), marker=markers[name], s=14, color="0.45",
                           alpha=0.75, linewidths=0)  # fmt: skip
        for attack in s.attacks:
            pts = [
                (p.snr_db.mean, p.metrics["accuracy"].mean)
                for p in attack.points
                if p.snr_db.mean is not None and p.metrics["accuracy"].mean is not None
            ]
            if pts:
                style = line_styles[attack_names.index(attack.attack) % len(line_styles)]
                ax.plot(*zip(*sorted(pts), strict=True), linestyle=style, marker="o",
                        markersize=3, color=vs.colors.get(s.variant, "C0"))  # fmt: skip
        ax.invert_xaxis()  # SNR falls to the right: stronger damage
        ax.set_ylim(0, 1)
        panel_title(ax, s.label if len(s.label) < 60 else short_label(s.label), fontsize=8)
        ax.set_xlabel("SNR (dB); stronger damage →")
        ax.set_ylabel("accuracy")
    for ax in axes.flat[len(with_c) :]:
        ax.set_visible(False)
    handles: list[Line2D] = [
        Line2D([], [], color="0.2", linestyle=line_styles[i % len(line_styles)], label=a.upper())
        for i, a in enumerate(attack_names)
    ]
    handles += [
        Line2D([], [], marker=markers[n], linestyle="", color="0.45", label=n.replace("_", " "))
        for n in names
    ]
    bottom_legend(fig, handles, [str(h.get_label()) for h in handles])
    suptitle(fig, "Natural corruptions (markers, each at severities 1-5) and attacks (lines)")
    return save_figure(fig, path, "Corruptions and attacks against SNR")
