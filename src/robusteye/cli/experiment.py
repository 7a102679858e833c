"""`robusteye experiment SPEC`: run (or resume) a spec's grid, then write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robusteye.cli.table import format_table
from robusteye.experiments import expand_cells, load_spec, run_experiment
from robusteye.experiments.backends import BACKENDS


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder [default: runs/<spec name>]. Run again to resume.",
)
@click.option("--data", default=None, help="Data source overriding the spec's.")
@click.option("--backend", type=click.Choice(BACKENDS), default="local", show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="local: worker processes (1 runs cells in this process).",
)
@click.option(
    "--ray-address",
    default=None,
    help="ray: join this cluster (for example auto or ray://head:10001); "
    "without it a local Ray is started.",
)
@click.option(
    "--cpus-per-cell",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="ray: CPUs reserved by each cell.",
)
@click.option(
    "--gpus-per-cell",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="ray: GPUs reserved by each cell.",
)
@click.option("--device", default="cpu", show_default=True, help="Torch device of each cell.")
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write report.html when the grid is done.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--dry-run", is_flag=True, help="List the cells and exit.")
def experiment(
    spec_path: str,
    out: str | None,
    data: str | None,
    backend: str,
    workers: int,
    ray_address: str | None,
    cpus_per_cell: float,
    gpus_per_cell: float,
    device: str,
    report: bool,
    progress: bool,
    dry_run: bool,
) -> None:
    """Run every cell of SPEC (models x regimes x folds x seeds) and report."""
    spec = load_spec(spec_path, data=data)
    cells = expand_cells(spec)
    if dry_run:
        for c in cells:
            click.echo(c.id)
        click.echo(f"{len(cells)} cells ({spec.folds} folds, {len(spec.seeds)} seed(s))")
        return
    folder = Path(out) if out is not None else Path("runs") / spec.name
    click.echo(f"{spec.name}: {len(cells)} cells on {spec.data} -> {folder}")
    result = run_experiment(
        spec,
        folder,
        backend=backend,
        workers=workers,
        ray_address=ray_address,
        cpus_per_cell=cpus_per_cell,
        gpus_per_cell=gpus_per_cell,
        device=device,
        progress=progress,
        report=report,
        log=lambda line: click.echo(line, err=True),
    )
    click.echo(summary_table(result.summary))
    click.echo(
        f"{result.ran} tasks run, {result.skipped} resumed, {result.seconds:.0f} s; "
        f"results in {folder / 'results.jsonl'}"
    )
    if result.report is not None:
        click.echo(f"report: {result.report}")


def summary_table(summary: list[dict[str, Any]]) -> str:
    """Clean accuracy and accuracy at each attack's strongest point, mean +- std over folds."""
    names = sorted({a["attack"] for s in summary for a in s["attacks"]})
    headers = ["variant", "folds", "clean acc", *(f"{n} acc (strongest)" for n in names)]
    rows = []
    for s in summary:
        by_name = {a["attack"]: a for a in s["attacks"]}
        cols = [_pm(s["clean"]["accuracy"])]
        for n in names:
            points = by_name[n]["points"] if n in by_name else []
            cols.append(_pm(points[-1]["metrics"]["accuracy"]) if points else "-")
        rows.append([s["variant"], s["n_folds"], *cols])
    return format_table(headers, rows)


def _pm(stat: dict[str, Any]) -> str:
    if stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"
