"""The report of a model-selection run: the winner and its hold-out figures, the ranking,
the objective against every searched parameter, the rungs of successive halving, and the
learning curves of the best trials, on one self-contained page.

Over 300 lines because the page and its figures are one report of one kind of run, drawn
from the same ranking; nothing else draws them.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from robusteye.errors import DataError, RobustEyeError
from robusteye.evaluate.metrics import Metrics
from robusteye.folders import inside_run
from robusteye.io import atomic_path
from robusteye.report.page import (
    FIGURES_DIR,
    REPORT_NAME,
    Section,
    figure_html,
    render_page,
    run_link,
)
from robusteye.report.run import read_json, read_results, read_yaml
from robusteye.report.style import (
    FigureFile,
    band,
    bottom_legend,
    house_style,
    mean_std,
    new_figure,
    palette,
    save_figure,
    wrap,
)
from robusteye.results import Curve, CurvePoint, Selection, TrialRow, read_metrics

#: how many of the best trials get learning curves
TOP = 5
_COLUMNS = (
    ("objective", "objective"),
    ("accuracy", "clean acc."),
    ("robust_accuracy", "robust acc."),
    ("macro_f1", "macro F1"),
    ("roc_auc_macro", "ROC-AUC"),
    ("loss", "val. loss"),
    ("train_acc", "train acc."),
    ("seconds", "seconds / fold"),
)


def write_selection_report(
    run_dir: str | os.PathLike[str], out: str | os.PathLike[str] | None = None
) -> Path:
    """Write `figures/*.png` and `report.html` for the selection run in `run_dir`."""
    run = Path(run_dir)
    selection = read_json(run / "selection.json")
    if not selection:
        raise DataError(f"{run} holds no finished model selection (no selection.json)")
    spec = read_yaml(run / "spec.yaml")
    rows = [r for r in read_results(run / "results.jsonl") if isinstance(r, TrialRow)]
    try:  # the typed schema of selection.json: a damaged field is one line naming it
        checked = Selection.from_dict(selection)
    except RobustEyeError as err:
        raise DataError(f"{run / 'selection.json'}: {err}") from None
    ranking = [entry.data for entry in checked.ranking]
    target = run if out is None else Path(out)
    folder = inside_run(target, target / FIGURES_DIR)  # a linked figures/ is refused
    folder.mkdir(parents=True, exist_ok=True)
    winner = None if checked.winner is None else checked.winner.data
    with house_style():
        figures = {
            "objective": [objective_vs_params(ranking, winner, folder / "objective_vs_params.png")],
            "halving": [rung_plot(rows, ranking, folder / "rungs.png")]
            if len({r.rung for r in rows}) > 1
            else [],
            "curves": [top_learning_curves(rows, ranking, folder / "learning_curves_top.png")],
        }
    sections = [
        Section(
            "winner",
            "Winner",
            "the best trial of the search, retrained from winner.yaml on all non-held-out "
            "persons and scored once on the hold-out persons, which the search never saw.",
            winner_html(winner, selection, run, target),
        ),
        Section(
            "ranking",
            "Ranking",
            "one row per trial at the furthest rung it reached, mean ± std across folds; "
            "trials stopped early by successive halving rank below those that finished.",
            ranking_html(ranking, run, target),
        ),
        Section(
            "objective",
            "Objective against each hyper-parameter",
            "each point is a trial (mean across folds, bar ±1 std), coloured by how far it got; "
            "the star is the winner.",
            "".join(figure_html(f) for f in figures["objective"]),
        ),
        Section(
            "halving",
            "Successive halving",
            "each line is a trial's mean objective at each rung (epochs trained); only the best "
            "go on to the next rung.",
            "".join(figure_html(f) for f in figures["halving"]),
        ),
        Section(
            "curves",
            "Learning curves of the best trials",
            f"validation accuracy and loss per epoch of the {TOP} best trials, mean across "
            "folds with a ±1 std band (validation = the fold's held-back training persons).",
            "".join(figure_html(f) for f in figures["curves"]),
        ),
    ]
    meta = [
        ("data", str(spec.get("data", "?"))),
        ("objective", str(selection.get("objective"))),
        ("strategy", str(selection.get("strategy"))),
        ("trials", str(selection.get("trials"))),
        ("folds", str(selection.get("folds"))),
        ("hold-out", f"{spec.get('holdout', 0):g} of persons"),
    ]
    html = render_page(
        f"robusteye model selection: {selection.get('name') or run.name}",
        meta,
        [s for s in sections if s.body],
        description=str(spec.get("description") or ""),
    )
    path = inside_run(target, target / REPORT_NAME)
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return path


def _fmt(stat: dict[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def ranking_html(ranking: Sequence[dict[str, Any]], run: Path, page: Path) -> str:
    if not ranking:
        return ""
    keys = list(dict.fromkeys(k for entry in ranking for k in entry["params"]))
    columns = [
        (m, h)
        for m, h in _COLUMNS
        if any(entry["metrics"][m]["mean"] is not None for entry in ranking)
    ]
    head = "".join(f"<th>{escape(h)}</th>" for h in ["#", "trial", *keys, "epochs", "folds"])
    head += "".join(f"<th>{escape(h)}</th>" for _, h in columns)
    body = []
    for entry in ranking:
        epochs = str(entry["epochs"]) if entry["completed"] else f"{entry['epochs']} (stopped)"
        cells = [entry["rank"], entry["trial"], *(entry["params"].get(k, "") for k in keys), epochs]
        cells.append(entry["folds"])
        tds = "".join(f"<td>{escape(str(c))}</td>" for c in cells)
        tds += "".join(f"<td>{escape(_fmt(entry['metrics'][m]))}</td>" for m, _ in columns)
        body.append(f"<tr>{tds}</tr>")
    return (
        f"<table><tr>{head}</tr>{''.join(body)}</table>"
        f"<p>Every fold of every trial: {_link(run, 'trials.csv', page)}; every epoch: "
        f"{_link(run, 'curves.csv', page)}; this table: {_link(run, 'ranking.csv', page)}.</p>"
    )


def _link(run: Path, target: object, page: Path) -> str:
    """`target` (a path in the run folder) as a link from the page in `page`; as plain text
    when it is no relative path inside the run (`run_link`)."""
    text = escape(str(target))
    href = run_link(run, target, page)
    return text if href is None else f'<a href="{escape(href)}">{text}</a>'


def winner_html(
    winner: dict[str, Any] | None, selection: dict[str, Any], run: Path, page: Path
) -> str:
    if not winner:
        return ""
    params = ", ".join(f"{k} = {v}" for k, v in winner["params"].items())
    cv = winner["cv"]
    parts = [
        f"<p><b>{escape(winner['trial'])}</b>: {escape(params)}. Cross-validated "
        f"{escape(str(selection.get('objective')))}: <b>{escape(_fmt(cv['objective']))}</b>. "
        f"Training spec: {_link(run, winner['spec'], page)} "
        f"(<code>robusteye train --spec {escape(winner['spec'])} --out DIR</code> rebuilds "
        f"it); checkpoint: <code>{escape(winner['checkpoint'])}</code>.</p>"
    ]
    holdout = winner.get("holdout") or {}
    if holdout.get("clean"):
        clean = read_metrics(holdout["clean"], "winner.holdout.clean")
        curves = [Curve.from_dict(c, "winner.holdout.attacks") for c in holdout.get("attacks", [])]
        rows: list[tuple[str, str, Metrics, Any]] = [("clean", "", clean, cv.get("accuracy"))]
        for i, curve in enumerate(curves):
            robust_cv = cv.get("robust_accuracy") if i == 0 else None
            for point in curve.points:
                if isinstance(point.metrics, Metrics):
                    rows.append((curve.name.upper(), _where(point), point.metrics, robust_cv))
        body = "".join(
            f'<tr><td class="name">{escape(name)}</td><td>{escape(where)}</td>'
            f"<td>{m.accuracy:.3f}</td><td>{m.macro_f1:.3f}</td>"
            f"<td>{_auc(m)}</td><td>{escape(_fmt(cv_stat))}</td></tr>"
            for name, where, m, cv_stat in rows
        )
        parts.append(
            f"<p>Hold-out: {holdout['n']} images of {holdout['persons']} persons.</p>"
            '<table><tr><th class="name">condition</th><th>perturbation</th><th>accuracy</th>'
            "<th>macro F1</th><th>ROC-AUC</th><th>cross-validated accuracy</th></tr>"
            f"{body}</table>"
        )
    return "".join(parts)


def _where(point: CurvePoint) -> str:
    eps = "eps ?" if point.eps is None else f"eps {point.eps:.4g}"
    return eps + (f" ({point.snr_db:.1f} dB)" if point.snr_db is not None else "")


def _auc(metrics: Metrics) -> str:
    auc = metrics.roc_auc_macro
    return f"{auc:.3f}" if isinstance(auc, (int, float)) else "–"


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def objective_vs_params(
    ranking: Sequence[dict[str, Any]], winner: dict[str, Any] | None, path: Path
) -> FigureFile:
    """One panel per searched parameter: each trial's mean objective (±1 std)."""
    keys = list(dict.fromkeys(k for entry in ranking for k in entry["params"]))
    ncols = min(3, max(1, len(keys)))
    nrows = max(1, math.ceil(len(keys) / ncols))
    fig, axes = new_figure(nrows, ncols, panel=(3.6, 2.9))
    stages = sorted({entry["epochs"] for entry in ranking})
    colors = palette([str(s) for s in stages])
    for ax, key in zip(axes.flat, keys, strict=False):
        values = [entry["params"].get(key) for entry in ranking]
        numeric = _numeric(values)
        if numeric:
            xs = np.array(values, dtype=float)
            if bool(np.all(xs > 0)) and xs.max() / xs.min() >= 8:
                ax.set_xscale("log")
                ax.minorticks_off()
            distinct = sorted(set(xs.tolist()))
            if len(distinct) <= 8:
                ax.set_xticks(distinct, [f"{v:g}" for v in distinct])
        else:
            labels = list(dict.fromkeys(str(v) for v in values))
            xs = np.array([labels.index(str(v)) for v in values], dtype=float)
            ax.set_xticks(range(len(labels)), [wrap(lab, 14) for lab in labels])
            ax.set_xlim(-0.5, len(labels) - 0.5)
        for x, entry in zip(xs, ranking, strict=True):
            stat = entry["metrics"]["objective"]
            if stat["mean"] is None:
                continue
            is_winner = winner is not None and entry["trial"] == winner["trial"]
            ax.errorbar(
                x,
                stat["mean"],
                yerr=stat["std"],
                fmt="*" if is_winner else "o",
                markersize=11 if is_winner else 4.5,
                color=colors[str(entry["epochs"])],
                ecolor="0.6",
                elinewidth=0.8,
                zorder=3 if is_winner else 2,
            )
        ax.set_xlabel(key)
        ax.set_ylabel("objective")
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], marker="o", linestyle="", color=colors[str(s)]) for s in stages]
    labels = [f"{s} epoch{'s' if s != 1 else ''}" for s in stages]
    if len(stages) > 1:
        bottom_legend(fig, handles, labels, title="reached")
    return save_figure(fig, path, "Objective against each searched hyper-parameter")


def _trial_colors(ranking: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return palette([entry["trial"] for entry in ranking])


def _label(entry: dict[str, Any]) -> str:
    params = ", ".join(f"{k.removeprefix('model.')}={v}" for k, v in entry["params"].items())
    return wrap(f"{entry['trial']}: {params}", 40)


def rung_plot(
    rows: Sequence[TrialRow], ranking: Sequence[dict[str, Any]], path: Path
) -> FigureFile:
    """Mean objective of every trial at every rung it reached, against the epochs trained."""
    fig, axes = new_figure(1, 1, panel=(6.0, 3.4))
    ax: Axes = axes[0, 0]
    colors = _trial_colors(ranking)
    for entry in ranking:
        mine = [r for r in rows if r.trial == entry["trial"]]
        epochs = sorted({r.epochs for r in mine})
        means = [
            float(np.mean([r.metrics.objective for r in mine if r.epochs == ep])) for ep in epochs
        ]
        ax.plot(
            epochs,
            means,
            marker="o",
            markersize=3.5,
            color=colors[entry["trial"]],
            alpha=1.0 if entry["completed"] else 0.45,
            linewidth=1.6 if entry["rank"] == 1 else 1,
        )
    stops = sorted({r.epochs for r in rows})
    ax.set_xscale("log")
    ax.set_xticks(stops, [str(s) for s in stops])
    ax.minorticks_off()
    ax.set_xlabel("epochs trained (rung)")
    ax.set_ylabel("mean objective across folds")
    best = list(ranking[:TOP])
    handles = [Line2D([], [], color=colors[entry["trial"]]) for entry in best]
    bottom_legend(fig, handles, [_label(entry) for entry in best], title=f"best {len(best)}")
    return save_figure(fig, path, "Successive halving: the objective of each trial at each rung")


def top_learning_curves(
    rows: Sequence[TrialRow], ranking: Sequence[dict[str, Any]], path: Path
) -> FigureFile:
    """Validation accuracy and loss per epoch of the best trials (their furthest rung)."""
    fig, axes = new_figure(1, 2, panel=(4.0, 3.0))
    colors = _trial_colors(ranking)
    best = list(ranking[:TOP])
    for entry in best:
        final = [r for r in rows if r.trial == entry["trial"] and r.epochs == entry["epochs"]]
        for ax, key in zip(axes[0], ("val_acc", "val_loss"), strict=True):
            series = [[getattr(h, key) for h in r.history] for r in final]
            mean, std = mean_std(series)
            x = np.arange(1, mean.size + 1)
            band(ax, x, mean, std, color=colors[entry["trial"]], marker="o", markersize=3)
    axes[0, 0].set_ylabel("validation accuracy")
    axes[0, 1].set_ylabel("validation loss")
    for ax in axes[0]:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [Line2D([], [], color=colors[entry["trial"]]) for entry in best]
    bottom_legend(fig, handles, [_label(entry) for entry in best])
    return save_figure(fig, path, f"Learning curves of the {len(best)} best trials")
