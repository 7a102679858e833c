"""`robusteye export CHECKPOINT --out DIR`: ONNX (and int8) models with their parity report.

The work is the library's (`robusteye.deploy`): this module reads the options and the data,
refuses bad combinations before any work, and prints what the export checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robusteye.cli.common import existing_checkpoint, seed_option
from robusteye.cli.options import data_options, open_source
from robusteye.cli.table import echo, echo_block, format_table, parse_floats
from robusteye.deploy import EXPORT_FILES, ExportOptions, choose_sets, export_model
from robusteye.deploy.export import EXPORT_WHAT
from robusteye.errors import UsageError
from robusteye.evaluate.audit import SUITES
from robusteye.io import check_not_input, check_replaceable
from robusteye.models.checkpoint import read_checkpoint_config


def _check_out(out: str, inputs: list[str | None]) -> None:
    """Before any work: DIR is new or an earlier export, and no input lies in it."""
    dest = Path(out)
    check_replaceable(dest, EXPORT_FILES, EXPORT_WHAT)
    check_not_input(dest, inputs=inputs, folders=inputs)
    for given in inputs:
        if given is not None and Path(given).exists():
            inside = Path(given).resolve()
            if inside == dest.resolve() or inside.is_relative_to(dest.resolve()):
                raise UsageError(f"--out {out} holds the input {given}; refusing to replace it")


@click.command(name="export")
@click.argument("checkpoint", type=click.Path())
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--int8", is_flag=True, help="Also write model.int8.onnx (static, QDQ, per-channel).")
@click.option("--calibration", default=None, help="Data the int8 ranges are fitted on.")
@click.option("--calibration-limit", type=click.IntRange(min=1), default=512, show_default=True)
@click.option("--data", "data_source", default=None, help="Data parity (and --audit) runs on.")
@click.option("--split", default=None, metavar="SPLITS.json",
              help="Keep --data's test persons of this splits.json; calibration never uses "
              "them.")  # fmt: skip
@click.option("--parity-limit", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.99, show_default=True,
              help="Least int8-vs-float agreement; under it the export fails.")  # fmt: skip
@click.option("--audit", "run_audit", is_flag=True,
              help="Audit the source and each exported model at --snr, side by side.")  # fmt: skip
@click.option("--snr", "snr_text", default=None, help="Comma-separated SNRs in dB for --audit.")
@click.option("--suite", type=click.Choice(tuple(SUITES)), default="standard", show_default=True)
@click.option("--audit-limit", type=click.IntRange(min=1), default=500, show_default=True)
@data_options
@seed_option
def export_command(
    checkpoint: str,
    out: str,
    int8: bool,
    calibration: str | None,
    calibration_limit: int,
    data_source: str | None,
    split: str | None,
    parity_limit: int,
    min_agreement: float,
    run_audit: bool,
    snr_text: str | None,
    suite: str,
    audit_limit: int,
    seed: int,
    **folder: Any,
) -> None:
    """Export CHECKPOINT to DIR/model.onnx (and with --int8 DIR/model.int8.onnx), checking
    parity with torch; DIR/export.json is the report."""
    if int8 != (calibration is not None):
        raise UsageError("--int8 and --calibration DATA go together (the int8 ranges are "
                         "fitted on the calibration data)")  # fmt: skip
    if run_audit != (snr_text is not None):
        raise UsageError("--audit and --snr LIST go together")
    if split is not None and data_source is None:
        raise UsageError("--split needs --data (the data whose test persons it keeps)")
    snr = tuple(parse_floats(snr_text, "--snr")) if snr_text is not None else ()
    options = ExportOptions(int8, min_agreement, snr, suite, audit_limit, seed)
    existing_checkpoint(checkpoint)
    _check_out(out, [checkpoint, data_source, calibration, split])
    classes = read_checkpoint_config(checkpoint).model.classes
    sets = choose_sets(
        classes,
        data=(open_source(data_source, **folder), data_source) if data_source else None,
        calibration=(open_source(calibration, **folder), calibration) if calibration else None,
        split=split, parity_limit=parity_limit, calibration_limit=calibration_limit, seed=seed,
    )  # fmt: skip
    doc = export_model(checkpoint, out, sets, options, note=lambda m: echo(m, err=True))
    echo_block(format_export(doc))
    echo(f"wrote {out}")


def format_export(doc: dict[str, Any]) -> str:
    """The parity figures, the audit table and its flags, as `export` prints them."""
    parity, f = doc["data"]["parity"], doc["float"]
    lines = [
        f"parity on {parity['images']} images of {parity['source']} ({parity['how']})",
        f"  float ONNX vs torch: max |logit diff| {f['max_abs_logit_diff']:.2g} "
        f"(<= {f['tolerance']:g}), predictions identical, accuracy {f['accuracy']:.4f}",
    ]
    if "int8" in doc:
        q, cal = doc["int8"], doc["data"]["calibration"]
        lines.append(
            f"  int8 vs float: agreement {q['agreement']:.4f} (>= {q['min_agreement']:g}), "
            f"accuracy {q['accuracy_float']:.4f} -> {q['accuracy']:.4f}; calibrated on "
            f"{cal['images']} images of {cal['source']} ({cal['how']})"
        )
    if "audit" in doc:
        a = doc["audit"]
        names = [n for n in ("torch", "onnx", "int8") if n in a["rows"][0]]
        rows = [
            (
                r["snr_db"],
                r["eps"],
                *(v for n in names for v in (r[n]["clean"], r[n]["worst_case"])),
            )
            for r in a["rows"]
        ]
        headers = ("SNR dB", "eps", *(f"{n} {k}" for n in names for k in ("clean", "worst")))
        lines.append(f"audit ({a['suite']}) on {a['images']} images; exported models: gradient "
                     "attacks replayed from the float source, noise and Square direct")  # fmt: skip
        lines.append(format_table(headers, rows))
        lines += [f"FLAG: {flag}" for flag in a["flags"]]
        for name, warned in a["warnings"].items():
            if warned:
                lines.append(f"warning: {name}'s audit flags {', '.join(warned)}")
    return "\n".join(lines)
