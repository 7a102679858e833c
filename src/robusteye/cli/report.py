"""`robusteye report RUN_DIR`: figures, an HTML page and model cards for an experiment run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from robusteye.cli.table import echo
from robusteye.errors import RobustEyeError, UsageError, path_error
from robusteye.experiments.selection import SELECTION_FILE
from robusteye.folders import locked
from robusteye.report import write_report
from robusteye.report.page import FIGURES_DIR, REPORT_NAME
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
    if not run_dir.exists():
        raise UsageError(f"run folder does not exist: {run_dir}")
    if not run_dir.is_dir():
        raise UsageError(f"not a run folder (a file): {run_dir}")
    # the run's lock, as experiment, select and train hold it: a run still being written
    # stops here with one line instead of giving a half-finished report
    with locked(run_dir):
        _check_out(run_dir if out is None else out)
        try:
            if (run_dir / SELECTION_FILE).is_file():
                echo(write_selection_report(run_dir, out))
            else:
                echo(write_report(run_dir, out))
        except OSError as err:  # a write the checks above could not foresee (disk full)
            if path_error(err) is not None:
                raise
            where = err.filename or (run_dir if out is None else out)
            raise RobustEyeError(f"cannot write {where}: {err.strerror or err}") from None


def _check_out(folder: Path) -> None:
    """Before anything is written: `folder` (created if missing) and its figures/ are folders
    this process can write in, and report.html is no folder, so a report that cannot be
    written fails with one line and leaves nothing half-written."""
    for path, want_dir in (
        (folder, True),
        (folder / FIGURES_DIR, True),
        (folder / REPORT_NAME, False),
    ):
        if path.exists() and path.is_dir() != want_dir:
            kind = "is not a folder" if want_dir else "is a folder"
            raise UsageError(f"{path} exists and {kind}; cannot write the report there")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"cannot create {folder}: a file is in the way") from None
    except OSError as err:
        if path_error(err) is not None:
            raise
        raise RobustEyeError(f"cannot create {folder}: {err.strerror or err}") from None
    for where in (folder, folder / FIGURES_DIR):
        if not where.is_dir():
            continue
        try:
            with tempfile.TemporaryFile(dir=where):
                pass
        except OSError as err:
            raise RobustEyeError(f"cannot write to {where}: {err.strerror or err}") from None
