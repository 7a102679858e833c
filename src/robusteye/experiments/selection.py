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

import csv
import io
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data import EyeDataset, load_dataset, person_kfold, persons_of
from robusteye.data.splits import holdout_split
from robusteye.devices import resolve_device
from robusteye.evaluate import classification_metrics, predict_logits
from robusteye.experiments.backends import make_backend
from robusteye.experiments.runner import (
    RESULTS_FILE,
    SPLITS_FILE,
    Progress,
    check_or_write,
    claim_folder,
)
from robusteye.experiments.search import Objective, SelectSpec, Trial
from robusteye.experiments.store import ResultsStore
from robusteye.experiments.tasks import attack_curve
from robusteye.experiments.trainspec import (
    TrainSpecResult,
    load_train_spec,
    train_from_spec,
    write_train_spec,
)
from robusteye.io import atomic_path, write_json
from robusteye.models import create_model
from robusteye.train.config import RegimeConfig, TrainConfig
from robusteye.train.regimes import perturbed_copies
from robusteye.train.trainer import Trainer

WINNER_SPEC = "winner.yaml"
WINNER_DIR = "winner"
SELECTION_FILE = "selection.json"
#: per-fold metrics of a trial row (the objective last); ranked by mean and std across folds
METRICS = (
    "objective",
    "accuracy",
    "robust_accuracy",
    "macro_f1",
    "roc_auc_macro",
    "loss",
    "train_loss",
    "train_acc",
    "seconds",
)


@dataclass(frozen=True)
class SelectFold:
    train: np.ndarray
    val: np.ndarray
    #: the validation rows that are attacked (a fixed subset when the objective has a limit)
    attack: np.ndarray


@dataclass(frozen=True)
class TrialTask:
    trial: str
    params: dict[str, Any]
    model: str
    model_options: dict[str, Any]
    config: TrainConfig
    fold: int
    rung: int
    until: int
    train_idx: np.ndarray
    val_idx: np.ndarray
    attack_idx: np.ndarray
    objective: Objective
    work_dir: str
    threads: int | None = None

    @property
    def id(self) -> str:
        return row_id(self.trial, self.fold, self.until)


@dataclass(frozen=True)
class SelectResult:
    out: Path
    rows: list[dict[str, Any]]
    ranking: list[dict[str, Any]]
    winner: dict[str, Any] | None
    ran: int
    skipped: int
    seconds: float
    report: Path | None


def row_id(trial: str, fold: int, epochs: int) -> str:
    return f"{trial}.f{fold}.e{epochs}"


def run_trial(task: TrialTask, data: EyeDataset) -> dict[str, Any]:
    """Train one trial on one fold up to `task.until` epochs (resuming), then score it."""
    start = time.perf_counter()
    if task.threads:
        import torch

        torch.set_num_threads(task.threads)
    cfg = task.config
    work = Path(task.work_dir)
    train, val = data.subset(task.train_idx), data.subset(task.val_idx)
    if cfg.regime.kind == "augment":
        train = perturbed_copies(train, cfg.regime, _aim1_source(task, train, data), cfg.seed + 17)
    model = create_model(
        task.model, data.num_classes, seed=cfg.seed, classes=data.classes, **task.model_options
    )
    info = {"trial": task.trial, "fold": task.fold}
    fit = Trainer(model, cfg, work, training_info=info).fit(
        train, val, resume=True, until=task.until
    )
    model = fit.model.eval()
    clean = classification_metrics(predict_logits(model, val.images), val.labels, data.classes)
    robust, robust_snr = None, None
    attack = task.objective.attack_eval()
    if attack is not None:
        curve = attack_curve(model, data, task.attack_idx, attack, cfg.seed)
        point = curve["points"][0]
        robust, robust_snr = point["metrics"]["accuracy"], point["snr_db"]
    last = fit.history[-1]
    metrics = {
        "objective": task.objective.value(clean.accuracy, robust),
        "accuracy": clean.accuracy,
        "robust_accuracy": robust,
        "robust_snr_db": robust_snr,
        "macro_f1": clean.macro_f1,
        "roc_auc_macro": clean.roc_auc_macro,
        "loss": clean.loss,
        "train_loss": last.train_loss,
        "train_acc": last.train_acc,
    }
    return {
        "kind": "trial",
        "id": task.id,
        "trial": task.trial,
        "params": task.params,
        "model": task.model,
        "model_options": task.model_options,
        "fold": task.fold,
        "rung": task.rung,
        "epochs": len(fit.history),
        "max_epochs": cfg.epochs,
        "n_train": len(train),
        "n_val": len(val),
        "n_attacked": int(min(len(task.attack_idx), attack.limit or len(task.attack_idx)))
        if attack is not None
        else 0,
        "metrics": metrics,
        "history": [asdict(r) for r in fit.history],
        "seconds": round(time.perf_counter() - start, 3),
    }


def _aim1_source(task: TrialTask, train: EyeDataset, data: EyeDataset) -> Any:
    """Aim 1 with FGSM needs a standard model of the same trial and fold to craft on."""
    regime = task.config.regime
    if not regime.needs_source:
        return None
    cfg = TrainConfig.from_dict({**task.config.to_dict(), "regime": RegimeConfig()})
    model = create_model(
        task.model, data.num_classes, seed=cfg.seed, classes=data.classes, **task.model_options
    )
    source = Trainer(model, cfg, Path(task.work_dir) / "source", training_info={"role": "source"})
    return source.fit(train, None, resume=True).model.eval()


def selection_folds(data: EyeDataset, spec: SelectSpec) -> tuple[list[SelectFold], dict[str, Any]]:
    """The hold-out persons, then person-grouped folds of the others (row indices), and the
    persons of each side for splits.json."""
    rest, holdout = holdout_split(data, test_fraction=spec.holdout, seed=spec.split_seed)
    inner = data.subset(rest)
    folds, record = [], []
    limit = spec.objective.limit
    for tr, te in person_kfold(inner, spec.folds, seed=spec.split_seed):
        train, val = rest[tr], rest[te]
        attack = val
        if limit and val.size > limit:
            order = np.random.default_rng(spec.split_seed).permutation(val.size)
            attack = np.sort(val[order[:limit]])
        folds.append(SelectFold(train, val, attack))
        record.append({"train": persons_of(data, train), "test": persons_of(data, val)})
    return folds, {"folds": record, "holdout": persons_of(data, holdout)}


def run_selection(
    spec: SelectSpec,
    out: str | Path,
    *,
    backend: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    device: str = "cpu",
    progress: bool = False,
    retrain: bool = True,
    report: bool = False,
    data: EyeDataset | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> SelectResult:
    """Run (or resume) the search of `spec` into `out`, rank it, retrain and score the winner."""
    if backend != "ray":  # a Ray cluster's workers may have the GPU this driver lacks
        resolve_device(device)
    start = time.perf_counter()
    out = Path(out)
    trials = spec.trials()
    ds = data if data is not None else load_dataset(spec.data)
    folds, splits = selection_folds(ds, spec)  # before the folder: a bad source leaves nothing
    with claim_folder(out, spec.to_dict()):  # one run per folder, for the whole run
        check_or_write(out / SPLITS_FILE, splits, "its person splits (did the data change?)")
        store = ResultsStore(out / RESULTS_FILE)
        done = {row["id"] for row in store.rows()}
        plan = _plan_size(spec, trials)
        if done:
            log(f"resuming: {len(done)} trial-fold task(s) already done in {out}")
        ran = skipped = 0
        with (
            make_backend(
                backend, ds, workers=workers, address=ray_address, cpus=cpus_per_trial,
                gpus=gpus_per_trial,
            ) as runner,
            Progress(plan, 0, runner.slots, progress, log) as bar,
        ):  # fmt: skip
            alive = list(trials)
            n_rungs = max(len(spec.rungs(t)) for t in trials)
            for rung in range(n_rungs):
                tasks = [
                    _task(spec, t, rung, f, fold, out, device, runner.threads)
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
                rows = [r for r in store.rows() if r["id"] in {t.id for t in tasks}]
                keep = _promote(spec, alive, rows)
                for t in alive:
                    if t not in keep:
                        shutil.rmtree(out / "trials" / t.id, ignore_errors=True)
                if len(keep) < len(alive):
                    log(f"halving: {len(keep)} of {len(alive)} trial(s) go on")
                alive = keep
        shutil.rmtree(out / "trials", ignore_errors=True)
        rows = [r for r in store.rows() if r.get("kind") == "trial"]
        ranking = rank_trials(rows, trials)
        _write_tables(out, rows, ranking, trials)
        winner = None
        if ranking and retrain:
            winner = _winner(spec, trials, ranking[0], out, ds, device, progress, log)
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
        if report:
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
        work_dir=str((out / "trials" / trial.id / f"f{f}").resolve()),
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


def _promote(spec: SelectSpec, alive: list[Trial], rows: list[dict[str, Any]]) -> list[Trial]:
    """The best ceil(n / eta) trials of a rung by mean objective (ties: lower std, then order)."""
    assert spec.search.halving is not None
    scores = {t.id: _stats([r for r in rows if r["trial"] == t.id], "objective") for t in alive}
    order = sorted(alive, key=lambda t: (-scores[t.id]["mean"], scores[t.id]["std"], t.index))
    keep = order[: max(1, math.ceil(len(alive) / spec.search.halving.eta))]
    return sorted(keep, key=lambda t: t.index)


def _stats(rows: Sequence[dict[str, Any]], metric: str) -> dict[str, Any]:
    values = [
        float(v)
        for r in rows
        if (v := (r.get("seconds") if metric == "seconds" else r["metrics"].get(metric)))
        is not None
        and math.isfinite(float(v))
    ]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    arr = np.array(values)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return {"mean": float(arr.mean()), "std": std, "n": int(arr.size)}


def rank_trials(rows: Sequence[dict[str, Any]], trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Each trial at the furthest rung it reached: mean and std across folds of every metric,
    best first (furthest rung, then mean objective, then lower std)."""
    ranking = []
    for t in trials:
        mine = [r for r in rows if r["trial"] == t.id]
        if not mine:
            continue
        epochs = max(r["epochs"] for r in mine)
        final = [r for r in mine if r["epochs"] == epochs]
        stats = {m: _stats(final, m) for m in METRICS}
        ranking.append(
            {
                "trial": t.id,
                "params": t.params,
                "epochs": epochs,
                "rung": max(r["rung"] for r in final),
                "max_epochs": final[0]["max_epochs"],
                "completed": epochs >= final[0]["max_epochs"],
                "folds": len(final),
                "metrics": stats,
            }
        )

    def key(e: dict[str, Any]) -> tuple[float, ...]:
        objective = e["metrics"]["objective"]
        return (-e["rung"], -(objective["mean"] or -math.inf), objective["std"] or 0.0)

    ranking.sort(key=key)
    for i, entry in enumerate(ranking, 1):
        entry["rank"] = i
    return ranking


def _winner(
    spec: SelectSpec,
    trials: Sequence[Trial],
    best: dict[str, Any],
    out: Path,
    data: EyeDataset,
    device: str,
    progress: bool,
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
    path = write_train_spec(trial.train_spec, out / WINNER_SPEC, header)
    log(f"winner {trial.id} ({params}); retraining it on all training persons")
    result: TrainSpecResult = train_from_spec(
        load_train_spec(path), out / WINNER_DIR, data=data, device=device, progress=progress
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


def _write_tables(
    out: Path, rows: list[dict[str, Any]], ranking: list[dict[str, Any]], trials: Sequence[Trial]
) -> None:
    keys = list(dict.fromkeys(k for t in trials for k in t.params))
    by_trial = {t.id: t for t in trials}
    ordered = sorted(rows, key=lambda r: (by_trial[r["trial"]].index, r["epochs"], r["fold"]))
    flat = [
        {
            "trial": r["trial"],
            "fold": r["fold"],
            "rung": r["rung"],
            "epochs": r["epochs"],
            **{k: r["params"].get(k) for k in keys},
            **{k: r["metrics"].get(k) for k in METRICS if k != "seconds"},
            "val_loss": r["metrics"].get("loss"),
            "seconds": r.get("seconds"),
        }
        for r in ordered
    ]
    _write_csv(out / "trials.csv", flat)
    curves = [
        {"trial": r["trial"], "fold": r["fold"], "rung": r["rung"], **epoch}
        for r in ordered
        for epoch in r["history"]
    ]
    _write_csv(out / "curves.csv", curves)
    table = []
    for e in ranking:
        entry: dict[str, Any] = {
            "rank": e["rank"],
            "trial": e["trial"],
            **{k: e["params"].get(k) for k in keys},
            "epochs": e["epochs"],
            "completed": e["completed"],
            "folds": e["folds"],
        }
        for m in METRICS:
            entry[f"{m}_mean"] = e["metrics"][m]["mean"]
            entry[f"{m}_std"] = e["metrics"][m]["std"]
        table.append(entry)
    _write_csv(out / "ranking.csv", table)


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def _trial_line(row: dict[str, Any]) -> str:
    m = row["metrics"]
    robust = "" if m["robust_accuracy"] is None else f", robust {m['robust_accuracy']:.3f}"
    return (
        f"{row['id']}: objective {m['objective']:.3f} (clean {m['accuracy']:.3f}{robust}) "
        f"({row['seconds']:.0f} s)"
    )
