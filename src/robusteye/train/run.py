"""One training job end to end: person-grouped test and validation splits, the training
(`train_on_split`, regime and aim-1 source included), and the final clean metrics on the
held-out persons, in a run folder held for the run. What `robusteye train` calls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robusteye.data import EyeDataset, persons_of
from robusteye.data.splits import person_splits
from robusteye.errors import UsageError
from robusteye.evaluate import Metrics, classification_metrics, predict_logits
from robusteye.folders import claimed
from robusteye.io import write_json
from robusteye.train.config import TrainConfig
from robusteye.train.curves import EpochRecord
from robusteye.train.extra import ExtraData
from robusteye.train.split import SplitRequest, train_on_split
from robusteye.train.trainer import FitResult


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
    #: extra crops for `config.extra_fraction` of each batch (`train.extra`)
    extra: ExtraData | None = None


@dataclass(frozen=True)
class JobResult:
    fit: FitResult
    test_metrics: Metrics | None
    splits: dict[str, list[str]]
    #: the weight average's metrics on the held-out persons (with TrainConfig.ema_decay)
    ema_test_metrics: Metrics | None = None


#: what a training run writes; a folder holding any of them is a training run
RUN_FILES = (
    "last",
    ".last.old",
    "best",
    "curves.csv",
    "metrics.json",
    "splits.json",
    "spec.yaml",
    "train_flags.json",
)


def is_training_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_FILES)


def run_job(
    job: TrainJob,
    *,
    resume: bool = False,
    progress: bool = False,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
    on_claim: Callable[[Path], None] | None = None,
) -> JobResult:
    """Train `job`; with `job.out`, the folder is locked for the run and must be new, empty,
    or (with `resume`) hold this training run. Finished runs are never overwritten.
    `on_claim(folder)` runs once the folder is held, before any training (to record or
    check what the run is made of)."""
    if job.out is None:
        return _run_job(job, resume, progress, on_epoch, log)
    refuse = (
        ""
        if resume
        else (
            f"{job.out} holds a training run; pass --resume to continue it, or choose another --out"
        )
    )
    with claimed(job.out, is_training_run, refuse=refuse) as folder:
        if on_claim is not None:
            on_claim(folder)
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
    cut = person_splits(job.data, holdout=job.test_fraction, val=cfg.val_fraction, seed=split_seed)
    (fold,), te = cut.folds, cut.holdout
    splits = {
        "train": persons_of(job.data, fold.train),
        "val": persons_of(job.data, fold.test),
        "test": persons_of(job.data, te),
    }
    test = job.data.subset(te) if te.size else None
    info = {
        "model": job.model,
        "data": job.data.meta,
        "regime": cfg.regime.summary(),
        "n_test": 0 if test is None else len(test),
        **({"extra": job.extra.info} if job.extra is not None else {}),
    }
    request = SplitRequest(
        job.data,
        fold.train,
        fold.test,
        model=job.model,
        config=cfg,
        model_options=job.model_overrides,
        work_dir=job.out,
        resume=resume,
        training_info=info,
        progress=progress,
        on_epoch=on_epoch,
        log=log,
        extra=job.extra,
    )
    done = train_on_split(request)
    fit = done.fit
    test_metrics = ema_test = None
    if test is not None:
        test_metrics = classification_metrics(
            predict_logits(fit.model, test.images), test.labels, test.classes
        )
        if fit.ema is not None:
            ema_test = classification_metrics(
                predict_logits(fit.ema, test.images), test.labels, test.classes
            )
    if job.out is not None:
        write_json(job.out / "splits.json", splits)
        write_json(
            job.out / "metrics.json",
            {
                "test": None if test_metrics is None else test_metrics.to_dict(),
                "val": None if fit.val_metrics is None else fit.val_metrics.to_dict(),
                **({"test_ema": ema_test.to_dict()} if ema_test is not None else {}),
                **({"val_ema": fit.ema_metrics.to_dict()} if fit.ema_metrics else {}),
                **({"stopped": fit.stopped} if fit.stopped is not None else {}),
                "learned": fit.learned,
                "final_clean": fit.final_clean,
                "chance": fit.chance,
                "best_epoch": fit.best_epoch,
                "epochs": cfg.epochs,
                "model": job.model,
                "regime": cfg.regime.summary(),
            },
        )
    return JobResult(fit, test_metrics, splits, ema_test)
