"""`robusteye corrupt`: the corruption benchmark of one checkpoint on a data source."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from robusteye.attacks import ATTACKS
from robusteye.cli.common import (
    class_map_option,
    limit_option,
    load_mapped,
    out_option,
    seed_option,
    split_option,
)
from robusteye.cli.options import check_outputs, data_options
from robusteye.cli.table import echo, echo_block, format_table, parse_floats, split_list
from robusteye.corruptions import MAX_SEVERITY, check_severity, parse_corruptions
from robusteye.errors import UsageError
from robusteye.evaluate import CorruptionResult, adversarial_curve, corruption_benchmark
from robusteye.io import write_json


def parse_severities(text: str) -> tuple[int, ...]:
    """'1,3,5' -> (1, 3, 5), sorted and deduplicated; anything else is a one-line UsageError."""
    items = split_list(text, "--severities")
    try:
        values = [int(v) for v in items]
    except ValueError:
        raise UsageError(
            f"--severities expects integers in 0..{MAX_SEVERITY} separated by commas, got {text!r}"
        ) from None
    return tuple(sorted({check_severity(v) for v in values}))


def _snr_range(result: CorruptionResult, name: str) -> str:
    """'first..last' batch SNR (dB) over the corruption's severities >= 1 ('-' if none)."""
    snrs = [result.point(name, s).snr_db for s in result.severities if s > 0]
    if not snrs:
        return "-"
    return "..".join("-" if math.isinf(s) else f"{s:.1f}" for s in (snrs[0], snrs[-1]))


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.option("--data", "source", required=True, help="Data source (synthetic, folder, npz, pz).")
@click.option(
    "--corruptions",
    "corruptions_text",
    default="all",
    show_default=True,
    help="'all' or a comma-separated list of corruption names.",
)
@click.option(
    "--severities",
    "severities_text",
    default="1,2,3,4,5",
    show_default=True,
    help=f"Comma-separated severities in 0..{MAX_SEVERITY} (0: clean).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=512,
    show_default=True,
    help="Images per inference batch.",
)
@click.option(
    "--plot", type=click.Path(dir_okay=False), default=None, help="Also draw the curves (PNG)."
)
@click.option(
    "--adversarial",
    type=click.Choice([*ATTACKS, "none"]),
    default="fgsm",
    show_default=True,
    help="--plot: also draw this attack's accuracy at --adversarial-snr on the SNR axes.",
)
@click.option(
    "--adversarial-snr",
    default="40,35,30,25,20",
    show_default=True,
    help="--plot: the target SNRs (dB) of the adversarial curve.",
)
@data_options
@class_map_option
@split_option
@limit_option
@seed_option
@out_option
def corrupt(
    checkpoint: str,
    source: str,
    corruptions_text: str,
    severities_text: str,
    batch_size: int,
    plot: str | None,
    adversarial: str,
    adversarial_snr: str,
    class_map_name: str,
    limit: int | None,
    seed: int,
    out: str | None,
    **folder: Any,
) -> None:
    """Accuracy of CHECKPOINT under natural corruptions (rotation, light, noise, blur, JPEG,
    occlusion, glare...) at each severity, with the SNR of the damage and the mean
    corruption accuracy (mCA)."""
    names = parse_corruptions(corruptions_text)
    severities = parse_severities(severities_text)
    snrs = parse_floats(adversarial_snr, "--adversarial-snr")
    check_outputs([out, plot], [checkpoint], source, folder)
    model, ds, cmap = load_mapped(checkpoint, source, folder, limit, seed, class_map_name)
    result = corruption_benchmark(
        model,
        ds.images,
        ds.labels,
        ds.classes,
        names,
        severities,
        seed=seed,
        batch_size=batch_size,
        class_map=cmap,
    )
    echo(f"{len(names)} corruptions on {len(ds)} images of {source} (seed {seed})")
    rows = [
        (c, *result.accuracies(c), result.mean_accuracy(c), _snr_range(result, c)) for c in names
    ]
    headers = ("corruption", *(f"s{s}" for s in severities), "mean", "SNR dB")
    echo_block(format_table(headers, rows))
    echo(
        f"clean accuracy {result.clean.accuracy:.4f}  mCA {result.mean_corruption_accuracy:.4f}"
        f"  relative drop {result.relative_drop:.4f}"
    )
    if out:
        write_json(out, {"checkpoint": checkpoint, "data": source, **result.to_dict()})
    if plot:
        from robusteye.report.corruption_plot import plot_corruption_benchmark

        curves = []
        if adversarial != "none" and cmap is None:
            # on the same images; with a class map the attack's labels would be the model's
            curves.append(
                adversarial_curve(
                    model, ds.images, ds.labels, ds.classes, adversarial, snrs, seed=seed
                )
            )
        plot_corruption_benchmark(result, plot, adversarial=curves, title=Path(checkpoint).name)
        echo(f"plot: {plot}")
