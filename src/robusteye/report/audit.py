"""The attack audit in the report: the worst case next to each attack's curve, per variant,
certified accuracy (a lower bound the attacks can never go below) under them, and every
indicator of attack failure in plain sight at the top of the page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from robusteye.report.curves import attack_names
from robusteye.report.style import (
    FigureFile,
    Variants,
    mean_std,
    new_figure,
    panel_title,
    save_figure,
    suptitle,
)
from robusteye.report.summary import stat
from robusteye.results import CellRow, CurveKind

_BOUNDS = (CurveKind.WORST_CASE, CurveKind.CERTIFIED, CurveKind.CEILING)


def has_audit(cells: Sequence[CellRow]) -> bool:
    return any(c.audit is not None for c in cells)


def has_certificates(cells: Sequence[CellRow]) -> bool:
    return any(c.certificate is not None for c in cells)


def warnings_html(cells: Sequence[CellRow]) -> str:
    """A box listing every warning of every audited cell, or one line saying there was none."""
    audited = [c for c in cells if c.audit is not None]
    if not audited:
        return ""
    items = []
    for cell in audited:
        assert cell.audit is not None
        where = f"{cell.label or cell.variant} · fold {cell.fold} · seed {cell.seed}"
        for ind in cell.audit.warnings:
            items.append(
                f"<li><b>{escape(ind.name)}</b> ({escape(where)}): {escape(ind.reason)}</li>"
            )
    if not items:
        return (
            '<p class="audit-pass">Attack audit: no indicator of attack failure in any of the '
            f"{len(audited)} audited cells, so the worst-case figures can be trusted as far as "
            "these attacks reach.</p>"
        )
    return (
        '<div class="audit-warn"><b>Attack audit: the attacks may have failed.</b> A robust '
        "accuracy is only an upper bound when an indicator fires; treat these figures as "
        f"optimistic.<ul>{''.join(items)}</ul></div>"
    )


def worst_case_vs_attacks(vs: Variants, path: Path) -> FigureFile:
    """One panel per variant: accuracy against SNR under each attack, the audit's worst
    case (black) below them all, certified accuracy (green, dashed) below that, and the
    data's ceiling (grey, dotted) above everything: the gap from the worst case up to it is
    the model's, from it up to 1 the data's."""
    kinds = {c.name: c.kind for cells in vs.cells.values() for cell in cells for c in cell.attacks}
    bounds = [name for name, kind in kinds.items() if kind in _BOUNDS]
    variants = [v for v in vs.cells if any(kinds[a] in _BOUNDS for a in _names(vs.cells[v]))]
    ncols = min(3, len(variants))
    nrows = -(-len(variants) // ncols)
    fig, axes = new_figure(nrows, ncols, panel=(4.2, 3.2))
    others = [a for a in attack_names(vs) if kinds[a] not in _BOUNDS]
    colors = {a: f"C{i}" for i, a in enumerate(others)}
    styles = {  # matplotlib keyword arguments of each bound's line
        CurveKind.WORST_CASE: {"color": "black", "linewidth": 2.2, "label": "worst case (audit)"},
        CurveKind.CERTIFIED: {
            "color": "tab:green", "linewidth": 2.2, "linestyle": "--",
            "label": "certified (L2, sound bound)",
        },
        CurveKind.CEILING: {
            "color": "grey", "linewidth": 1.5, "linestyle": ":",
            "label": "data ceiling (no model above)",
        },
    }  # fmt: skip
    for ax, v in zip(axes.flat, variants, strict=False):
        for attack in [*others, *bounds]:
            xs, rows = _curve(vs.cells[v], attack)
            if not xs:
                continue
            mean, _ = mean_std(rows)
            style = styles.get(
                kinds[attack],
                {"color": colors.get(attack), "linewidth": 1.2, "label": attack.upper()},
            )
            ax.plot(xs, mean, marker="o", markersize=3, **style)
        ax.invert_xaxis()
        ax.set(ylim=(0, 1), xlabel="SNR (dB); stronger →")
        panel_title(ax, vs.label(v))
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(variants) :]:
        ax.set_visible(False)
    shown = {kinds[b] for b in bounds}
    what = " and ".join(
        name
        for kind, name in ((CurveKind.WORST_CASE, "the audit's worst case"),
                           (CurveKind.CERTIFIED, "certified accuracy"),
                           (CurveKind.CEILING, "the data's ceiling"))
        if kind in shown
    )  # fmt: skip
    suptitle(fig, f"Each attack, {what}, mean across folds")
    return save_figure(
        fig, path, "Accuracy against SNR: each attack, the worst case and the certificate"
    )


def _names(cells: Sequence[CellRow]) -> list[str]:
    return [a.name for c in cells for a in c.attacks]


def _curve(cells: Sequence[CellRow], attack: str) -> tuple[list[float], list[list[float | None]]]:
    """Mean SNR per point index, and each cell's accuracies at those points."""
    per_cell = []
    for cell in cells:
        entry = next((a for a in cell.attacks if a.name == attack), None)
        if entry is not None:
            per_cell.append(entry.points)
    if not per_cell:
        return [], []
    size = min(len(p) for p in per_cell)
    snr = [stat(p[i].snr_db for p in per_cell).mean for i in range(size)]
    keep = [i for i in range(size) if snr[i] is not None]
    rows = [[p[i].metrics.accuracy for i in keep] for p in per_cell]
    return [float(np.float64(snr[i])) for i in keep], rows
