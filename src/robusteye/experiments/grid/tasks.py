"""The work of one cell (train, then evaluate clean and under attack) and of one fold's
transferability matrix, as pure functions of a picklable task and the data set.

Tasks take their inputs as values and return their outputs as values (a typed row of
`robusteye.results` and the checkpoint files as bytes), so the same functions run in-process,
in worker processes, or as Ray tasks on machines that share no disk with the driver. Only the
trainer's resume state is written by the task itself, to the task's `work_dir`. Training goes
through `robusteye.train.split.train_on_split`, scoring through `robusteye.experiments.scoring`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from robusteye.data import EyeDataset
from robusteye.evaluate import classification_metrics, predict_logits, transfer_matrix
from robusteye.evaluate.roc import roc_curve_micro
from robusteye.experiments.base import AttackEval, AuditEval, CertifyEval, CorruptionEval
from robusteye.experiments.grid.cells import Cell
from robusteye.experiments.grid.spec import TransferEval
from robusteye.experiments.scoring import (
    Files,
    attack_curve,
    audit_scores,
    certify_scores,
    corruption_scores,
    model_files,
    model_from_files,
)
from robusteye.results import CellRow, Roc, TransferRow, TransferScores
from robusteye.train.config import TrainConfig
from robusteye.train.split import SplitRequest, train_on_split


@dataclass(frozen=True)
class CellTask:
    cell: Cell
    config: TrainConfig
    train_idx: np.ndarray
    val_idx: np.ndarray
    eval_idx: np.ndarray
    #: the evaluation rows that are attacked (all of eval_idx, or a fixed subset)
    attack_idx: np.ndarray
    eval_set: str
    attacks: tuple[AttackEval, ...]
    data_source: str
    work_dir: str
    source_files: Files | None = None
    threads: int | None = None
    corruptions: CorruptionEval | None = None
    audit: AuditEval | None = None
    certify: CertifyEval | None = None


@dataclass(frozen=True)
class CellOutput:
    row: CellRow
    files: Files


@dataclass(frozen=True)
class TransferTask:
    fold: int
    seed: int
    models: dict[str, Files]
    attack_idx: np.ndarray
    transfer: TransferEval
    threads: int | None = None


def run_cell(task: CellTask, data: EyeDataset) -> CellOutput:
    """Train the cell's model on its fold, evaluate it, and return its row and checkpoint."""
    start = time.perf_counter()
    if task.threads:
        torch.set_num_threads(task.threads)
    cell, cfg = task.cell, task.config
    source = None
    if task.source_files is not None:
        source = model_from_files(task.source_files).to(cfg.device)
    info = {"cell": cell.id, "variant": cell.variant, "data": task.data_source}
    request = SplitRequest(
        data,
        task.train_idx,
        task.val_idx,
        model=cell.model.name,
        model_options=cell.model.options,
        config=cfg,
        work_dir=Path(task.work_dir),
        source=source,
        resume=True,
        training_info=info,
    )
    done = train_on_split(request)
    fit, train, val = done.fit, done.train, done.val
    model = fit.scored.eval()  # with weight averaging, the average (its ema 0 twin: the raw)
    evaluation = data.subset(task.eval_idx)
    logits = predict_logits(model, evaluation.images)
    clean = classification_metrics(logits, evaluation.labels, data.classes)
    curves = [attack_curve(model, data, task.attack_idx, a, cell.seed) for a in task.attacks]
    audited = None
    if task.audit is not None:
        audited = audit_scores(model, data, task.attack_idx, task.audit, cell.seed)
        curves.append(audited.worst_case())
        ceiling = audited.ceiling_curve()
        if ceiling is not None:
            curves.append(ceiling)
    if task.certify is not None:
        curves.append(certify_scores(model, data, task.attack_idx, task.certify).curve())
    natural = None
    if task.corruptions is not None:
        natural = corruption_scores(model, data, task.attack_idx, task.corruptions, cell.seed)
    row = CellRow(
        id=cell.id,
        variant=cell.variant,
        label=cell.label,
        model=cell.model.name,
        model_options=dict(cell.model.options),
        regime=cell.regime.summary(),
        natural=_natural(cfg) if cfg.corruptions else None,
        ema_decay=cfg.ema_decay or None,  # written only when set (0 is off)
        label_smoothing=cfg.label_smoothing or None,
        stopped=fit.stopped,
        fold=cell.fold,
        seed=cell.seed,
        data=task.data_source,
        classes=tuple(data.classes),
        eval_set=task.eval_set,
        n_train=len(train),
        n_val=len(val),
        n_eval=len(evaluation),
        epochs=cfg.epochs,
        history=tuple(fit.history),  # NaN becomes null in the store
        clean=clean,
        roc=Roc.from_dict(roc_curve_micro(logits, evaluation.labels)),
        attacks=tuple(curves),
        corruptions=natural,
        audit=audited,
        checkpoint=f"cells/{cell.id}/model",
        seconds=round(time.perf_counter() - start, 3),
    )
    training = {**info, "config": cfg.to_dict(), "epochs_done": len(fit.history)}
    files = model_files(model, training=training, metrics={"clean": clean.to_dict()})
    return CellOutput(row, files)


def _natural(cfg: TrainConfig) -> dict[str, object]:
    """The corruption-training settings of a config, as a row records them."""
    return {
        "corruptions": list(cfg.corruptions),
        "corruption_p": cfg.corruption_p,
        "corruption_max_severity": cfg.corruption_max_severity,
    }


def run_transfer(task: TransferTask, data: EyeDataset) -> TransferRow:
    """The fold's transferability matrices: examples crafted on each variant, scored on all."""
    if task.threads:
        torch.set_num_threads(task.threads)
    models = {name: model_from_files(files).eval() for name, files in task.models.items()}
    attacked = data.subset(task.attack_idx)
    t = task.transfer
    settings: list[dict[str, float]] = (
        [{"eps": e} for e in t.eps] if t.eps is not None else [{"snr": s} for s in t.snr or []]
    )
    matrices = [
        TransferScores.from_dict(
            transfer_matrix(
                models, attacked.images, attacked.labels, t.attack, seed=task.seed, **setting
            ).to_dict()
        )
        for setting in settings
    ]
    return TransferRow(
        id=f"transfer.f{task.fold}.s{task.seed}",
        fold=task.fold,
        seed=task.seed,
        n=len(attacked),
        matrices=tuple(matrices),
    )
