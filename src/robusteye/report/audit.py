"""The attack audit in the report: the worst case next to each attack's curve, per variant,
certified accuracy (a lower bound the attacks can never go below) under them, and every
indicator of attack failure in plain sight at the top of the page."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.evaluate.audit import WORST_CASE
from robusteye.evaluate.certify import CERTIFIED
from robusteye.report.curves import attack_names
from robusteye.report.style import FigureFile, Variants, mean_std, new_figure, save_figure, wrap
from robusteye.report.summary import stat


def has_audit(cells: Sequence[dict[str, Any]]) -> bool:
    return any(isinstance(c.get("audit"), dict) for c in cells)


def has_certificates(cells: Sequence[dict[str, Any]]) -> bool:
    return any(a.get("attack") == CERTIFIED for c in cells for a in c.get("attacks") or [])


def warnings_html(cells: Sequence[dict[str, Any]]) -> str:
    """A box listing every warning of every audited cell, or one line saying there was none."""
    audited = [c for c in cells if isinstance(c.get("audit"), dict)]
    if not audited:
        return ""
    items = []
    for cell in audited:
        name = cell.get("label") or cell.get("variant")
        where = f"{name} · fold {cell.get('fold')} · seed {cell.get('seed')}"
        for ind in cell["audit"].get("indicators") or []:
            if ind.get("status") == "warn":
                items.append(
                    f"<li><b>{escape(str(ind.get('name')))}</b> ({escape(where)}): "
                    f"{escape(str(ind.get('reason')))}</li>"
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
    case (black) below them all, and certified accuracy (green, dashed) below that."""
    bounds = (WORST_CASE, CERTIFIED)
    variants = [v for v in vs.cells if any(a in bounds for a in _names(vs.cells[v]))]
    ncols = min(3, len(variants))
    nrows = -(-len(variants) // ncols)
    fig, axes = new_figure(nrows, ncols, panel=(4.2, 3.2))
    others = [a for a in attack_names(vs) if a not in bounds]
    colors = {a: f"C{i}" for i, a in enumerate(others)}
    styles = {
        WORST_CASE: {"color": "black", "linewidth": 2.2, "label": "worst case (audit)"},
        CERTIFIED: {
            "color": "tab:green", "linewidth": 2.2, "linestyle": "--",
            "label": "certified (L2, sound bound)",
        },
    }  # fmt: skip
    for ax, v in zip(axes.flat, variants, strict=False):
        for attack in [*others, *bounds]:
            xs, rows = _curve(vs.cells[v], attack)
            if not xs:
                continue
            mean, _ = mean_std(rows)
            style = styles.get(
                attack, {"color": colors.get(attack), "linewidth": 1.2, "label": attack.upper()}
            )
            ax.plot(xs, mean, marker="o", markersize=3, **style)
        ax.invert_xaxis()
        ax.set(ylim=(0, 1), title=wrap(vs.label(v), 40), xlabel="SNR (dB); stronger →")
        ax.set_ylabel("accuracy")
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(variants) :]:
        ax.set_visible(False)
    fig.suptitle("Each attack, the audit's worst case and certified accuracy, mean across folds")
    return save_figure(
        fig, path, "Accuracy against SNR: each attack, the worst case and the certificate"
    )


def _names(cells: Sequence[dict[str, Any]]) -> list[str]:
    return [str(a.get("attack")) for c in cells for a in c.get("attacks") or []]


def _curve(cells: Sequence[dict[str, Any]], attack: str) -> tuple[list[float], list[list[Any]]]:
    """Mean SNR per point index, and each cell's accuracies at those points."""
    per_cell = []
    for cell in cells:
        entry = next((a for a in cell.get("attacks") or [] if a.get("attack") == attack), None)
        if entry is not None:
            per_cell.append(entry.get("points") or [])
    if not per_cell:
        return [], []
    size = min(len(p) for p in per_cell)
    snr = [stat(p[i].get("snr_db") for p in per_cell).mean for i in range(size)]
    keep = [i for i in range(size) if snr[i] is not None]
    rows = [[(p[i].get("metrics") or {}).get("accuracy") for i in keep] for p in per_cell]
    return [float(np.float64(snr[i])) for i in keep], rows
