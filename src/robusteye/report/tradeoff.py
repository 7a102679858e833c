"""Robust training judged by the audit: clean accuracy against the worst case over the
audit's attacks, per variant, as a table and as a trade-off figure (up and to the right is
better), so a recipe's robustness is always read next to what it cost in clean accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from robusteye.report.style import (
    FigureFile,
    Variants,
    bottom_legend,
    new_figure,
    panel_title,
    save_figure,
    suptitle,
    wrap,
)
from robusteye.report.summary import PointSummary, Stat, VariantSummary
from robusteye.results import CurveKind


def _worst(summary: VariantSummary) -> tuple[PointSummary, ...]:
    attack = next((a for a in summary.attacks if a.kind is CurveKind.WORST_CASE), None)
    return () if attack is None else attack.points


def has_worst_case(summaries: Sequence[VariantSummary]) -> bool:
    return any(_worst(s) for s in summaries)


def tradeoff_table(summaries: Sequence[VariantSummary], colors: dict[str, str]) -> str:
    """Per audited variant: clean accuracy, then the worst case at every audited point, mean
    ± std across folds; the best figure of each column in bold."""
    audited = [s for s in summaries if _worst(s)]
    if not audited:
        return ""
    points = _worst(audited[0])
    head = "".join(f"<th>worst case {escape(p.title(detail=False))}</th>" for p in points)
    columns: list[list[Stat]] = [[s.clean["accuracy"] for s in audited]]
    for i in range(len(points)):
        columns.append([_at(s, i) for s in audited])
    best = [max((st.mean for st in col if st.mean is not None), default=None) for col in columns]
    rows = []
    for r, s in enumerate(audited):
        color = colors.get(s.variant, "#888")
        cells = [
            f'<td class="name"><span class="swatch" style="background:{color}"></span>'
            f"{escape(s.label)}</td>"
        ]
        for c, col in enumerate(columns):
            st = col[r]
            text = escape(st.format(3))
            bold = st.mean is not None and st.mean == best[c]
            cells.append(f"<td><b>{text}</b></td>" if bold else f"<td>{text}</td>")
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<table><tr><th class="name">variant</th><th>clean</th>{head}</tr>{"".join(rows)}</table>'
    )


def _at(summary: VariantSummary, index: int) -> Stat:
    points = _worst(summary)
    return points[index].metrics["accuracy"] if index < len(points) else Stat(None, None, 0)


def clean_vs_worst_case(
    summaries: Sequence[VariantSummary], vs: Variants, path: Path
) -> FigureFile:
    """One panel per audited point: each variant at (clean accuracy, worst-case accuracy),
    with ±1 std across folds as error bars."""
    audited = [s for s in summaries if _worst(s)]
    points = _worst(audited[0])
    fig, axes = new_figure(1, len(points), panel=(4.2, 3.6))
    for i, (ax, point) in enumerate(zip(axes.flat, points, strict=False)):
        for s in audited:
            clean, worst = s.clean["accuracy"], _at(s, i)
            if clean.mean is None or worst.mean is None:
                continue
            ax.errorbar(
                clean.mean,
                worst.mean,
                xerr=clean.std,
                yerr=worst.std,
                fmt="o",
                color=vs.colors.get(s.variant),
                label=s.label,
                capsize=2,
            )
        ax.set(xlabel="clean accuracy", ylabel="worst-case accuracy (audit)", ylim=(0, 1))
        panel_title(ax, f"worst case at {point.title(detail=False)}")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if handles:
        bottom_legend(fig, handles, [wrap(label, 34) for label in labels])
    suptitle(fig, "What robustness costs: clean accuracy against the audit's worst case")
    return save_figure(fig, path, "Clean accuracy against the audit's worst case")
