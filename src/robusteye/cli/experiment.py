"""`robusteye experiment SPEC`: run (or resume) a spec's grid, then write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from robusteye.cli.options import run_options
from robusteye.cli.table import echo, echo_block, format_table, plus_minus
from robusteye.experiments import expand_cells, load_spec, run_experiment
from robusteye.experiments.backends import RunOptions
from robusteye.io import check_not_input


@click.command()
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Run folder [default: runs/<spec name>]. Run again to resume.",
)
@run_options("cell")
@click.option("--dry-run", is_flag=True, help="List the cells and exit.")
def experiment(
    spec_path: str,
    out: str | None,
    data: str | None,
    run: RunOptions,
    dry_run: bool,
) -> None:
    """Run every cell of SPEC (models x regimes x folds x seeds) and report."""
    spec = load_spec(spec_path, data=data)
    cells = expand_cells(spec)
    if dry_run:
        for c in cells:
            echo(c.id)
        echo(f"{len(cells)} cells ({spec.folds} folds, {len(spec.seeds)} seed(s))")
        return
    folder = Path(out) if out is not None else Path("runs") / spec.name
    check_not_input(folder, folders=[spec.data])  # figures in an image folder become data
    echo(f"{spec.name}: {len(cells)} cells on {spec.data} -> {folder}")
    result = run_experiment(
        spec,
        folder,
        run,
        log=lambda line: echo(line, err=True),
    )
    echo_block(summary_table(result.summary))
    echo(
        f"{result.ran} tasks run, {result.skipped} resumed, {result.seconds:.0f} s; "
        f"results in {folder / 'results.jsonl'}"
    )
    if result.report is not None:
        echo(f"report: {result.report}")


def summary_table(summary: list[dict[str, Any]]) -> str:
    """Clean accuracy and accuracy at each attack's strongest point, mean +- std over folds."""
    names = sorted({a["attack"] for s in summary for a in s["attacks"]})
    headers = ["variant", "folds", "clean acc", *(f"{n} acc (strongest)" for n in names)]
    rows = []
    for s in summary:
        by_name = {a["attack"]: a for a in s["attacks"]}
        cols = [plus_minus(s["clean"]["accuracy"])]
        for n in names:
            points = by_name[n]["points"] if n in by_name else []
            cols.append(plus_minus(points[-1]["metrics"]["accuracy"]) if points else "-")
        rows.append([s["variant"], s["n_folds"], *cols])
    return format_table(headers, rows)
