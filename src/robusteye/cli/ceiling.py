"""`robusteye ceiling DATA --eps LIST|--snr LIST`: the data's robust-accuracy upper bound."""

from __future__ import annotations

from typing import Any

import click

from robusteye.cli.common import eps_or_snr
from robusteye.cli.options import check_outputs, data_options, open_source
from robusteye.cli.table import echo, echo_block, format_table
from robusteye.data.splits import read_person_list, rows_of_persons
from robusteye.errors import UsageError
from robusteye.evaluate.ceiling import holdout_distances, robust_ceiling
from robusteye.io import write_json
from robusteye.norms import NORMS


@click.command(name="ceiling")
@click.argument("source")
@click.option("--eps", "eps_text", default=None, help="Comma-separated eps values.")
@click.option(
    "--snr", "snr_text", default=None, help="Comma-separated SNRs in dB (the audit's balls)."
)
@click.option("--norm", type=click.Choice(NORMS), default="linf", show_default=True)
@click.option("--split", default=None, metavar="SPLITS.json",
              help="Also the distance of its test persons' crops to the nearest training crop "
              "of another label.")  # fmt: skip
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write JSON.")
@data_options
def ceiling_command(
    source: str,
    eps_text: str | None,
    snr_text: str | None,
    norm: str,
    split: str | None,
    out: str | None,
    **folder: Any,
) -> None:
    """The highest robust accuracy any classifier can reach on SOURCE at each eps or SNR (a
    maximum matching of the different-label pairs whose balls meet), and how far apart the
    classes lie."""
    eps, snr = eps_or_snr(eps_text, snr_text, upper=None if norm == "l2" else 1.0)
    check_outputs([out], [], source, {**folder, "split": split})
    ds = open_source(source, **folder)
    holdout = None
    if split is not None:
        test = rows_of_persons(ds, set(read_person_list(split, "test", what=f"--split {split}")))
        train = rows_of_persons(ds, set(read_person_list(split, "train", what=f"--split {split}")))
        if not test.size or not train.size:
            raise UsageError(
                f"--split {split}: its train and test persons must both be in {source}"
            )
        holdout, train_ds = ds.subset(test), ds.subset(train)
        doc = robust_ceiling(ds, eps, snr=snr, norm=norm)
        doc["holdout"] = holdout_distances(train_ds, holdout, norm)
    else:
        doc = robust_ceiling(ds, eps, snr=snr, norm=norm)
    echo(f"robust-accuracy ceiling of {source} ({len(ds)} images, {norm}; {doc['bound']})")
    rows = [(p["eps"], p["snr_db"], p["conflicting_pairs"], p["matched_pairs"], p["ceiling"])
            for p in doc["points"]]  # fmt: skip
    echo_block(format_table(("eps", "SNR dB", "pairs within 2 eps", "matched", "ceiling"), rows))
    for c, q in doc["nearest_other_label"].items():
        echo(f"nearest crop of another label, {c}: min {q['q0']:.4f}, 1% {q['q0.01']:.4f}, "
             f"5% {q['q0.05']:.4f}, median {q['q0.5']:.4f}")  # fmt: skip
    if holdout is not None:
        for c, q in doc["holdout"]["nearest_other_label_training_crop"].items():
            echo(f"hold-out {c} crops to the nearest training crop of another label: min "
                 f"{q['q0']:.4f}, 1% {q['q0.01']:.4f}, median {q['q0.5']:.4f}")  # fmt: skip
    if out:
        write_json(out, {"data": source, **doc})
