"""`robusteye data synth|info|preview|convert`."""

from __future__ import annotations

from typing import Any

import click

from robusteye.cli.options import check_outputs, data_options, open_source
from robusteye.cli.table import echo, echo_block
from robusteye.data.info import dataset_info, format_info
from robusteye.data.splits import sample_subset
from robusteye.io import check_output_path, dumps_json
from robusteye.text import printable


@click.group()
def data() -> None:
    """Create, inspect and convert eye-crop data sets."""


@data.command()
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option(
    "--n", "n", type=click.IntRange(min=4), default=5722, show_default=True, help="Number of crops."
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--persons",
    "n_persons",
    type=click.IntRange(min=1),
    default=None,
    help="Number of synthetic persons [default: 48, or N if smaller].",
)
def synth(out: str, n: int, seed: int, n_persons: int | None) -> None:
    """Generate the procedural eye-crop set and save it as .npz."""
    from robusteye.data.loaders import default_persons
    from robusteye.data.synthetic import generate_synthetic

    check_output_path(out)  # before generating thousands of crops
    persons = default_persons(n) if n_persons is None else n_persons
    ds = generate_synthetic(n, seed=seed, n_persons=persons)
    path = ds.save(out)
    counts = ", ".join(f"{c} {k}" for c, k in ds.class_counts().items())
    echo(f"wrote {path}: {len(ds)} crops, {len(ds.person_ids)} persons ({counts})")


@data.command()
@click.argument("source")
@data_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option(
    "--persons/--no-persons", "show_persons", default=False, help="List image counts per person."
)
def info(source: str, as_json: bool, show_persons: bool, **folder: Any) -> None:
    """Counts per class and per person, and pixel statistics of SOURCE."""
    summary = dataset_info(open_source(source, **folder))
    if as_json:
        click.echo(dumps_json(summary, indent=2))
        return
    echo_block(format_info(summary))
    if show_persons:
        echo()
        for person, k in sorted(summary["person_counts"].items()):
            echo(f"{printable(person):<40}{k:>6}")


@data.command()
@click.argument("source")
@data_options
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .png file.")
@click.option("--per-class", type=click.IntRange(min=1, max=40), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def preview(source: str, out: str, per_class: int, seed: int, **folder: Any) -> None:
    """Write a labelled montage of SOURCE (one row per class) to a PNG."""
    from robusteye.data.preview import MAX_PREVIEW_CELLS, preview_grid, preview_rows

    check_outputs([out], [], source, folder)
    ds = open_source(source, **folder)
    rows = preview_rows(ds.num_classes, per_class)
    if rows < ds.num_classes:
        echo(
            f"note: showing the first {rows} of {ds.num_classes:,} classes "
            f"(a preview holds at most {MAX_PREVIEW_CELLS} crops)",
            err=True,
        )
    path = preview_grid(ds, out, per_class=per_class, seed=seed)
    echo(f"wrote {path}")


@data.command()
@click.argument("source")
@data_options
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .npz file.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Keep a seeded random subset of this many crops (as audit --limit draws them), "
    "e.g. the memorisation diagnostic's 256.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="--limit: the draw.")
def convert(source: str, out: str, limit: int | None, seed: int, **folder: Any) -> None:
    """Load SOURCE (folder, data.pz, npz) and save it as a robusteye .npz."""
    check_outputs([out], [], source, folder)
    ds = sample_subset(open_source(source, **folder), limit, seed)
    path = ds.save(out)
    echo(f"wrote {path}: {len(ds)} crops, {len(ds.classes)} classes, {len(ds.person_ids)} persons")


@data.command(name="demo-video")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .mp4 file.")
@click.option("--seconds", type=click.FloatRange(1, 600), default=20.0, show_default=True)
@click.option("--fps", type=click.FloatRange(5, 120), default=30.0, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo_video(out: str, seconds: float, fps: float, seed: int) -> None:
    """A clip with scripted blinks and a long closure, made from the face photo matplotlib
    ships, and its ground truth beside it (OUT with .truth.json): what `monitor` runs on
    with no download."""
    from robusteye.monitor.demo import render_demo

    check_output_path(out)
    truth = render_demo(out, seconds=seconds, fps=fps, seed=seed)
    kinds = [e["kind"] for e in truth["events"]]
    echo(
        f"wrote {out}: {truth['frames']} frames at {fps:g} fps, {kinds.count('blink')} blinks "
        f"and {kinds.count('long_closure')} long closures scripted; ground truth beside it"
    )
