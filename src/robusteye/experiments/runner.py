"""The grid runner: a spec in, a run folder out, resumable at any point.

Run folder: `spec.yaml` (the resolved spec), `splits.json` (the person-grouped folds and the
hold-out persons), `results.jsonl` (one row per finished cell and per fold's transfer
matrix), `cells/<id>/model/` (each cell's final checkpoint), `examples.npz` (the report's image
grid), `summary.json` (mean and std across folds), and the report.

Phases: cells that need nothing, then aim-1 FGSM cells (their source is the standard cell of
the same model, fold and seed), then one transferability task per fold and seed. A restarted
run skips every finished row; an unfinished cell resumes from its trainer state.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm

from robusteye.data import EyeDataset, load_dataset, person_kfold, persons_of
from robusteye.data.splits import holdout_split
from robusteye.devices import resolve_device
from robusteye.errors import UsageError
from robusteye.experiments.backends import Backend, make_backend
from robusteye.experiments.cells import Cell, expand_cells
from robusteye.experiments.examples import write_examples
from robusteye.experiments.spec import ExperimentSpec
from robusteye.experiments.store import ResultsStore
from robusteye.experiments.tasks import (
    CellOutput,
    CellTask,
    TransferTask,
    checkpoint_files,
    run_cell,
    run_transfer,
)
from robusteye.folders import claimed
from robusteye.io import atomic_path, staging_folder, write_json
from robusteye.models.checkpoint import replace_folder
from robusteye.readers import read_yaml

SPEC_FILE = "spec.yaml"
SPLITS_FILE = "splits.json"
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class Fold:
    train: np.ndarray
    val: np.ndarray
    eval: np.ndarray
    attack: np.ndarray


@dataclass(frozen=True)
class RunResult:
    out: Path
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    ran: int
    skipped: int
    seconds: float
    report: Path | None


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    *,
    backend: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float = 0.0,
    device: str = "cpu",
    progress: bool = False,
    report: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> RunResult:
    """Run (or resume) every cell of `spec` into the folder `out`."""
    if backend != "ray":  # a Ray cluster's workers may have the GPU this driver lacks
        resolve_device(device)
    start = time.perf_counter()
    out = Path(out)
    cells = expand_cells(spec)
    _check_sources(cells)
    data = load_dataset(spec.data)  # data and folds first: a bad source leaves no folder
    folds, splits = make_folds(data, spec)
    with claim_folder(out, spec.to_dict()):  # one run per folder, for the whole run
        check_or_write(out / SPLITS_FILE, splits, "its person splits (did the data change?)")
        store = ResultsStore(out / RESULTS_FILE)
        done = {row["id"] for row in store.rows()}
        transfers = _transfer_keys(spec, cells)
        total = len(cells) + len(transfers)
        skipped = sum(c.id in done for c in cells) + sum(t in done for t in transfers)
        if skipped:
            log(f"resuming: {skipped} of {total} tasks already done in {out}")
        ran = 0
        with (
            make_backend(
                backend, data, workers=workers, address=ray_address, cpus=cpus_per_cell,
                gpus=gpus_per_cell,
            ) as runner,
            Progress(total, skipped, runner.slots, progress, log) as bar,
        ):  # fmt: skip
            for phase in (
                [c for c in cells if c.source is None],
                [c for c in cells if c.source is not None],
            ):
                tasks = [
                    _cell_task(c, spec, folds[c.fold], out, runner, device, data)
                    for c in phase
                    if c.id not in done
                ]
                for task, output in runner.map(run_cell, tasks):
                    _finish_cell(out, store, task, output)
                    bar.finished(output.row, _cell_line(output.row))
                    ran += 1
            ttasks = [
                _transfer_task(spec, cells, folds, fold, seed, out, runner)
                for fold, seed in transfers.values()
                if f"transfer.f{fold}.s{seed}" not in done
            ]
            for _, row in runner.map(run_transfer, ttasks):
                store.append(row)
                bar.finished(row, f"{row['id']}: {len(row['matrices'])} transfer matrices")
                ran += 1
        rows = store.rows()
        if spec.evaluation.examples and spec.evaluation.attacks:
            write_examples(out, spec, data, folds[0].eval, rows)
        summary = _summarize(rows)
        write_json(out / SUMMARY_FILE, summary)
        report_path = None
        if report:
            from robusteye.report import write_report

            report_path = write_report(out)
        return RunResult(out, rows, summary, ran, skipped, time.perf_counter() - start, report_path)


def make_folds(data: EyeDataset, spec: ExperimentSpec) -> tuple[list[Fold], dict[str, Any]]:
    """The spec's person-grouped folds as row indices, and their persons for splits.json."""
    rest = np.arange(len(data))
    holdout = np.array([], dtype=np.int64)
    if spec.holdout > 0:
        rest, holdout = holdout_split(data, test_fraction=spec.holdout, seed=spec.split_seed)
    inner = data.subset(rest)
    limit = spec.evaluation.limit
    folds: list[Fold] = []
    record: list[dict[str, list[str]]] = []
    for tr, te in person_kfold(inner, spec.folds, seed=spec.split_seed):
        train, test = rest[tr], rest[te]
        evaluation = holdout if holdout.size else test
        # Attacks and the per-epoch validation (learning curves) use at most `limit` rows,
        # a fixed random subset, so every cell of a fold sees the same images.
        val = _subset(test, limit, spec.split_seed)
        attack = _subset(evaluation, limit, spec.split_seed)
        folds.append(Fold(train, val, evaluation, attack))
        record.append({"train": persons_of(data, train), "test": persons_of(data, test)})
    splits: dict[str, Any] = {"folds": record}
    if holdout.size:
        splits["holdout"] = persons_of(data, holdout)
    return folds, splits


def _subset(rows: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if not limit or rows.size <= limit:
        return rows
    order = torch.randperm(rows.size, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(rows[order[:limit]])


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


def _changed(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        return ", ".join(keys) or "values"
    return "values"


def _check_sources(cells: Sequence[Cell]) -> None:
    ids = {c.id for c in cells}
    for c in cells:
        if c.source is not None and c.source not in ids:
            raise UsageError(
                f"{c.id} needs the standard cell {c.source} for its FGSM examples, "
                "but the spec's standard regime does not cover that model"
            )


def _cell_task(
    cell: Cell,
    spec: ExperimentSpec,
    fold: Fold,
    out: Path,
    runner: Backend,
    device: str,
    data: EyeDataset,
) -> CellTask:
    source = None
    if cell.source is not None:
        source = checkpoint_files(out / "cells" / cell.source / "model")
    return CellTask(
        cell=cell,
        config=spec.train_config(cell.seed, cell.regime, device, **dict(cell.natural)),
        train_idx=fold.train,
        val_idx=fold.val,
        eval_idx=fold.eval,
        attack_idx=fold.attack,
        eval_set="holdout" if spec.holdout > 0 else "fold test",
        attacks=tuple(spec.evaluation.attacks),
        corruptions=spec.evaluation.corruptions,
        audit=spec.evaluation.audit,
        data_source=spec.data,
        work_dir=str((out / "cells" / cell.id / "train").resolve()),
        source_files=source,
        threads=runner.threads,
    )


def _finish_cell(out: Path, store: ResultsStore, task: CellTask, output: CellOutput) -> None:
    """Checkpoint first, then the row (its presence means the cell is complete)."""
    folder = out / "cells" / task.cell.id
    with staging_folder(folder, "model") as tmp:
        for name, blob in output.files.items():
            (tmp / Path(name).name).write_bytes(blob)
        replace_folder(tmp, folder / "model")
    store.append(output.row)
    shutil.rmtree(folder / "train", ignore_errors=True)


def _transfer_keys(spec: ExperimentSpec, cells: Sequence[Cell]) -> dict[str, tuple[int, int]]:
    if spec.evaluation.transfer is None or len({c.variant for c in cells}) < 2:
        return {}
    return {
        f"transfer.f{fold}.s{seed}": (fold, seed)
        for seed in spec.seeds
        for fold in range(spec.folds)
    }


def _transfer_task(
    spec: ExperimentSpec,
    cells: Sequence[Cell],
    folds: list[Fold],
    fold: int,
    seed: int,
    out: Path,
    runner: Backend,
) -> TransferTask:
    t = spec.evaluation.transfer
    assert t is not None
    models = {}
    for c in cells:
        if c.fold == fold and c.seed == seed:
            models[c.variant] = checkpoint_files(out / "cells" / c.id / "model")
    attack = folds[fold].attack[: t.limit] if t.limit else folds[fold].attack
    return TransferTask(fold, seed, models, attack, t, runner.threads)


def _cell_line(row: dict[str, Any]) -> str:
    parts = [f"clean acc {row['clean']['accuracy']:.3f}"]
    for curve in row["attacks"]:
        last = curve["points"][-1]
        snr = last["snr_db"]
        where = f"{snr:.1f} dB" if snr is not None else f"eps {last['eps']:g}"
        parts.append(f"{curve['attack']} {last['metrics']['accuracy']:.3f} @ {where}")
    return f"{row['id']}: {', '.join(parts)} ({row['seconds']:.0f} s)"


def _summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from robusteye.report import summarize

    return [s.to_dict() for s in summarize(rows)]


class Progress:
    """Cells done, running and the time left, on one bar; a line per finished task."""

    def __init__(
        self, total: int, done: int, slots: int, enabled: bool, log: Callable[[str], None]
    ) -> None:
        self.total, self.done, self.slots, self.log = total, done, slots, log
        self.enabled = enabled
        self.bar = tqdm(total=total, initial=done, unit="task", disable=not enabled,
                        dynamic_ncols=True, desc="experiment")  # fmt: skip
        self._postfix()

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"running {min(self.slots, self.total - self.done)}")

    def skip(self, n: int) -> None:
        """Count `n` tasks found already done."""
        if n:
            self.done += n
            self.bar.update(n)
            self._postfix()

    def finished(self, row: dict[str, Any], line: str) -> None:
        self.done += 1
        self.bar.update()
        self._postfix()
        if self.enabled:
            self.bar.write(line)
        else:
            self.log(line)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
