"""Options shared by every verb that reads a data source."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from robusteye.data import EyeDataset, load_dataset
from robusteye.errors import UsageError

F = TypeVar("F", bound=Callable[..., Any])


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
        options["classes"] = [c.strip() for c in classes.split(",") if c.strip()]
    return load_dataset(source, **options)


def _pair(item: str) -> tuple[str, str]:
    key, eq, value = item.partition("=")
    if not eq or not key or not value:
        raise UsageError(f"--label-map expects FOLDER=CLASS, got {item!r}")
    return key, value
