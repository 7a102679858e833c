"""Options shared by the verbs: data sources, outputs that may not replace an input, the
device, and how a spec's tasks run."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

import click

from robusteye.cli.table import split_list
from robusteye.data import EyeDataset, load_dataset
from robusteye.devices import parse_device, resolve_device
from robusteye.errors import UsageError
from robusteye.io import check_output_path

F = TypeVar("F", bound=Callable[..., Any])


def stacked(options: Sequence[Callable[[F], F]]) -> Callable[[F], F]:
    """One decorator of several click options, listed by `--help` in the order given."""

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def data_options(func: F) -> F:
    """Add --label-map / --manifest / --person-regex / --classes for image-folder sources."""
    func = click.option(
        "--label-map",
        "label_map",
        multiple=True,
        metavar="FOLDER=CLASS",
        help="Map a label folder to a class name (repeatable), e.g. Open_Eyes=open.",
    )(func)
    func = click.option(
        "--manifest",
        type=click.Path(dir_okay=False),
        default=None,
        help="CSV with file,label,person_id (default: ROOT/manifest.csv).",
    )(func)
    func = click.option(
        "--person-regex",
        default=None,
        help="Regex whose group 'person' (or first group) is the person id.",
    )(func)
    func = click.option(
        "--classes",
        default=None,
        metavar="A,B,...",
        help="Class names in order; other label folders are an error.",
    )(func)
    return func


def open_source(
    source: str,
    label_map: tuple[str, ...] = (),
    manifest: str | None = None,
    person_regex: str | None = None,
    classes: str | None = None,
) -> EyeDataset:
    """Load SOURCE with the folder options that were given (others keep their defaults)."""
    options: dict[str, Any] = {}
    if label_map:
        options["label_map"] = dict(_pair(item) for item in label_map)
    if manifest is not None:
        options["manifest"] = manifest
    if person_regex is not None:
        options["person_regex"] = person_regex
    if classes is not None:
        options["classes"] = split_list(classes, "--classes")
    return load_dataset(source, **options)


def check_outputs(
    outputs: Iterable[str | None], checkpoints: Sequence[str], source: str, folder: dict[str, Any]
) -> None:
    """Before any work, each output given (`--out`, `--plot`): its folder exists, and it is no
    input (a checkpoint, the data, --manifest, the --split file) and lies in no input folder
    (a checkpoint, an image folder), so `--out CK/config.json` cannot overwrite the model."""
    split = folder.get("split")
    inputs = [
        *checkpoints,
        source,
        folder.get("manifest"),
        split.partition(":")[0] if split else None,
    ]
    for out in outputs:
        if out is not None:
            check_output_path(out, inputs=inputs, folders=[*checkpoints, source])


def _pair(item: str) -> tuple[str, str]:
    key, eq, value = item.partition("=")
    if not eq or not key or not value:
        raise UsageError(f"--label-map expects FOLDER=CLASS, got {item!r}")
    return key, value


def device_option(*, check: bool = True, help: str = "cpu, cuda, cuda:1, mps") -> Callable[[F], F]:
    """`--device`: its spelling is checked at once, and with `check` that the device exists
    here too (the run options leave that to where the work runs: a Ray worker's GPU)."""

    def convert(ctx: click.Context, param: click.Parameter, value: str) -> str:
        return str(resolve_device(value) if check else parse_device(value))

    return click.option("--device", default="cpu", show_default=True, callback=convert, help=help)


def progress_option() -> Callable[[F], F]:
    """--progress/--no-progress: progress bars on stderr, by default only when stderr is a
    terminal (a log file or a pipe gets the per-epoch and per-task lines, not the bars)."""

    def resolve(ctx: click.Context, param: click.Parameter, value: bool | None) -> bool:
        return sys.stderr.isatty() if value is None else value

    return click.option(
        "--progress/--no-progress",
        default=None,
        callback=resolve,
        help="Progress bars on stderr.  [default: when stderr is a terminal]",
    )


def run_options(unit: str) -> Callable[[F], F]:
    """Options of the verbs that run a spec's tasks on a backend (`unit`: cell or trial):
    --data, then --backend, --workers, --ray-address, --cpus-per-UNIT, --gpus-per-UNIT,
    --device, --report/--no-report and --progress/--no-progress, which reach the command as
    one `run: RunOptions` argument."""
    from robusteye.experiments.backends import BACKENDS, RunOptions

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def func(**kwargs: Any) -> Any:
            kwargs["run"] = RunOptions(
                backend=kwargs.pop("backend"),
                workers=kwargs.pop("workers"),
                ray_address=kwargs.pop("ray_address"),
                cpus=kwargs.pop(f"cpus_per_{unit}"),
                gpus=kwargs.pop(f"gpus_per_{unit}"),
                device=kwargs.pop("device"),
                progress=kwargs.pop("progress"),
                report=kwargs.pop("report"),
            )
            return command(**kwargs)

        options = [
            click.option("--data", default=None, help="Data source overriding the spec's."),
            click.option(
                "--backend", type=click.Choice(BACKENDS), default="local", show_default=True
            ),
            click.option(
                "--workers",
                type=click.IntRange(min=1),
                default=1,
                show_default=True,
                help=f"local: worker processes (1 runs {unit}s in this process).",
            ),
            click.option(
                "--ray-address",
                default=None,
                help="ray: join this cluster (for example auto or ray://head:10001); "
                "without it a local Ray is started.",
            ),
            click.option(
                f"--cpus-per-{unit}",
                type=click.FloatRange(min=0, min_open=True),
                default=1.0,
                show_default=True,
                help=f"ray: CPUs reserved by each {unit}.",
            ),
            click.option(
                f"--gpus-per-{unit}",
                type=click.FloatRange(min=0),
                default=0.0,
                show_default=True,
                help=f"ray: GPUs reserved by each {unit}.",
            ),
            device_option(check=False, help=f"Torch device of each {unit}."),
            click.option(
                "--report/--no-report",
                default=True,
                show_default=True,
                help="Write report.html when the run is done.",
            ),
            progress_option(),
        ]
        return cast(F, stacked(options)(func))

    return decorate
