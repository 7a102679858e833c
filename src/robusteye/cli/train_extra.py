"""`robusteye train`'s extra data: `--extra-data`, `--extra-fraction` and `--pseudo-label`
checked together before any work, the crops read and labelled (`train.extra`), and the line
that says what was kept."""

from __future__ import annotations

from pathlib import Path

import click

from robusteye.cli.options import stacked
from robusteye.cli.table import echo
from robusteye.data import load_dataset
from robusteye.errors import UsageError
from robusteye.train.extra import ExtraData, extra_data

#: The extra-data options of `train` (`--extra-data`, `--extra-fraction`, `--pseudo-label`),
#: in the order `--help` lists them.
extra_data_options = stacked(
    [
        click.option(
            "--extra-data",
            "extra_source",
            metavar="SOURCE",
            default=None,
            help="Extra training crops mixed into every batch: any data source (e.g. "
            "'synthetic:n=20000,seed=1', an .npz, a folder); classes the data lacks are "
            "dropped. Never split: validation and held-out persons stay real.",
        ),
        click.option(
            "--extra-fraction",
            type=click.FloatRange(min=0, max=1, max_open=True),
            default=0.0,
            show_default=True,
            help="--extra-data: share of each batch drawn from it (e.g. 0.3).",
        ),
        click.option(
            "--pseudo-label",
            "pseudo_label",
            metavar="CKPT",
            default=None,
            help="--extra-data: label its crops by this model's predictions (a teacher "
            "trained on the real crops) instead of their own labels.",
        ),
    ]
)


def check_extra_flags(source: str | None, fraction: float, teacher: str | None) -> None:
    """--extra-data, --extra-fraction and --pseudo-label go together (before any work)."""
    if source is not None and fraction == 0:
        raise UsageError("--extra-data needs --extra-fraction > 0 (the share of each batch)")
    if source is None and fraction > 0:
        raise UsageError("--extra-fraction needs --extra-data SOURCE")
    if teacher is not None and source is None:
        raise UsageError("--pseudo-label labels the --extra-data crops; give --extra-data")
    if teacher is not None and not Path(teacher).exists():
        raise UsageError(f"no such --pseudo-label model: {teacher}")


def read_extra(
    source: str | None, classes: tuple[str, ...], teacher: str | None, device: str
) -> ExtraData | None:
    """The --extra-data crops (None without), labelled in `classes` by their own labels or
    the teacher's; says on stderr what was kept."""
    if source is None:
        return None
    from robusteye.deploy import load_classifier  # an exported teacher works too

    model = None if teacher is None else load_classifier(teacher, device).eval()
    extra = extra_data(
        load_dataset(source), classes, source=source, teacher=model, teacher_name=teacher
    )
    echo(extra_line(extra), err=True)
    return extra


def extra_line(extra: ExtraData) -> str:
    info = extra.info
    dropped = info.get("dropped_classes") or []
    text = f"extra data: {info['n']} of {info['n_source']} crops of {info['source']}"
    text += f", labels: {info['labels']}"
    if dropped:
        text += f" (dropped classes the data lacks: {', '.join(dropped)})"
    if "teacher_agreement" in info:
        text += f"; the teacher agrees with the source's labels on {info['teacher_agreement']:.3f}"
    return text
