"""Reading a run folder: the resolved spec, the result rows and the image-grid examples.

Layout (written by `robusteye.experiments`): `spec.yaml`, `splits.json`, `results.jsonl` (one
JSON row per line, read as typed rows: `robusteye.results`), optional `examples.npz` and
`cells/<cell id>/model/` checkpoints.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data.npz import read_npz_members
from robusteye.errors import DataError, RobustEyeError, UsageError
from robusteye.readers import read_json as read_json_file
from robusteye.readers import read_yaml as read_yaml_file
from robusteye.results import CellRow, Row, TransferRow, read_rows

log = logging.getLogger(__name__)

RESULTS_NAME = "results.jsonl"
#: Most bytes the members of `examples.npz` may declare (64 crops at 16 attack points: 4 MiB).
MAX_EXAMPLES_BYTES = 64 << 20
_EXAMPLE_KEYS = ("clean", "labels", "classes", "model", "attacks")


@dataclass(frozen=True)
class RunData:
    """Everything a report needs from one run folder."""

    path: Path
    spec: dict[str, Any]
    splits: dict[str, Any]
    cells: tuple[CellRow, ...]
    transfers: tuple[TransferRow, ...]
    examples: dict[str, np.ndarray] | None


def read_results(path: str | os.PathLike[str]) -> list[Row]:
    """The rows of a `results.jsonl`: the store's reader (one way to read a results file),
    keeping a final row that lacks only its newline; a torn last line is skipped."""
    return read_rows(Path(path), unterminated=True)[0]


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """Read a run folder; a missing folder, results file or cell row is a `UsageError`."""
    path = Path(run_dir)
    if not path.exists():
        raise UsageError(f"run folder does not exist: {path}")
    if not path.is_dir():
        raise UsageError(f"not a run folder (a file): {path}")
    results = path / RESULTS_NAME
    if not results.is_file():
        raise UsageError(f"{path} is not a run folder: no {RESULTS_NAME}")
    rows = read_results(results)
    cells = tuple(r for r in rows if isinstance(r, CellRow))
    if not cells:
        raise UsageError(f"{results} has no cell rows (has the run trained anything yet?)")
    transfers = tuple(r for r in rows if isinstance(r, TransferRow))
    return RunData(
        path=path,
        spec=read_yaml(path / "spec.yaml"),
        splits=read_json(path / "splits.json"),
        cells=cells,
        transfers=transfers,
        examples=_read_examples(path / "examples.npz"),
    )


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML mapping of the run folder; {} when the file is absent or holds something else."""
    return _mapping(read_yaml_file(path, error=RobustEyeError) if path.is_file() else {})


def read_json(path: Path) -> dict[str, Any]:
    """A JSON mapping of the run folder; {} when the file is absent or holds something else."""
    return _mapping(read_json_file(path, error=RobustEyeError) if path.is_file() else {})


def _mapping(doc: Any) -> dict[str, Any]:
    return doc if isinstance(doc, dict) else {}


def _read_examples(path: Path) -> dict[str, np.ndarray] | None:
    """The members of `examples.npz` the image grid draws, through the data sets' checked
    `.npz` reader (no other member is decompressed, no header can make us allocate more than
    `MAX_EXAMPLES_BYTES`); an unreadable file skips the grid with a warning."""
    if not path.is_file():
        return None
    try:
        listed = read_npz_members(path, ["attacks"], max_bytes=MAX_EXAMPLES_BYTES)
        attacks = listed.get("attacks", np.array([], dtype=np.str_))
        if attacks.dtype.kind != "U":
            raise DataError(f"{path}: attacks must be strings, got {attacks.dtype}")
        keys = [f"{a}_{part}" for a in np.atleast_1d(attacks) for part in ("eps", "snr_db", "adv")]
        arrays = read_npz_members(path, [*_EXAMPLE_KEYS, *keys], max_bytes=MAX_EXAMPLES_BYTES)
    except DataError as err:
        log.warning("skipping the image grid: %s", err)
        return None
    return arrays
