"""`robusteye report RUN_DIR`: figures, an HTML page and model cards for an experiment run."""

from __future__ import annotations

from pathlib import Path

import click

from robusteye.cli.table import echo
from robusteye.experiments.selection import SELECTION_FILE
from robusteye.report import write_report
from robusteye.report.selection import write_selection_report


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for report.html and figures/ (default: RUN_DIR). Model cards always go "
    "into the run's checkpoint folders.",
)
def report(run_dir: Path, out: Path | None) -> None:
    """Write RUN_DIR/report.html (self-contained), figures/*.png and a model card per checkpoint
    (for an experiment run), or the report of a model-selection run (robusteye select)."""
    if (run_dir / SELECTION_FILE).is_file():
        echo(write_selection_report(run_dir, out))
        return
    echo(write_report(run_dir, out))
