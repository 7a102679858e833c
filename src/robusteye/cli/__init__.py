"""`robusteye <verb>`: a thin command line over the library.

Each verb lives in its own module and is registered here explicitly. User mistakes raise
`RobustEyeError`; `main` turns them into one line on stderr and the error's exit code
(2 usage, 1 runtime), with the traceback only under `--debug`. So does a path the OS refuses
as such wherever it is first used (`robusteye.errors.path_error`: a name or path too long).
"""

from __future__ import annotations

import sys

import click

from robusteye._version import __version__
from robusteye.cli.audit import audit_command
from robusteye.cli.ceiling import ceiling_command
from robusteye.cli.certify import certify_command
from robusteye.cli.corrupt import corrupt
from robusteye.cli.data import data
from robusteye.cli.evaluate import attack, evaluate, transfer
from robusteye.cli.experiment import experiment
from robusteye.cli.export import export_command
from robusteye.cli.inspect import inspect
from robusteye.cli.monitor import monitor_command
from robusteye.cli.predict import predict
from robusteye.cli.report import report
from robusteye.cli.select import select
from robusteye.cli.table import echo
from robusteye.cli.train import train
from robusteye.errors import RobustEyeError, path_error


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="robusteye")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """robusteye: robust eye-state classifiers (open / partiallyOpen / closed / notVisible)."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _command in (
    data, train, evaluate, attack, audit_command, certify_command, transfer, corrupt, inspect,
    experiment, select, report, predict, export_command, monitor_command, ceiling_command,
):  # fmt: skip
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns the process exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="robusteye", standalone_mode=False)
    except RobustEyeError as err:
        if debug:
            raise
        echo(f"error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        echo("aborted", err=True)
        return 130
    except click.ClickException as err:  # click's own checks: one line, not its usage text
        if debug:
            raise
        echo(f"error: {_one_line(err.format_message())}", err=True)
        return err.exit_code
    except OSError as err:  # a path the OS refuses, wherever it is first used
        mapped = path_error(err)
        if mapped is None or debug:
            raise
        echo(f"error: {mapped}", err=True)
        return mapped.exit_code
    except KeyboardInterrupt:
        echo("interrupted", err=True)
        return 130
    return 0


def _one_line(message: str) -> str:
    """click's own messages on one line (ours are one line by construction)."""
    return " ".join(message.split())
