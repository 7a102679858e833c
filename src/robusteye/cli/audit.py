"""`robusteye audit`: the worst case over a suite of attacks, and whether the attacks worked."""

from __future__ import annotations

from typing import Any

import click
from torch import nn

from robusteye.cli.common import (
    audit_progress,
    eps_or_snr,
    existing_checkpoint,
    limit_option,
    load_aligned,
    log_attack,
    out_option,
    read_data,
    seed_option,
    split_option,
)
from robusteye.cli.options import check_outputs, data_options, device_option, progress_option
from robusteye.cli.table import echo, echo_block, format_table
from robusteye.deploy import OnnxClassifier, is_exported, source_model
from robusteye.errors import UsageError
from robusteye.evaluate.audit import NORMS, SUITES, AuditResult, audit
from robusteye.evaluate.ceiling import audit_ceiling
from robusteye.evaluate.classmap import align_to_model
from robusteye.io import write_json


@click.command(name="audit")
@click.argument("checkpoint", metavar="CHECKPOINT_OR_ONNX", type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@click.option("--eps", "eps_text", default=None, help="Comma-separated eps values.")
@click.option(
    "--snr",
    "snr_text",
    default=None,
    help="Comma-separated SNRs in dB: the ball whose strongest perturbation has that SNR.",
)
@click.option("--norm", type=click.Choice(NORMS), default="linf", show_default=True)
@click.option(
    "--suite",
    type=click.Choice(tuple(SUITES)),
    default="standard",
    show_default=True,
    help="standard: APGD 100 steps, Square 5000 queries; quick: fewer steps and queries.",
)
@click.option(
    "--source",
    "source_checkpoint",
    default=None,
    help="For an exported .onnx model: the float checkpoint its gradient attacks run on "
    "(default: the one its metadata names, checked by hash).",
)
@device_option(help="Torch device the attacks run on: cpu, cuda, cuda:1, mps.")
@progress_option()
@data_options
@split_option
@limit_option
@seed_option
@out_option
def audit_command(
    checkpoint: str,
    source: str,
    eps_text: str | None,
    snr_text: str | None,
    norm: str,
    suite: str,
    source_checkpoint: str | None,
    device: str,
    progress: bool,
    limit: int | None,
    seed: int,
    out: str | None,
    **folder: Any,
) -> None:
    """Robust accuracy of CHECKPOINT (or an exported .onnx model) under FGSM, PGD, noise,
    APGD-CE, APGD-T and Square: the worst case per eps or SNR, and the indicators of attack
    failure. An exported model has no gradients: its gradient attacks are crafted on the
    float source model and replayed on it; noise and Square query it directly."""
    eps, snr = eps_or_snr(eps_text, snr_text, upper=None if norm == "l2" else 1.0)
    check_outputs([out], [checkpoint], source, folder)
    existing_checkpoint(checkpoint)
    attacker = None
    model: nn.Module
    if is_exported(checkpoint):
        exported = OnnxClassifier(checkpoint)
        model = exported
        attacker = source_model(exported, source_checkpoint).to(device)
        ds = align_to_model(read_data(source, folder, limit, seed), exported.classes)
        what = f"{checkpoint} (exported, {exported.precision}, onnxruntime)"
    else:
        if source_checkpoint is not None:
            raise UsageError("--source is for an exported .onnx model; CHECKPOINT is a folder")
        model, ds = load_aligned(checkpoint, source, folder, limit, seed)
        model.to(device)
        what = checkpoint
    with audit_progress(progress) as report:
        result = audit(
            model, ds.images, ds.labels, eps, snr=snr, norm=norm, suite=suite, seed=seed,
            progress=report, on_attack=log_attack, source=attacker,
        )  # fmt: skip
    echo(f"audit ({suite}, {norm}) of {what} on {len(ds)} images of {source}")
    echo_block(format_audit(result))
    ceiling = audit_ceiling(ds, result.points, result.norm)
    echo(
        "data ceiling (no classifier can do better on these images): "
        + ", ".join(f"{c['ceiling']:.4f} at eps {c['eps']:.4g}" for c in ceiling["points"])
    )
    if out:
        doc = {"checkpoint": checkpoint, "data": source, **result.to_dict(), "ceiling": ceiling}
        write_json(out, doc)


def format_audit(result: AuditResult) -> str:
    """The table (eps, SNR, clean, each attack, worst case), notes and indicators."""
    names = result.attack_names
    rows = [
        (p.eps, p.snr_db, p.clean_accuracy, *(a.accuracy for a in p.attacks), p.worst_accuracy)
        for p in result.points
    ]
    headers = ("eps", "SNR dB", "clean", *(f"+{n}" if _cascade(result, n) else n for n in names))
    lines = [format_table((*headers, "worst"), rows)]
    lines.append("(+: run only on the points still unbroken; its column is the accuracy so far)")
    lines += [f"note: {note}" for note in result.notes]
    lines.append("indicators of attack failure:")
    lines += [f"  {i.status.upper():4}  {i.name}: {i.reason}" for i in result.indicators]
    return "\n".join(lines)


def _cascade(result: AuditResult, name: str) -> bool:
    return any(a.cascade for a in result.points[0].attacks if a.name == name)
