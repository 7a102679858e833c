"""`robusteye evaluate | attack | transfer`: clean metrics, robustness curves, transferability."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click
import torch

from robusteye.attacks import ATTACKS, attack_names
from robusteye.cli.options import data_options, open_source
from robusteye.cli.table import format_table, parse_floats
from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.evaluate import (
    classification_metrics,
    predict_logits,
    robustness_curve,
    transfer_matrix,
)
from robusteye.evaluate.classmap import CLASS_MAPS, ClassMap, align_to_model, class_map
from robusteye.io import write_json
from robusteye.models import EyeModel, load_model
from robusteye.readers import read_json

_limit = click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use a random subset of this many images (seeded).",
)
_seed = click.option("--seed", type=int, default=0, show_default=True)
_split = click.option(
    "--split",
    "split",
    default=None,
    metavar="SPLITS.json[:KEY]",
    help="Keep only the persons listed under KEY (default test) of a run's splits.json.",
)
_out = click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the result as JSON."
)


_class_map = click.option(
    "--class-map",
    "class_map_name",
    type=click.Choice(CLASS_MAPS),
    default="auto",
    show_default=True,
    help="How a model's classes meet other data classes. partial-as-open: P(open) + "
    "P(partiallyOpen) vs P(closed), notVisible excluded (auto's choice for open/closed data "
    "on a 4-class model); exclude-partial: open vs closed only; none: score over the model's "
    "classes.",
)


def _read(
    checkpoint: str, source: str, folder: dict[str, Any], limit: int | None, seed: int
) -> tuple[EyeModel, EyeDataset]:
    """The model and the data in the data's own classes, with --split and --limit applied."""
    split = folder.pop("split", None)
    model = load_model(_existing(checkpoint), channels_last=True)
    ds = open_source(source, **folder)
    if split is not None:
        ds = _only_persons(ds, split)
    if limit is not None and limit < len(ds):
        g = torch.Generator().manual_seed(seed)
        ds = ds.subset(torch.randperm(len(ds), generator=g)[:limit].sort().values)
    return model, ds


def _load(
    checkpoint: str, source: str, folder: dict[str, Any], limit: int | None, seed: int
) -> tuple[EyeModel, EyeDataset]:
    """The model and the data relabelled into the model's classes."""
    model, ds = _read(checkpoint, source, folder, limit, seed)
    return model, align_to_model(ds, model.classes)


def _load_mapped(
    checkpoint: str,
    source: str,
    folder: dict[str, Any],
    limit: int | None,
    seed: int,
    class_map_name: str,
) -> tuple[EyeModel, EyeDataset, ClassMap | None]:
    """The model, the data, and the class map that scores the model over the data's classes
    (None: the data is relabelled into the model's classes instead)."""
    model, ds = _read(checkpoint, source, folder, limit, seed)
    cmap = class_map(class_map_name, model.classes, ds.classes)
    if cmap is None:
        ds = align_to_model(ds, model.classes)
    else:
        click.echo(f"class map: {cmap.describe()}")
    return model, ds, cmap


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
@_class_map
@_split
@_limit
@_seed
@_out
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
    model, ds, cmap = _load_mapped(checkpoint, source, folder, limit, seed, class_map_name)
    logits = predict_logits(model, ds.images)
    m = classification_metrics(
        logits if cmap is None else cmap.apply(logits), ds.labels, ds.classes
    )
    click.echo(
        f"{len(ds)} images  accuracy {m.accuracy:.4f}  loss {m.loss:.4f}  "
        f"macro F1 {m.macro_f1:.4f}  ROC-AUC {_fmt(m.roc_auc_macro)}"
    )
    rows = [
        (c, m.precision[c], m.recall[c], m.f1[c], int(sum(m.confusion[i])))
        for i, c in enumerate(m.classes)
    ]
    click.echo(format_table(("class", "precision", "recall", "F1", "support"), rows))
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
    type=click.Choice(["linf", "l2"]),
    default="linf",
    show_default=True,
    help="Threat model (attacks that take one).",
)
@data_options
@_split
@_limit
@_seed
@_out
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
    eps, snr = _eps_or_snr(eps_text, snr_text)
    options = attack_options(attack, steps=steps, norm=norm)
    model, ds = _load(checkpoint, source, folder, limit, seed)
    curve = robustness_curve(
        model, ds.images, ds.labels, model.classes, attack, eps=eps, snr=snr, seed=seed, **options
    )
    rows = [
        (p.eps, p.snr_db, p.metrics.accuracy, p.metrics.macro_f1, p.metrics.roc_auc_macro)
        for p in curve.points
    ]
    click.echo(f"{attack} on {len(ds)} images of {source}")
    click.echo(format_table(("eps", "SNR dB", "accuracy", "macro F1", "ROC-AUC"), rows))
    if out:
        write_json(out, {"checkpoint": checkpoint, "data": source, **curve.to_dict()})


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@click.option("--attack", type=click.Choice(list(ATTACKS)), default="fgsm", show_default=True)
@click.option("--eps", "eps_text", default=None, help="Comma-separated eps values in [0, 1].")
@click.option("--snr", "snr_text", default=None, help="Comma-separated target SNRs in dB.")
@data_options
@_split
@_limit
@_seed
@_out
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
    eps, snr = _eps_or_snr(eps_text, snr_text)
    if len(set(checkpoints)) < 2:
        raise UsageError("transfer needs at least two different checkpoints")
    models = {c: load_model(_existing(c), channels_last=True) for c in checkpoints}
    first = models[checkpoints[0]]
    for c, m in models.items():
        if m.classes != first.classes:
            raise UsageError(
                f"{c} has classes {list(m.classes)}, {checkpoints[0]} has "
                f"{list(first.classes)}: transfer needs one label set"
            )
    _, ds = _load(checkpoints[0], source, folder, limit, seed)
    names = [f"[{i}]" for i in range(len(checkpoints))]
    click.echo(f"{attack} on {len(ds)} images; rows craft, columns evaluate")
    for n, c in zip(names, checkpoints, strict=True):
        click.echo(f"  {n} {c}")
    results = []
    for value in eps if eps is not None else snr or []:
        kw = {"eps": value} if eps is not None else {"snr": value}
        tm = transfer_matrix(models, ds.images, ds.labels, attack, seed=seed, **kw)
        label = f"eps {value}" if eps is not None else f"SNR {value} dB"
        click.echo(f"\n{label}")
        rows = [("clean", *tm.clean_accuracy, None, None)] + [
            (n, *r, e, s) for n, r, e, s in zip(names, tm.accuracy, tm.eps, tm.snr_db, strict=True)
        ]
        click.echo(format_table(("crafted on", *names, "eps", "SNR dB"), rows))
        results.append(tm.to_dict())
    if out:
        write_json(out, {"checkpoints": list(checkpoints), "data": source, "matrices": results})


def _eps_or_snr(
    eps_text: str | None, snr_text: str | None, *, upper: float | None = 1.0
) -> tuple[list[float] | None, list[float] | None]:
    """Parse exactly one of --eps LIST / --snr LIST; eps values must lie in [0, `upper`]
    (no upper bound for None: an L2 radius may exceed 1)."""
    if (eps_text is None) == (snr_text is None):
        raise UsageError("give --eps LIST or --snr LIST (one of them)")
    eps = parse_floats(eps_text, "--eps") if eps_text else None
    if eps is not None and any(e < 0 or (upper is not None and e > upper) for e in eps):
        bound = f"lie in [0, {upper:g}]" if upper is not None else "be >= 0"
        raise UsageError(f"--eps values must {bound}, got {eps_text}")
    snr = parse_floats(snr_text, "--snr") if snr_text else None
    return eps, snr


def _existing(checkpoint: str) -> str:
    """A missing CHECKPOINT is a usage error (exit 2), like any missing path argument."""
    if not Path(checkpoint).exists():
        raise UsageError(f"no such checkpoint folder: {checkpoint}")
    return checkpoint


def _only_persons(ds: EyeDataset, spec: str) -> EyeDataset:
    path, _, key = spec.partition(":")
    key = key or "test"
    doc = read_json(path, error=UsageError)
    listed = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        raise UsageError(f"--split {spec}: no person list {key!r} (a list of person ids)")
    persons = set(listed)
    rows = [i for i, p in enumerate(ds.persons) if p in persons]
    if not rows:
        raise UsageError(f"--split {spec}: none of its {len(persons)} persons are in the data")
    return ds.subset(rows)


def _fmt(v: float | None) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.4f}"
