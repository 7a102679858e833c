"""Hugging Face style model cards: README.md with model-index front matter in each checkpoint."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import torch
import yaml

from robusteye.errors import CheckpointError
from robusteye.folders import inside, inside_run
from robusteye.io import atomic_path
from robusteye.models import build_model, read_checkpoint_config
from robusteye.models.checkpoint import CARD_NAME, CONFIG_NAME
from robusteye.report.summary import HEADLINE_METRICS, VariantSummary, metric
from robusteye.results import CellRow, CurvePoint
from robusteye.text import printable

log = logging.getLogger(__name__)


def _metric(value: Any, name: str, kind: str = "accuracy") -> dict[str, Any] | None:
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return {"type": kind, "value": round(float(value), 4), "name": name}


#: Characters with a meaning in Markdown, backslash-escaped in names (`<`, `>`, `&`: entities).
_MARKDOWN = re.compile(r"([\\`*_\[\]()#|~!{}])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def md(value: object) -> str:
    """`value` as literal Markdown text: a name a stranger chose (class, key, attack, file),
    with no markup, HTML, table cell break or line break left (control characters spelled as
    escapes first, as on a terminal)."""
    text = _MARKDOWN.sub(r"\\\1", printable(value))
    return re.sub("[&<>]", lambda m: _HTML[m.group()], text)


def _point_name(attack: str, point: CurvePoint) -> str:
    snr, eps = point.snr_db, point.eps
    at = f"eps {eps:.3g}" if isinstance(eps, (int, float)) else "eps ?"
    if point.target_snr_db is not None:
        at = f"target SNR {point.target_snr_db:g} dB ({at})"
    elif snr is not None:
        at += f" (SNR {snr:.1f} dB)"
    return f"{attack.upper()} accuracy at {at}"


def front_matter(cell: CellRow) -> dict[str, Any]:
    """The YAML header: library, tags and a model-index entry with this cell's metrics."""
    clean = cell.clean
    metrics = [
        _metric(clean.accuracy, "Clean accuracy"),
        _metric(clean.macro_f1, "Clean macro F1", "f1"),
        _metric(clean.roc_auc_macro, "Clean ROC-AUC (macro, one-vs-rest)", "roc_auc"),
    ]
    for curve in cell.attacks:
        for point in curve.points:
            metrics.append(_metric(point.metrics.accuracy, _point_name(curve.name, point)))
    regime = cell.regime_kind
    data, model = cell.data, cell.model
    tags = ["eye-state", "adversarial-robustness", "image-classification", regime, model]
    tags += ["parseval"] if "parseval" in model else []
    tags += ["synthetic-data"] if data.startswith("synthetic") else []
    return {
        "library_name": "robusteye",
        "pipeline_tag": "image-classification",
        "tags": tags,
        "model-index": [
            {
                "name": cell.variant,
                "results": [
                    {
                        "task": {
                            "type": "image-classification",
                            "name": "Eye-state classification",
                        },
                        "dataset": {"type": data, "name": data, "split": cell.eval_set},
                        "metrics": [m for m in metrics if m is not None],
                    }
                ],
            }
        ],
    }


def _checkpoint_text(folder: Path) -> tuple[str, str]:
    """The architecture line and the optimiser line, from the checkpoint's config.json."""
    try:
        checkpoint = read_checkpoint_config(folder)
        with torch.device("meta"):  # counts parameters without allocating or initialising
            n_params = sum(p.numel() for p in build_model(checkpoint.model).parameters())
    except (CheckpointError, RuntimeError, NotImplementedError) as err:
        return f"unknown (checkpoint config unreadable: {md(err)})", "unknown"
    config = checkpoint.model
    params = ", ".join(f"{md(k)} {md(v)}" for k, v in config.params.items())
    arch = f"{md(config.name)} (family {md(config.arch)}; {params}), {n_params:,} parameters"
    training = checkpoint.training or {}  # the checkpoint's config.json, not a result row
    train = training.get("config")
    if not isinstance(train, dict):
        return arch, "not recorded"
    optimiser = (
        f"SGD, lr {md(train.get('lr'))}, momentum {md(train.get('momentum'))}, weight decay "
        f"{md(train.get('weight_decay'))}, {md(train.get('schedule'))} schedule, batch "
        f"{md(train.get('batch_size'))}, augmentation {'on' if train.get('augment') else 'off'}"
    )
    return arch, optimiser


def _regime_text(cell: CellRow) -> str:
    extra = ", ".join(
        f"{md(k)} {md(v)}" for k, v in cell.regime.items() if k != "kind" and v not in (None, [])
    )
    return md(cell.regime_kind) + (f" ({extra})" if extra else "")


def _evaluation_rows(cell: CellRow, summary: VariantSummary) -> list[str]:
    rows = ["| condition | metric | this model | variant mean ± std |", "|---|---|---|---|"]
    for key, name in HEADLINE_METRICS:
        value = _fmt(metric(cell.clean, key))
        rows.append(f"| clean | {name} | {value} | {summary.clean[key].format()} |")
    by_name = {a.attack: a for a in summary.attacks}
    for curve in cell.attacks:
        name = curve.name
        for i, point in enumerate(curve.points):
            acc = point.metrics.accuracy
            agg = by_name.get(name)
            across = (
                agg.points[i].metrics["accuracy"].format() if agg and i < len(agg.points) else "–"
            )
            condition = md(_point_name(name, point).replace(" accuracy at ", " at "))
            rows.append(f"| {condition} | accuracy | {_fmt(acc)} | {across} |")
    return rows


def _fmt(value: Any, spec: str = ".3f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "–"


def _persons(cell: CellRow, splits: dict[str, Any]) -> str:
    """' (12 training persons, 4 evaluation persons)' from splits.json, or ''."""
    folds = splits.get("folds") or []
    fold = cell.fold
    if not 0 <= fold < len(folds) or not isinstance(folds[fold], dict):
        return ""
    persons = folds[fold]
    train, test = persons.get("train") or [], persons.get("test") or []
    holdout = splits.get("holdout") if cell.eval_set == "holdout" else None
    evaluated = len(holdout) if isinstance(holdout, list) else len(test)
    return f" ({len(train)} training persons, {evaluated} evaluation persons)"


def _usage(cell: CellRow) -> list[str]:
    synthetic = cell.data.startswith("synthetic")
    load = f"model = load_model({json.dumps(cell.checkpoint)})"
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall("`+", load)), default=0))
    return [
        "## Intended use and limitations\n",
        "- Research on robust eye-state classification of grey 32 x 32 eye crops; not validated "
        "for safety-critical use such as driver monitoring.",
        "- Robustness is measured only against the attacks and budgets listed above.",
        "- **Synthetic data.** These figures come from procedurally rendered eye crops. They say "
        "little about real cameras, faces or lighting; validate on real data before any use.\n"
        if synthetic
        else "",
        "## How to load\n",
        f"{fence}python\nfrom robusteye.models import load_model\n\n"
        f"{load}  # path relative to the run folder\n"
        f"logits = model(x)  # eval mode; x: N x 1 x 32 x 32 float32 in [0, 1]\n{fence}\n",
    ]


def _last_epoch(cell: CellRow) -> str:
    if not cell.history:
        return "- Last epoch: not recorded.\n"
    last = cell.history[-1]
    return (
        f"- Last epoch: train loss {_fmt(last.train_loss)}, train accuracy "
        f"{_fmt(last.train_acc)}, validation accuracy {_fmt(last.val_acc)}.\n"
    )


def card_text(cell: CellRow, summary: VariantSummary, folder: Path, splits: dict[str, Any]) -> str:
    """The full README.md: YAML front matter, then model, training, data, evaluation, use."""
    header = yaml.safe_dump(front_matter(cell), sort_keys=False, allow_unicode=True)
    arch, optimiser = _checkpoint_text(folder)
    lines = [
        f"---\n{header}---\n",
        f"# {md(cell.label or cell.variant)} — fold {cell.fold}, seed {cell.seed}\n",
        f"Eye-state classifier ({', '.join(md(c) for c in cell.classes)}) trained by the "
        f"robusteye experiment runner as cell {md(cell.id)} of variant {md(cell.variant)}.\n",
        "## Model\n",
        f"- Architecture: {arch}.",
        "- Input: grey 1 x 32 x 32 crops in [0, 1]; normalisation is the model's first layer.",
        f"- Model options: {md(cell.model_options or 'defaults')}.\n",
        "## Training\n",
        f"- Regime: {_regime_text(cell)}.",
        f"- Optimiser: {optimiser}.",
        f"- Epochs: {cell.epochs}; {cell.n_train} training and "
        f"{cell.n_val} validation images; {_fmt(cell.seconds, '.0f')} s.",
        _last_epoch(cell),
        "## Data\n",
        f"- Source: {md(cell.data)}{_persons(cell, splits)}; evaluated on the "
        f"{md(cell.eval_set)} set ({cell.n_eval} images), whose persons never appear "
        "in training.\n",
        "## Evaluation\n",
        f"This model's figures, next to the mean ± std over the variant's {summary.n_cells} "
        f"cell(s) ({summary.n_folds} fold(s)).\n",
        *_evaluation_rows(cell, summary),
        "",
        *_usage(cell),
    ]
    return "\n".join(lines)


def write_card(
    cell: CellRow, summary: VariantSummary, run_dir: Path, splits: dict[str, Any]
) -> Path | None:
    """Write README.md into the cell's checkpoint folder; None (logged) when it is missing."""
    # The row comes from a file in the run folder: its path must stay inside the folder, and
    # a card is written only into a real checkpoint folder.
    folder = inside(run_dir, cell.checkpoint, "checkpoint")
    if not (folder / CONFIG_NAME).is_file():
        log.warning("cell %s: no checkpoint folder %s, no model card", cell.id, folder)
        return None
    path = inside_run(run_dir, folder / CARD_NAME)  # no linked folder on the way
    with atomic_path(path) as tmp:
        tmp.write_text(card_text(cell, summary, folder, splits), encoding="utf-8")
    return path
