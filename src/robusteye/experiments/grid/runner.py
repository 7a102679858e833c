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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data import EyeDataset, load_dataset
from robusteye.data.splits import person_splits, sample_rows
from robusteye.errors import UsageError
from robusteye.experiments.backends import Backend, RunOptions
from robusteye.experiments.grid.cells import Cell, expand_cells
from robusteye.experiments.grid.examples import write_examples
from robusteye.experiments.grid.spec import ExperimentSpec
from robusteye.experiments.grid.tasks import (
    CellOutput,
    CellTask,
    TransferTask,
    run_cell,
    run_transfer,
)
from robusteye.experiments.rundir import check_known_rows, open_run
from robusteye.experiments.scoring import checkpoint_files
from robusteye.folders import inside_run
from robusteye.io import staging_folder, write_json
from robusteye.models.checkpoint import replace_folder
from robusteye.results import CellRow, ResultsStore, Row

SUMMARY_FILE = "summary.json"


@dataclass(frozen=True)
class FoldRows:
    """A fold as its cells use it: training rows, the per-epoch validation rows (at most
    the evaluation limit), the rows scored clean (the fold's test persons, or the hold-out)
    and the rows attacked (at most the limit of those)."""

    train: np.ndarray
    val: np.ndarray
    eval: np.ndarray
    attack: np.ndarray


@dataclass(frozen=True)
class RunResult:
    out: Path
    rows: list[Row]
    summary: list[dict[str, Any]]
    ran: int
    skipped: int
    seconds: float
    report: Path | None


def run_experiment(
    spec: ExperimentSpec,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    log: Callable[[str], None] = lambda _: None,
) -> RunResult:
    """Run (or resume) every cell of `spec` into the folder `out`."""
    options = options or RunOptions()
    options.check_device()
    start = time.perf_counter()
    out = Path(out)
    cells = expand_cells(spec)
    _check_sources(cells)
    data = load_dataset(spec.data)  # data and folds first: a bad source leaves no folder
    folds, splits = make_folds(data, spec)
    with open_run(out, spec.to_dict(), splits) as store:  # one run per folder
        for c in cells:  # a linked cells/<id> is refused before any cell trains
            inside_run(out, out / "cells" / c.id / "model")
        transfers = _transfer_keys(spec, cells)
        # a row of no task of this spec would be counted in the summary: refused
        done = {row.id for row in check_known_rows(store, {*(c.id for c in cells), *transfers})}
        total = len(cells) + len(transfers)
        skipped = sum(c.id in done for c in cells) + sum(t in done for t in transfers)
        if skipped:
            log(f"resuming: {skipped} of {total} tasks already done in {out}")
        ran = 0
        with options.running(data, total, skipped, log) as (runner, bar):
            for phase in (
                [c for c in cells if c.source is None],
                [c for c in cells if c.source is not None],
            ):
                tasks = [
                    _cell_task(c, spec, folds[c.fold], out, runner, options.device)
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
                bar.finished(row, f"{row.id}: {len(row.matrices)} transfer matrices")
                ran += 1
        rows = store.rows()
        if spec.evaluation.examples and spec.evaluation.attacks:
            write_examples(out, spec, data, folds[0].eval, rows)
        summary = _summarize(rows)
        write_json(inside_run(out, out / SUMMARY_FILE), summary)
        report_path = None
        if options.report:
            from robusteye.report import write_report

            report_path = write_report(out)
        return RunResult(out, rows, summary, ran, skipped, time.perf_counter() - start, report_path)


def make_folds(data: EyeDataset, spec: ExperimentSpec) -> tuple[list[FoldRows], dict[str, Any]]:
    """The spec's person-grouped folds as row indices, and their persons for splits.json.

    Attacks and the per-epoch validation (learning curves) use at most the evaluation limit
    of rows, a fixed random subset, so every cell of a fold sees the same images."""
    cut = person_splits(data, holdout=spec.holdout, folds=spec.folds, seed=spec.split_seed)
    limit, seed = spec.evaluation.limit, spec.split_seed
    folds = []
    for fold in cut.folds:
        evaluation = cut.holdout if cut.holdout.size else fold.test
        folds.append(
            FoldRows(
                fold.train,
                sample_rows(fold.test, limit, seed),
                evaluation,
                sample_rows(evaluation, limit, seed),
            )
        )
    return folds, cut.record(data)


def _check_sources(cells: Sequence[Cell]) -> None:
    ids = {c.id for c in cells}
    for c in cells:
        if c.source is not None and c.source not in ids:
            raise UsageError(
                f"{c.id} needs the standard cell {c.source} for its FGSM examples, "
                "but the spec's standard regime does not cover that model"
            )


def _cell_task(
    cell: Cell, spec: ExperimentSpec, fold: FoldRows, out: Path, runner: Backend, device: str
) -> CellTask:
    source = None
    if cell.source is not None:
        source = checkpoint_files(out / "cells" / cell.source / "model")
    return CellTask(
        cell=cell,
        config=spec.train_config(cell.seed, cell.regime, device, **dict(cell.training)),
        train_idx=fold.train,
        val_idx=fold.val,
        eval_idx=fold.eval,
        attack_idx=fold.attack,
        eval_set="holdout" if spec.holdout > 0 else "fold test",
        attacks=tuple(spec.evaluation.attacks),
        corruptions=spec.evaluation.corruptions,
        audit=spec.evaluation.audit,
        certify=spec.evaluation.certify,
        data_source=spec.data,
        work_dir=str(inside_run(out, out / "cells" / cell.id / "train").resolve()),
        source_files=source,
        threads=runner.threads,
    )


def _finish_cell(out: Path, store: ResultsStore, task: CellTask, output: CellOutput) -> None:
    """Checkpoint first, then the row (its presence means the cell is complete)."""
    folder = inside_run(out, out / "cells" / task.cell.id)
    inside_run(out, folder / "model")
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
    folds: list[FoldRows],
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


def _cell_line(row: CellRow) -> str:
    parts = [f"clean acc {row.clean.accuracy:.3f}"]
    for curve in row.attacks:
        last = curve.points[-1]
        where = f"{last.snr_db:.1f} dB" if last.snr_db is not None else f"eps {last.eps:g}"
        parts.append(f"{curve.name} {_acc(last.metrics.accuracy)} @ {where}")
    return f"{row.id}: {', '.join(parts)} ({row.seconds:.0f} s)"


def _acc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _summarize(rows: list[Row]) -> list[dict[str, Any]]:
    from robusteye.report import summarize

    return [s.to_dict() for s in summarize(rows)]
