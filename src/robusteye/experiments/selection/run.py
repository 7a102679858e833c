"""Model selection: a cross-validated search, its ranking, and the winner retrained.

The persons are split once: a hold-out share (`holdout`) that the search never sees, and the
rest, cut into person-grouped folds. Every trial trains on each fold's training persons and
is scored on the fold's other persons; successive halving (optional) stops the worse trials
after a few epochs and lets the best go on, rung by rung, to the full budget. The best trial
at the last rung wins: it is written as a training spec (`winner.yaml`), retrained from that
file on all non-held-out persons, and scored once on the hold-out.

Run folder: `spec.yaml`, `splits.json`, `results.jsonl` (one row per trial, fold and rung),
`trials.csv` (the same rows flat, like the study's logs), `curves.csv` (every epoch of every
row), `ranking.csv` and `selection.json` (mean and std across folds per trial), `winner.yaml`,
`winner/` (checkpoint and hold-out figures), `figures/` and `report.html`. A restarted search
skips every finished row; an unfinished trial resumes from its trainer state.

Successive halving is synchronous (every rung waits for all its trials): the promotions are
then a function of the results alone, so a search gives the same trials, the same ranking
and the same winner on every backend and after any interruption. Ray Tune's asynchronous
schedulers (ASHA) promote by arrival order, which is faster on a busy cluster but not
reproducible; the `ray` backend here spreads each rung's trials over the cluster instead.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data import EyeDataset, load_dataset
from robusteye.data.splits import person_splits, sample_rows
from robusteye.experiments.backends import RunOptions
from robusteye.experiments.rundir import open_run
from robusteye.experiments.selection.ranking import fold_stats, rank_trials, write_tables
from robusteye.experiments.selection.spec import SelectSpec, Trial
from robusteye.experiments.selection.trial import TrialTask, run_trial
from robusteye.experiments.trainspec import (
    TrainSpecResult,
    load_train_spec,
    train_from_spec,
    write_train_spec,
)
from robusteye.folders import inside_run
from robusteye.io import write_json
from robusteye.results import Row, TrialRow

WINNER_SPEC = "winner.yaml"
WINNER_DIR = "winner"
SELECTION_FILE = "selection.json"


@dataclass(frozen=True)
class SelectFold:
    train: np.ndarray
    val: np.ndarray
    #: the validation rows that are attacked (a fixed subset when the objective has a limit)
    attack: np.ndarray


@dataclass(frozen=True)
class SelectResult:
    out: Path
    rows: list[TrialRow]
    ranking: list[dict[str, Any]]
    winner: dict[str, Any] | None
    ran: int
    skipped: int
    seconds: float
    report: Path | None


def selection_folds(data: EyeDataset, spec: SelectSpec) -> tuple[list[SelectFold], dict[str, Any]]:
    """The hold-out persons, then person-grouped folds of the others (row indices), and the
    persons of each side for splits.json."""
    cut = person_splits(data, holdout=spec.holdout, folds=spec.folds, seed=spec.split_seed)
    limit = spec.objective.limit
    folds = [
        SelectFold(f.train, f.test, sample_rows(f.test, limit, spec.split_seed)) for f in cut.folds
    ]
    return folds, cut.record(data)


def run_selection(
    spec: SelectSpec,
    out: str | Path,
    options: RunOptions | None = None,
    *,
    retrain: bool = True,
    data: EyeDataset | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> SelectResult:
    """Run (or resume) the search of `spec` into `out`, rank it, retrain and score the winner."""
    options = options or RunOptions()
    options.check_device()
    start = time.perf_counter()
    out = Path(out)
    trials = spec.trials()
    ds = data if data is not None else load_dataset(spec.data)
    folds, splits = selection_folds(ds, spec)  # before the folder: a bad source leaves nothing
    with open_run(out, spec.to_dict(), splits) as store:  # one run per folder
        for folder in ("trials", WINNER_DIR):  # a linked one is refused before any training
            inside_run(out, out / folder)
        done = {row.id for row in store.rows()}
        if done:
            log(f"resuming: {len(done)} trial-fold task(s) already done in {out}")
        ran = skipped = 0
        with options.running(ds, _plan_size(spec, trials), 0, log) as (runner, bar):
            alive = list(trials)
            n_rungs = max(len(spec.rungs(t)) for t in trials)
            for rung in range(n_rungs):
                tasks = [
                    _task(spec, t, rung, f, fold, out, options.device, runner.threads)
                    for t in alive
                    for f, fold in enumerate(folds)
                ]
                todo = [t for t in tasks if t.id not in done]
                bar.skip(len(tasks) - len(todo))
                skipped += len(tasks) - len(todo)
                if rung == 0 or todo:
                    epochs = sorted({t.until for t in tasks})
                    log(
                        f"rung {rung + 1}/{n_rungs}: {len(alive)} trial(s) x {len(folds)} folds, "
                        f"{'/'.join(map(str, epochs))} epochs"
                    )
                for _, row in runner.map(run_trial, todo):
                    store.append(row)
                    bar.finished(row, _trial_line(row))
                    ran += 1
                if rung == n_rungs - 1:
                    break
                rows = _trials(r for r in store.rows() if r.id in {t.id for t in tasks})
                keep = _promote(spec, alive, rows)
                for t in alive:
                    if t not in keep:
                        shutil.rmtree(out / "trials" / t.id, ignore_errors=True)
                if len(keep) < len(alive):
                    log(f"halving: {len(keep)} of {len(alive)} trial(s) go on")
                alive = keep
        shutil.rmtree(out / "trials", ignore_errors=True)
        rows = _trials(store.rows())
        ranking = rank_trials(rows, trials)
        write_tables(out, rows, ranking, trials)
        winner = None
        if ranking and retrain:
            winner = _winner(spec, trials, ranking[0], out, ds, options, log)
        write_json(
            out / SELECTION_FILE,
            {
                "name": spec.name,
                "objective": spec.objective.describe(),
                "strategy": spec.search.strategy,
                "halving": None
                if spec.search.halving is None
                else spec.search.halving.model_dump(),
                "folds": spec.folds,
                "trials": len(trials),
                "ranking": ranking,
                "winner": winner,
            },
        )
        report_path = None
        if options.report:
            from robusteye.report.selection import write_selection_report

            report_path = write_selection_report(out)
        return SelectResult(
            out, rows, ranking, winner, ran, skipped, time.perf_counter() - start, report_path
        )


def _task(
    spec: SelectSpec,
    trial: Trial,
    rung: int,
    f: int,
    fold: SelectFold,
    out: Path,
    device: str,
    threads: int | None,
) -> TrialTask:
    rungs = spec.rungs(trial)
    ts = trial.train_spec
    return TrialTask(
        trial=trial.id,
        params=trial.params,
        model=ts.model.name,
        model_options=dict(ts.model.options),
        config=ts.train_config(device),
        fold=f,
        rung=rung,
        until=rungs[min(rung, len(rungs) - 1)],
        train_idx=fold.train,
        val_idx=fold.val,
        attack_idx=fold.attack,
        objective=spec.objective,
        work_dir=str(inside_run(out, out / "trials" / trial.id / f"f{f}").resolve()),
        threads=threads,
    )


def _plan_size(spec: SelectSpec, trials: Sequence[Trial]) -> int:
    """Trial-fold tasks of the whole search (halving keeps ceil(n / eta) per rung)."""
    n, total = len(trials), 0
    for _ in range(max(len(spec.rungs(t)) for t in trials)):
        total += n * spec.folds
        if spec.search.halving is not None:
            n = max(1, math.ceil(n / spec.search.halving.eta))
    return total


def _trials(rows: Iterable[Row]) -> list[TrialRow]:
    return [r for r in rows if isinstance(r, TrialRow)]


def _promote(spec: SelectSpec, alive: list[Trial], rows: list[TrialRow]) -> list[Trial]:
    """The best ceil(n / eta) trials of a rung by mean objective (ties: lower std, then order)."""
    assert spec.search.halving is not None
    scores = {t.id: fold_stats([r for r in rows if r.trial == t.id], "objective") for t in alive}
    order = sorted(alive, key=lambda t: (-scores[t.id]["mean"], scores[t.id]["std"], t.index))
    keep = order[: max(1, math.ceil(len(alive) / spec.search.halving.eta))]
    return sorted(keep, key=lambda t: t.index)


def _winner(
    spec: SelectSpec,
    trials: Sequence[Trial],
    best: dict[str, Any],
    out: Path,
    data: EyeDataset,
    options: RunOptions,
    log: Callable[[str], None],
) -> dict[str, Any]:
    trial = next(t for t in trials if t.id == best["trial"])
    objective = best["metrics"]["objective"]
    params = ", ".join(f"{k}={v}" for k, v in trial.params.items())
    header = (
        f"robusteye training spec: the winner of `robusteye select` {spec.name}\n"
        f"trial {trial.id} ({params}): {spec.objective.describe()} "
        f"{objective['mean']:.4f} +- {objective['std']:.4f} over {best['folds']} folds\n"
        f"run it: robusteye train --spec {WINNER_SPEC} --out DIR"
    )
    winner_dir = inside_run(out, out / WINNER_DIR)  # never through a link out of the run
    path = write_train_spec(trial.train_spec, inside_run(out, out / WINNER_SPEC), header)
    log(f"winner {trial.id} ({params}); retraining it on all training persons")
    result: TrainSpecResult = train_from_spec(
        load_train_spec(path),
        winner_dir,
        data=data,
        device=options.device,
        progress=options.progress,
    )
    evaluation = result.evaluation or {}
    return {
        "trial": trial.id,
        "params": trial.params,
        "spec": WINNER_SPEC,
        "checkpoint": f"{WINNER_DIR}/last",
        "cv": best["metrics"],
        "holdout": evaluation,
    }


def _trial_line(row: TrialRow) -> str:
    m = row.metrics
    robust = "" if m.robust_accuracy is None else f", robust {m.robust_accuracy:.3f}"
    return (
        f"{row.id}: objective {m.objective:.3f} (clean {m.accuracy:.3f}{robust}) "
        f"({row.seconds:.0f} s)"
    )
