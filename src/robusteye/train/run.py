"""One training job end to end: person-grouped test and validation splits, the regime's data
preparation (aim 1 trains or loads its FGSM source model), the fit, and the final clean
metrics on the held-out persons. This is what `robusteye train` calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data import EyeDataset, holdout_split, persons_of
from robusteye.errors import UsageError
from robusteye.evaluate import Metrics, classification_metrics, predict_logits
from robusteye.folders import claimed
from robusteye.io import write_json
from robusteye.models import EyeModel, create_model, load_model
from robusteye.train.config import RegimeConfig, TrainConfig
from robusteye.train.regimes import perturbed_copies
from robusteye.train.trainer import EpochRecord, FitResult, Trainer


@dataclass(frozen=True)
class TrainJob:
    """A model name (with overrides), the data, the training config and where to write."""

    model: str
    data: EyeDataset
    config: TrainConfig
    out: Path | None = None
    model_overrides: dict[str, Any] | None = None
    test_fraction: float = 0.15
    #: seed of the person splits (default: the training seed)
    split_seed: int | None = None


@dataclass(frozen=True)
class JobResult:
    fit: FitResult
    test_metrics: Metrics | None
    splits: dict[str, list[str]]


def split_persons(
    ds: EyeDataset, test_fraction: float, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices, grouped by person; empty arrays for fractions of 0."""
    empty = np.array([], dtype=np.int64)
    rest, test = (
        (np.arange(len(ds)), empty)
        if test_fraction == 0
        else holdout_split(ds, test_fraction=test_fraction, seed=seed)
    )
    if val_fraction == 0:
        return rest, empty, test
    inner = ds.subset(rest)
    tr, va = holdout_split(inner, test_fraction=val_fraction, seed=seed + 1)
    return rest[tr], rest[va], test


#: what a training run writes; a folder holding any of them is a training run
RUN_FILES = ("last", ".last.old", "best", "curves.csv", "metrics.json", "splits.json")


def is_training_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_FILES)


def run_job(
    job: TrainJob,
    *,
    resume: bool = False,
    progress: bool = False,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> JobResult:
    """Train `job`; with `job.out`, the folder is locked for the run and must be new, empty,
    or (with `resume`) hold this training run. Finished runs are never overwritten."""
    if job.out is None:
        return _run_job(job, resume, progress, on_epoch, log)
    refuse = (
        ""
        if resume
        else (
            f"{job.out} holds a training run; pass --resume to continue it, or choose another --out"
        )
    )
    with claimed(job.out, is_training_run, refuse=refuse):
        return _run_job(job, resume, progress, on_epoch, log)


def _run_job(
    job: TrainJob,
    resume: bool,
    progress: bool,
    on_epoch: Callable[[EpochRecord], None] | None,
    log: Callable[[str], None],
) -> JobResult:
    cfg = job.config
    if not 0 <= job.test_fraction < 1:
        raise UsageError(f"test fraction must lie in [0, 1), got {job.test_fraction}")
    split_seed = cfg.seed if job.split_seed is None else job.split_seed
    tr, va, te = split_persons(job.data, job.test_fraction, cfg.val_fraction, split_seed)
    train, val = job.data.subset(tr), job.data.subset(va)
    test = job.data.subset(te) if te.size else None
    splits = {
        "train": persons_of(job.data, tr),
        "val": persons_of(job.data, va),
        "test": persons_of(job.data, te),
    }
    if cfg.regime.kind == "augment":
        source = _aim1_source(job, train, val, resume, progress, log)
        train = perturbed_copies(train, cfg.regime, source, cfg.seed + 17)
        log(
            f"aim 1: added {len(train) - len(tr)} {cfg.regime.perturbation} examples "
            f"(eps {cfg.regime.eps}, {cfg.regime.percent:g}%)"
        )
    model = _new_model(job)
    info = {
        "model": job.model,
        "data": job.data.meta,
        "regime": cfg.regime.summary(),
        "n_train": len(train),
        "n_val": len(val),
        "n_test": 0 if test is None else len(test),
    }
    trainer = Trainer(model, cfg, job.out, progress=progress, on_epoch=on_epoch, training_info=info)
    fit = trainer.fit(train, val if len(val) else None, resume=resume)
    test_metrics = None
    if test is not None:
        test_metrics = classification_metrics(
            predict_logits(fit.model, test.images), test.labels, test.classes
        )
    if job.out is not None:
        write_json(job.out / "splits.json", splits)
        write_json(
            job.out / "metrics.json",
            {
                "test": None if test_metrics is None else test_metrics.to_dict(),
                "val": None if fit.val_metrics is None else fit.val_metrics.to_dict(),
                "best_epoch": fit.best_epoch,
                "epochs": cfg.epochs,
                "model": job.model,
                "regime": cfg.regime.summary(),
            },
        )
    return JobResult(fit, test_metrics, splits)


def _new_model(job: TrainJob) -> EyeModel:
    overrides = dict(job.model_overrides or {})
    overrides.setdefault("classes", job.data.classes)
    return create_model(job.model, job.data.num_classes, seed=job.config.seed, **overrides)


def _aim1_source(
    job: TrainJob,
    train: EyeDataset,
    val: EyeDataset,
    resume: bool,
    progress: bool,
    log: Callable[[str], None],
) -> EyeModel | None:
    """The FGSM source for aim 1: a given checkpoint, or a standard model trained first."""
    regime = job.config.regime
    if not regime.needs_source:
        return None
    if regime.source is not None:
        if not Path(regime.source).exists():
            raise UsageError(f"no such source checkpoint: {regime.source}")
        source = load_model(regime.source)
        if source.classes != job.data.classes:
            raise UsageError(
                f"source checkpoint classes {list(source.classes)} differ from the "
                f"data's {list(job.data.classes)}"
            )
        return source
    log("aim 1: training a standard source model first")
    std_cfg = replace(job.config, regime=RegimeConfig(kind="standard"))
    out = None if job.out is None else job.out / "source"
    trainer = Trainer(
        _new_model(job),
        std_cfg,
        out,
        progress=progress,
        training_info={"model": job.model, "role": "aim 1 FGSM source"},
    )
    return trainer.fit(train, val if len(val) else None, resume=resume).model
