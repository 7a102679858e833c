"""One search trial on one fold: trained (resumable, up to its rung's epochs) through the
one training route, then scored on the fold's other persons: clean metrics and, when the
objective names an attack, robust accuracy on the fold's attacked rows. A pure function of a
picklable task, so it runs the same in-process, in worker processes and on Ray."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robusteye.data import EyeDataset
from robusteye.evaluate import classification_metrics, predict_logits
from robusteye.experiments.scoring import attack_curve
from robusteye.experiments.selection.spec import Objective
from robusteye.results import TrialMetrics, TrialRow
from robusteye.train.config import TrainConfig
from robusteye.train.split import SplitRequest, train_on_split


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


def row_id(trial: str, fold: int, epochs: int) -> str:
    return f"{trial}.f{fold}.e{epochs}"


def run_trial(task: TrialTask, data: EyeDataset) -> TrialRow:
    """Train one trial on one fold up to `task.until` epochs (resuming), then score it."""
    start = time.perf_counter()
    if task.threads:
        torch.set_num_threads(task.threads)
    cfg = task.config
    request = SplitRequest(
        data,
        task.train_idx,
        task.val_idx,
        model=task.model,
        model_options=task.model_options,
        config=cfg,
        work_dir=Path(task.work_dir),
        resume=True,
        until=task.until,
        training_info={"trial": task.trial, "fold": task.fold},
    )
    done = train_on_split(request)
    fit, train, val = done.fit, done.train, done.val
    model = fit.scored.eval()
    clean = classification_metrics(predict_logits(model, val.images), val.labels, data.classes)
    robust, robust_snr = None, None
    attack = task.objective.attack_eval()
    if attack is not None:
        point = attack_curve(model, data, task.attack_idx, attack, cfg.seed).points[0]
        robust, robust_snr = point.metrics.accuracy, point.snr_db
    last = fit.history[-1]
    metrics = TrialMetrics(
        objective=task.objective.value(clean.accuracy, robust),
        accuracy=clean.accuracy,
        robust_accuracy=robust,
        robust_snr_db=robust_snr,
        macro_f1=clean.macro_f1,
        roc_auc_macro=clean.roc_auc_macro,
        loss=clean.loss,
        train_loss=last.train_loss,
        train_acc=last.train_acc,
    )
    return TrialRow(
        id=task.id,
        trial=task.trial,
        params=task.params,
        model=task.model,
        model_options=task.model_options,
        fold=task.fold,
        rung=task.rung,
        epochs=len(fit.history),
        max_epochs=cfg.epochs,
        n_train=len(train),
        n_val=len(val),
        n_attacked=int(min(len(task.attack_idx), attack.limit or len(task.attack_idx)))
        if attack is not None
        else 0,
        metrics=metrics,
        history=tuple(fit.history),
        seconds=round(time.perf_counter() - start, 3),
    )
