"""`robusteye evaluate | attack | transfer`: clean metrics, robustness curves, transferability."""

from __future__ import annotations

import math
from typing import Any

import click

from robusteye.attacks import ATTACKS, attack_names
from robusteye.cli.common import (
    class_map_option,
    eps_or_snr,
    existing_checkpoint,
    limit_option,
    load_aligned,
    load_mapped,
    out_option,
    seed_option,
    split_option,
)
from robusteye.cli.options import check_outputs, data_options
from robusteye.cli.table import echo, echo_block, format_table
from robusteye.errors import UsageError
from robusteye.evaluate import (
    classification_metrics,
    predict_logits,
    robustness_curve,
    transfer_matrix,
)
from robusteye.io import write_json
from robusteye.models import load_model
from robusteye.norms import NORMS


def attack_options(attack: str, *, steps: int | None, norm: str) -> dict[str, Any]:
    """The command line's --steps and --norm as options of `attack`, refused where it has no
    such option (FGSM is an L-inf attack: --norm l2 with it is a mistake, not a no-op)."""
    takes = ATTACKS[attack].options
    options: dict[str, Any] = {}
    if steps is not None:
        if "steps" not in takes:
            raise UsageError(f"--steps: {attack} is not iterative")
        options["steps"] = steps
    if "norm" in takes:
        options["norm"] = norm
    elif norm != "linf":
        l2 = ", ".join(attack_names(norm="l2"))
        raise UsageError(f"--norm {norm}: {attack} is an L-inf attack (L2: {l2})")
    return options


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@data_options
@class_map_option
@split_option
@limit_option
@seed_option
@out_option
def evaluate(
    checkpoint: str,
    source: str,
    class_map_name: str,
    limit: int | None,
    seed: int,
    out: str | None,
    **folder: Any,
) -> None:
    """Clean metrics of CHECKPOINT on a data source."""
    check_outputs([out], [checkpoint], source, folder)
    model, ds, cmap = load_mapped(checkpoint, source, folder, limit, seed, class_map_name)
    logits = predict_logits(model, ds.images)
    m = classification_metrics(
        logits if cmap is None else cmap.apply(logits), ds.labels, ds.classes
    )
    echo(
        f"{len(ds)} images  accuracy {m.accuracy:.4f}  loss {m.loss:.4f}  "
        f"macro F1 {m.macro_f1:.4f}  ROC-AUC {_fmt(m.roc_auc_macro)}"
    )
    rows = [
        (c, m.precision[c], m.recall[c], m.f1[c], int(sum(m.confusion[i])))
        for i, c in enumerate(m.classes)
    ]
    echo_block(format_table(("class", "precision", "recall", "F1", "support"), rows))
    if out:
        write_json(
            out, m.to_dict() if cmap is None else {**m.to_dict(), "class_map": cmap.to_dict()}
        )


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@click.option("--attack", type=click.Choice(list(ATTACKS)), default="fgsm", show_default=True)
@click.option("--eps", "eps_text", default=None, help="Comma-separated eps values in [0, 1].")
@click.option("--snr", "snr_text", default=None, help="Comma-separated target SNRs in dB.")
@click.option(
    "--steps",
    type=click.IntRange(min=1),
    default=None,
    help="Steps of an iterative attack (its default: pgd 10, apgd 100).",
)
@click.option(
    "--norm",
    type=click.Choice(NORMS),
    default="linf",
    show_default=True,
    help="Threat model (attacks that take one).",
)
@data_options
@split_option
@limit_option
@seed_option
@out_option
def attack(
    checkpoint: str,
    source: str,
    attack: str,
    eps_text: str | None,
    snr_text: str | None,
    steps: int,
    norm: str,
    limit: int | None,
    seed: int,
    out: str | None,
    **folder: Any,
) -> None:
    """Accuracy, macro F1 and ROC-AUC of CHECKPOINT under an attack at each eps or SNR."""
    eps, snr = eps_or_snr(eps_text, snr_text)
    options = attack_options(attack, steps=steps, norm=norm)
    check_outputs([out], [checkpoint], source, folder)
    model, ds = load_aligned(checkpoint, source, folder, limit, seed)
    curve = robustness_curve(
        model, ds.images, ds.labels, model.classes, attack, eps=eps, snr=snr, seed=seed, **options
    )
    rows = [
        (p.eps, p.snr_db, p.metrics.accuracy, p.metrics.macro_f1, p.metrics.roc_auc_macro)
        for p in curve.points
    ]
    echo(f"{attack} on {len(ds)} images of {source}")
    echo_block(format_table(("eps", "SNR dB", "accuracy", "macro F1", "ROC-AUC"), rows))
    if out:
        write_json(out, {"checkpoint": checkpoint, "data": source, **curve.to_dict()})


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@click.option("--attack", type=click.Choice(list(ATTACKS)), default="fgsm", show_default=True)
@click.option("--eps", "eps_text", default=None, help="Comma-separated eps values in [0, 1].")
@click.option("--snr", "snr_text", default=None, help="Comma-separated target SNRs in dB.")
@data_options
@split_option
@limit_option
@seed_option
@out_option
def transfer(
    checkpoints: tuple[str, ...],
    source: str,
    attack: str,
    eps_text: str | None,
    snr_text: str | None,
    limit: int | None,
    seed: int,
    out: str | None,
    **folder: Any,
) -> None:
    """Accuracy of every model on examples crafted on each model (rows: source, cols: target)."""
    eps, snr = eps_or_snr(eps_text, snr_text)
    if len(set(checkpoints)) < 2:
        raise UsageError("transfer needs at least two different checkpoints")
    check_outputs([out], checkpoints, source, folder)
    models = {c: load_model(existing_checkpoint(c), channels_last=True) for c in checkpoints}
    first = models[checkpoints[0]]
    for c, m in models.items():
        if m.classes != first.classes:
            raise UsageError(
                f"{c} has classes {list(m.classes)}, {checkpoints[0]} has "
                f"{list(first.classes)}: transfer needs one label set"
            )
    _, ds = load_aligned(checkpoints[0], source, folder, limit, seed)
    names = [f"[{i}]" for i in range(len(checkpoints))]
    echo(f"{attack} on {len(ds)} images; rows craft, columns evaluate")
    for n, c in zip(names, checkpoints, strict=True):
        echo(f"  {n} {c}")
    results = []
    for value in eps if eps is not None else snr or []:
        kw = {"eps": value} if eps is not None else {"snr": value}
        tm = transfer_matrix(models, ds.images, ds.labels, attack, seed=seed, **kw)
        label = f"eps {value}" if eps is not None else f"SNR {value} dB"
        echo()
        echo(label)
        rows = [("clean", *tm.clean_accuracy, None, None)] + [
            (n, *r, e, s) for n, r, e, s in zip(names, tm.accuracy, tm.eps, tm.snr_db, strict=True)
        ]
        echo_block(format_table(("crafted on", *names, "eps", "SNR dB"), rows))
        results.append(tm.to_dict())
    if out:
        write_json(out, {"checkpoints": list(checkpoints), "data": source, "matrices": results})


def _fmt(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.4f}"
