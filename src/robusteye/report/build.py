"""`write_report`: figures, one self-contained HTML page and a model card per checkpoint."""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path

from matplotlib.colors import to_hex

from robusteye.folders import inside_run
from robusteye.io import atomic_path
from robusteye.report import audit, curves, grids, natural, tradeoff
from robusteye.report.card import write_card
from robusteye.report.page import (
    FIGURES_DIR,
    REPORT_NAME,
    Section,
    cells_table,
    figure_html,
    point_tables,
    render_page,
    run_link,
    summary_table,
)
from robusteye.report.run import RESULTS_NAME, RunData, load_run
from robusteye.report.style import FigureFile, Variants, house_style
from robusteye.report.summary import VariantSummary, group_cells, summarize
from robusteye.results import CellRow

log = logging.getLogger(__name__)


HOW = {
    "summary": "mean ± std across folds and seeds (population std, 0 for one fold). Each "
    "variant has a clean row and one row per attack at its strongest point (largest ε, or "
    "lowest target SNR), and, when the spec scores natural corruptions, one row averaging "
    "every corruption and severity. Higher is better in every column.",
    "robustness": "the three kinds of robustness side by side, mean ± std across folds: clean "
    "accuracy, accuracy at each attack's strongest point, and the mean accuracy over every "
    "natural corruption (rotation, light, blur, noise, JPEG, occlusion, glare, ...) at every "
    "severity (mCA), with its drop relative to clean. In the SNR figure, lines are attacks "
    "and grey markers are corruptions: a marker above a line at the same SNR means the model "
    "copes better with that natural change than with an attack of the same energy.",
    "tradeoff": "every audited variant's clean accuracy beside its worst case over the audit's "
    "attacks (a point counts only if every attack failed on it), mean ± std across folds, the "
    "best of each column in bold. In the figure, up is more robust and right more accurate: a "
    "recipe is better than another only if it sits above it at the same clean accuracy.",
    "roc": "micro-averaged one-vs-rest ROC curves, the mean across folds with a ±1 std band; "
    "the legend gives the AUC as mean ± std. Dashed: the model's standard variant, for "
    "reference. Curves nearer the top-left corner separate the classes better.",
    "learning": "per epoch, solid lines are training and dashed lines validation, mean across "
    "folds with a ±1 std band. A widening gap between the two means overfitting.",
    "snr": "x is the signal-to-noise ratio of the perturbed images in dB, falling to the right "
    "(a stronger attack); the left-most point is clean accuracy. Flatter curves are more robust. "
    "When the spec audits, the first figure sets each attack against the worst case over the "
    "audit's suite (black line): a point counts only if every attack failed on it, so the "
    "black line is the figure to trust.",
    "examples": "each row is one test crop. Per attack and ε: the perturbed image, then the "
    "perturbation (perturbed − clean) amplified by the factor in the title; mid-grey = unchanged.",
    "transfer": "cell (row i, column j) is the accuracy of model j on examples crafted on model i, "
    "mean across folds; the diagonal is the white-box attack. Higher is more robust.",
    "confusion": "rows are true classes and columns predictions on clean test data, summed "
    "across folds; each row sums to 1, so the diagonal is per-class recall.",
    "cells": "one row per trained model (variant × fold × seed); the card link opens the "
    "README.md written into its checkpoint folder.",
}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def _figures(
    run: RunData, vs: Variants, summaries: list[VariantSummary], folder: Path
) -> dict[str, list[FigureFile]]:
    """Every figure, keyed by report section."""
    attacks = curves.attack_names(vs)
    bounds = {c.name for cells in vs.cells.values() for cell in cells for c in cell.attacks
              if c.is_bound}  # fmt: skip
    figures: dict[str, list[FigureFile]] = {
        "roc": [curves.roc_clean(vs, folder / "roc_clean.png")],
        "learning": [curves.learning_curves(vs, folder / "learning_curves.png")],
        "snr": [],
        "examples": [],
        "transfer": [],
        "confusion": [grids.confusion_matrices(vs, folder / "confusion.png")],
        "natural": [],
        "tradeoff": [],
    }
    if tradeoff.has_worst_case(summaries):
        path = folder / "clean_vs_worst_case.png"
        figures["tradeoff"].append(tradeoff.clean_vs_worst_case(summaries, vs, path))
    for attack in attacks:
        # the worst case and certified accuracy have no ROC: they are masks, not logits
        if attack not in bounds:
            figures["roc"].append(
                curves.roc_attack(vs, attack, folder / f"roc_{_slug(attack)}.png")
            )
        path = folder / f"accuracy_vs_snr_{_slug(attack)}.png"
        figures["snr"].append(curves.accuracy_vs_snr(vs, attack, path))
    if audit.has_audit(run.cells) or audit.has_certificates(run.cells):
        path = folder / "worst_case_vs_attacks.png"
        figures["snr"].insert(0, audit.worst_case_vs_attacks(vs, path))
    if natural.has_corruptions(summaries):
        figures["natural"] = [
            natural.accuracy_vs_severity(vs, summaries, folder / "corruption_severity.png"),
            natural.natural_vs_adversarial(vs, summaries, folder / "corruption_vs_attacks.png"),
        ]
    for attack in grids.example_attacks(run.examples or {}):
        path = folder / f"examples_{_slug(attack)}.png"
        figures["examples"].append(grids.example_grid(run.examples or {}, attack, path))
    for i, matrices in enumerate(grids.transfer_settings(run.transfers)):
        name = f"transfer_{i}_{_slug(grids.setting_title(matrices).lower())}.png"
        figures["transfer"].append(grids.transfer_heatmap(vs, matrices, folder / name))
    return figures


def report_figures(run: RunData, folder: Path) -> dict[str, list[FigureFile]]:
    """Every figure of the report of `run`, written into `folder` and keyed by report section
    (call it inside `house_style()`); `write_report` draws the same."""
    folder.mkdir(parents=True, exist_ok=True)
    vs = Variants.from_groups(group_cells(run.cells))
    return _figures(run, vs, summarize(list(run.cells)), folder)


def _in_run(path: Path, run: Path) -> str:
    """`path` (inside the run folder `run`) relative to `run`, in `/` form."""
    return Path(os.path.relpath(path, run)).as_posix()


def _subset_note(cells: tuple[CellRow, ...]) -> str:
    """A sentence naming the curves scored on fewer images than the clean metrics, or ''."""
    clean = {c.clean.n for c in cells}
    sizes: dict[str, set[int]] = {}
    for cell in cells:
        for curve in cell.attacks:  # a curve's n: the images each of its points scored
            sizes.setdefault(curve.name.upper(), set()).add(curve.n)
    smaller = [f"{a} on {'/'.join(map(str, sorted(n)))}" for a, n in sizes.items() if n != clean]
    if not smaller:
        return ""
    total = "/".join(map(str, sorted(clean)))
    return (
        f" Clean metrics use all {total} evaluation images; attacks use a subset "
        f"(evaluation limit): {', '.join(smaller)} images, so clean and attacked numbers are "
        "not on exactly the same images."
    )


def _meta(run: RunData, summaries: list[VariantSummary]) -> list[tuple[str, str]]:
    spec = run.spec
    folds = spec.get("folds") or len({c.fold for c in run.cells})
    seeds = spec.get("seeds") or sorted({c.seed for c in run.cells})
    holdout = spec.get("holdout")
    holdout = holdout if isinstance(holdout, (int, float)) else None
    finished = datetime.fromtimestamp((run.path / RESULTS_NAME).stat().st_mtime, timezone.utc)
    return [
        ("data", str(spec.get("data") or run.cells[0].data)),
        ("models", ", ".join(dict.fromkeys(c.model for c in run.cells))),
        ("folds", str(folds)),
        *([("hold-out", f"{holdout:g} of persons")] if holdout else []),
        ("seeds", ", ".join(map(str, seeds)) if isinstance(seeds, list) else str(seeds)),
        ("evaluated on", run.cells[0].eval_set),
        ("variants", str(len(summaries))),
        ("cells", str(len(run.cells))),
        ("results written", finished.strftime("%Y-%m-%d %H:%M UTC")),
        ("report written", datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]


def _sections(
    figures: dict[str, list[FigureFile]],
    summaries: list[VariantSummary],
    colors: dict[str, str],
    cells_html: str,
    note: str,
    warnings: str = "",
) -> list[Section]:
    def figs(key: str) -> str:
        return "".join(figure_html(f) for f in figures[key])

    sections = [
        Section(
            "summary",
            "Summary",
            HOW["summary"] + note,
            warnings + summary_table(summaries, colors) + point_tables(summaries, colors),
        ),
        Section(
            "tradeoff",
            "Clean accuracy against the worst case",
            HOW["tradeoff"],
            tradeoff.tradeoff_table(summaries, colors) + figs("tradeoff"),
        ),
        Section(
            "robustness",
            "Clean, adversarial and natural robustness",
            HOW["robustness"],
            natural.robustness_table(summaries, colors) + figs("natural")
            if natural.has_corruptions(summaries)
            else "",
        ),
        Section("roc", "ROC curves", HOW["roc"], figs("roc")),
        Section("learning", "Learning curves", HOW["learning"], figs("learning")),
        Section("snr", "Accuracy against SNR", HOW["snr"] + note, figs("snr")),
        Section("examples", "Example images", HOW["examples"], figs("examples")),
        Section("transfer", "Transferability", HOW["transfer"], figs("transfer")),
        Section("confusion", "Confusion matrices", HOW["confusion"], figs("confusion")),
        Section("cells", "Cells and model cards", HOW["cells"], cells_html),
    ]
    # Sections whose data the run did not produce (no attacks, examples or transfer) are left out.
    return [s for s in sections if s.body]


def write_report(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """Write `figures/*.png` and `report.html` into `out` (default: the run folder) and a model
    card README.md into every cell's checkpoint folder; returns the path of report.html."""
    run = load_run(run_dir)
    target = run.path if out is None else Path(out)
    folder = inside_run(target, target / FIGURES_DIR)  # a linked figures/ is refused
    folder.mkdir(parents=True, exist_ok=True)
    summaries = summarize(list(run.cells))
    vs = Variants.from_groups(group_cells(run.cells))
    with house_style():
        figures = _figures(run, vs, summaries, folder)
    by_variant = {s.variant: s for s in summaries}
    cards: dict[str, str] = {}
    for cell in run.cells:
        card = write_card(cell, by_variant[cell.variant], run.path, run.splits)
        href = None if card is None else run_link(run.path, _in_run(card, run.path), target)
        if href is not None:
            cards[cell.id] = href
    colors = {v: str(to_hex(c)) for v, c in vs.colors.items()}
    title = f"robusteye report: {run.spec.get('name') or run.path.name}"
    table = cells_table(list(run.cells), cards)
    note = _subset_note(run.cells)
    sections = _sections(figures, summaries, colors, table, note, audit.warnings_html(run.cells))
    description = str(run.spec.get("description") or "")
    html = render_page(title, _meta(run, summaries), sections, description=description)
    path = inside_run(target, target / REPORT_NAME)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("report written to %s (%d figures)", path, sum(map(len, figures.values())))
    return path
