"""`robusteye certify`: certified L2 accuracy from a sound Lipschitz bound, next to the
audit's empirical robust accuracy at the same sizes and the bound's tightness."""

from __future__ import annotations

import math
from typing import Any

import click

from robusteye.cli.common import (
    audit_progress,
    limit_option,
    load_aligned,
    log_attack,
    out_option,
    seed_option,
    split_option,
)
from robusteye.cli.options import check_outputs, data_options, progress_option
from robusteye.cli.table import echo, echo_block, format_table, parse_floats, split_list
from robusteye.errors import RobustEyeError, UsageError
from robusteye.evaluate.audit import SUITES
from robusteye.evaluate.certcheck import CertCheck, check_certificates
from robusteye.io import write_json

#: the field's usual L2 radius on 32 x 32 images in [0, 1]
DEFAULT_RADIUS = 36 / 255


def parse_radii(text: str) -> list[float]:
    """'0.1,36/255' -> [0.1, 0.1412]: numbers or fractions a/b, each finite and >= 0."""
    values = []
    for part in split_list(text, "--radius"):
        num, _, den = part.partition("/")
        try:
            value = float(num) / float(den) if den else float(num)
        except (ValueError, ZeroDivisionError):
            raise UsageError(
                f"--radius expects numbers or fractions a/b separated by commas, got {text!r}"
            ) from None
        if not math.isfinite(value) or value < 0:
            raise UsageError(f"--radius values must be finite and >= 0, got {part!r}")
        values.append(value)
    return values


@click.command(name="certify")
@click.argument("checkpoint", type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@click.option(
    "--radius", "radius_text", default=None, help="Comma-separated L2 radii (36/255 allowed)."
)
@click.option(
    "--snr",
    "snr_text",
    default=None,
    help="Comma-separated SNRs in dB: per image the radius ||x|| * 10^(-SNR/20).",
)
@click.option(
    "--suite",
    type=click.Choice((*SUITES, "none")),
    default="quick",
    show_default=True,
    help="The audit run in the same L2 balls (none: certify only).",
)
@click.option(
    "--lower-bound-images",
    type=click.IntRange(min=1, max=100_000),
    default=64,
    show_default=True,
    help="Images searched for the empirical lower bound of the Lipschitz constant.",
)
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write a PNG.")
@progress_option()
@data_options
@split_option
@limit_option
@seed_option
@out_option
def certify_command(
    checkpoint: str,
    source: str,
    radius_text: str | None,
    snr_text: str | None,
    suite: str,
    lower_bound_images: int,
    plot: str | None,
    progress: bool,
    limit: int | None,
    seed: int,
    out: str | None,
    **folder: Any,
) -> None:
    """Certified accuracy of CHECKPOINT at each L2 radius (default 36/255) or SNR: a point
    counts when it is correct and its logit margin exceeds sqrt(2) L r, with L a sound bound
    of the model's Lipschitz constant. Beside it, the audit's robust accuracy in the same
    balls (never below the certified one) and how tight L is."""
    if radius_text is not None and snr_text is not None:
        raise UsageError("give --radius LIST or --snr LIST, not both")
    snr = parse_floats(snr_text, "--snr") if snr_text is not None else None
    radii = parse_radii(radius_text) if radius_text is not None else None
    if radii is None and snr is None:
        radii = [DEFAULT_RADIUS]
    check_outputs([out, plot], [checkpoint], source, folder)
    model, ds = load_aligned(checkpoint, source, folder, limit, seed)
    with audit_progress(progress) as report:
        check = check_certificates(
            model, ds.images, ds.labels, radii=radii, snr=snr,
            suite=None if suite == "none" else suite, lower_bound_images=lower_bound_images,
            seed=seed, progress=report, on_attack=log_attack,
        )  # fmt: skip
    echo(f"certify {checkpoint} on {len(ds)} images of {source}")
    echo_block(format_certify(check))
    if out:
        write_json(out, {"checkpoint": checkpoint, "data": source, **check.to_dict()})
    if plot:
        from robusteye.report.certified import certified_figure

        certified_figure(check, ds.images, plot, title=f"{model.config.name} on {source}")
    if not check.sound:
        raise RobustEyeError(
            f"the certificate is unsound: {check.violations} certified points broken by the "
            f"audit, lower bound {check.lower_bound:.6g} vs bound {check.result.lipschitz:.6g}"
        )


def format_certify(check: CertCheck) -> str:
    """The table (radius, SNR, clean, certified, empirical) and the bound's tightness."""
    result = check.result
    by_snr = result.points[0].snr_db is not None
    rows = [
        (p.snr_db, p.radius, result.clean_accuracy, p.certified_accuracy, empirical)
        if by_snr
        else (p.radius, p.mean_snr_db, result.clean_accuracy, p.certified_accuracy, empirical)
        for p, empirical in zip(result.points, check.empirical, strict=True)
    ]
    headers = ("SNR dB", "mean radius") if by_snr else ("radius", "mean SNR dB")
    lines = [format_table((*headers, "clean", "certified", "audit (L2)"), rows)]
    lower, bound = check.lower_bound, result.lipschitz
    lines.append(
        f"Lipschitz bound L = {bound:.6g}; empirical lower bound {lower:.6g} "
        f"(tightness {lower / bound:.3g}); median certified radius of correct points "
        f"{result.to_dict()['median_certified_radius']:.4g}"
    )
    if check.audit is not None:
        warns = [i for i in check.audit.indicators if i.status == "warn"]
        lines += [f"audit warning: {i.name}: {i.reason}" for i in warns]
    return "\n".join(lines)
