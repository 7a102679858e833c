"""What the evaluation verbs (`evaluate`, `attack`, `transfer`, `audit`, `certify`, `corrupt`)
share: their common options, reading a checkpoint with the data it is scored on, `--eps` /
`--snr`, and the audit's progress bar and log lines.

The work is the library's: `robusteye.data.splits` keeps the persons of a splits.json and
draws the `--limit` sample, `robusteye.evaluate.classmap` matches the model's classes to
the data's.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from tqdm.auto import tqdm

from robusteye.cli.options import open_source
from robusteye.cli.table import echo, parse_floats
from robusteye.data import EyeDataset
from robusteye.data.splits import sample_subset, split_subset
from robusteye.errors import UsageError
from robusteye.evaluate.audit import AttackRun, Progress
from robusteye.evaluate.classmap import CLASS_MAPS, ClassMap, align_to_model, class_map
from robusteye.models import EyeModel, load_model

limit_option = click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Use a random subset of this many images (seeded).",
)
seed_option = click.option("--seed", type=int, default=0, show_default=True)
split_option = click.option(
    "--split",
    "split",
    default=None,
    metavar="SPLITS.json[:KEY]",
    help="Keep only the persons listed under KEY (default test) of a run's splits.json.",
)
out_option = click.option(
    "--out", type=click.Path(dir_okay=False), default=None, help="Also write the result as JSON."
)
class_map_option = click.option(
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


def read_model_and_data(
    checkpoint: str, source: str, folder: dict[str, Any], limit: int | None, seed: int
) -> tuple[EyeModel, EyeDataset]:
    """The model and the data in the data's own classes, with --split and --limit applied."""
    model = load_model(existing_checkpoint(checkpoint), channels_last=True)
    return model, read_data(source, folder, limit, seed)


def read_data(source: str, folder: dict[str, Any], limit: int | None, seed: int) -> EyeDataset:
    """The data in its own classes, with --split (popped from `folder`) and --limit applied."""
    split = folder.pop("split", None)
    ds = open_source(source, **folder)
    if split is not None:
        path, _, key = split.partition(":")
        ds = split_subset(ds, path, key or "test", what=f"--split {split}")
    return sample_subset(ds, limit, seed)


def load_aligned(
    checkpoint: str, source: str, folder: dict[str, Any], limit: int | None, seed: int
) -> tuple[EyeModel, EyeDataset]:
    """The model and the data relabelled into the model's classes."""
    model, ds = read_model_and_data(checkpoint, source, folder, limit, seed)
    return model, align_to_model(ds, model.classes)


def load_mapped(
    checkpoint: str,
    source: str,
    folder: dict[str, Any],
    limit: int | None,
    seed: int,
    class_map_name: str,
) -> tuple[EyeModel, EyeDataset, ClassMap | None]:
    """The model, the data, and the class map that scores the model over the data's classes
    (None: the data is relabelled into the model's classes instead)."""
    model, ds = read_model_and_data(checkpoint, source, folder, limit, seed)
    cmap = class_map(class_map_name, model.classes, ds.classes)
    if cmap is None:
        ds = align_to_model(ds, model.classes)
    else:
        echo(f"class map: {cmap.describe()}")
    return model, ds, cmap


def eps_or_snr(
    eps_text: str | None, snr_text: str | None, *, upper: float | None = 1.0
) -> tuple[list[float] | None, list[float] | None]:
    """Parse exactly one of --eps LIST / --snr LIST; eps values must lie in [0, `upper`]
    (no upper bound for None: an L2 radius may exceed 1)."""
    if (eps_text is None) == (snr_text is None):
        raise UsageError("give --eps LIST or --snr LIST (one of them)")
    eps = parse_floats(eps_text, "--eps") if eps_text is not None else None
    if eps is not None and any(e < 0 or (upper is not None and e > upper) for e in eps):
        bound = f"lie in [0, {upper:g}]" if upper is not None else "be >= 0"
        raise UsageError(f"--eps values must {bound}, got {eps_text}")
    snr = parse_floats(snr_text, "--snr") if snr_text is not None else None
    return eps, snr


def existing_checkpoint(checkpoint: str) -> str:
    """A missing CHECKPOINT is a usage error (exit 2), like any missing path argument."""
    if not Path(checkpoint).exists():
        raise UsageError(f"no such checkpoint folder: {checkpoint}")
    return checkpoint


@contextmanager
def audit_progress(enabled: bool) -> Iterator[Progress]:
    """A progress bar of an audit's forward-backward passes (its planned total shrinks as
    points break), as the `progress` callback `audit` takes."""
    with tqdm(total=1, unit="pass", unit_scale=True, disable=not enabled, desc="audit") as bar:

        def report(done: int, planned: int, label: str) -> None:
            bar.total = planned
            bar.n = done
            bar.set_postfix_str(label)
            bar.refresh()

        yield report


def log_attack(eps: float, run: AttackRun) -> None:
    """One stderr line per finished attack of an audit, as its `on_attack` callback: what a
    log shows while a long audit runs (between the bar's redraws on a terminal)."""
    if run.cascade:
        what = f"+{run.name} broke {run.broken} of {run.attacked} unbroken, robust so far"
    else:
        what = f"{run.name} broke {run.broken} of {run.attacked} correct, accuracy"
    tqdm.write(f"eps {eps:.4g}: {what} {run.accuracy:.4f} ({run.seconds:.1f} s)", file=sys.stderr)
