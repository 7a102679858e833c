"""The run folder every experiment writes (a grid or a search): claimed by one process for
the whole run, its spec and person splits written once and compared on every resume, and its
results store of finished tasks.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from robusteye.errors import DataError, UsageError
from robusteye.folders import claimed
from robusteye.io import atomic_path, write_json
from robusteye.readers import read_yaml
from robusteye.results import ResultsStore, Row

SPEC_FILE = "spec.yaml"
SPLITS_FILE = "splits.json"
RESULTS_FILE = "results.jsonl"


@contextmanager
def open_run(out: Path, spec: dict[str, Any], splits: dict[str, Any]) -> Iterator[ResultsStore]:
    """Hold the run folder `out` (new, empty, or a run of the same spec and person splits)
    for the duration, and give its results store."""
    with claim_folder(out, spec):
        check_or_write(out / SPLITS_FILE, splits, "its person splits (did the data change?)")
        yield ResultsStore(out / RESULTS_FILE)


@contextmanager
def claim_folder(out: Path, spec: dict[str, Any]) -> Iterator[None]:
    """Lock `out` for this run: it must be new, empty, or hold a run of the same spec."""
    with claimed(out, lambda folder: (folder / SPEC_FILE).is_file()):
        check_or_write(out / SPEC_FILE, spec, "a different spec", as_yaml=True)
        yield


def check_or_write(path: Path, value: Any, what: str, *, as_yaml: bool = False) -> None:
    """Check that the run's `path` holds `value`, or write it there (a new run)."""
    if path.is_file():
        try:
            old = read_yaml(path, error=UsageError)  # JSON is YAML
        except UsageError:
            raise UsageError(f"{path} is damaged; choose another --out") from None
        if old != value:
            changed = _changed(old, value)
            raise UsageError(
                f"{path.parent} holds a run made with {what}: {changed} differ; "
                "choose another --out"
            )
        return
    if as_yaml:
        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(value, sort_keys=False), encoding="utf-8")
    else:
        write_json(path, value)


def check_known_rows(store: ResultsStore, known: Collection[str]) -> list[Row]:
    """The rows of `store`, each the result of one of this run's tasks (`known`), once: a
    row of another spec or a copied row would be counted in the summary as a fold more."""
    rows = store.rows()
    seen: set[str] = set()
    for row in rows:
        if row.id not in known:
            raise DataError(
                f"{store.path}: row {row.id!r} is no task of this run's spec (copied from "
                "another run, or edited?); remove it or choose another --out"
            )
        if row.id in seen:
            raise DataError(
                f"{store.path}: row {row.id!r} appears twice; remove one or choose another --out"
            )
        seen.add(row.id)
    return rows


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """`name OLD (now NEW)` for each key whose value differs between a run's saved settings
    `old` and the ones asked for now `new` (a key missing on one side reads `-`)."""
    keys = list(old) + [k for k in new if k not in old]
    return [
        f"{k} {_shown(old.get(k))} (now {_shown(new.get(k))})"
        for k in keys
        if old.get(k) != new.get(k)
    ]


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _changed(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return ", ".join(keys) or "values"
    return "values"
