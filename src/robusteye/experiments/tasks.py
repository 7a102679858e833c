"""The work of one cell (train, then evaluate clean and under attack) and of one fold's
transferability matrix, as pure functions of a picklable task and the data set.

Tasks take their inputs as values and return their outputs as values (a JSON row and the
checkpoint files as bytes), so the same functions run in-process, in worker processes, or as
Ray tasks on machines that share no disk with the driver. Only the trainer's resume state is
written by the task itself, to the task's `work_dir`.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robusteye.data import EyeDataset
from robusteye.evaluate import (
    classification_metrics,
    predict_logits,
    robustness_curve,
    transfer_matrix,
)
from robusteye.evaluate.audit import WORST_CASE, audit
from robusteye.evaluate.corruption import corruption_benchmark
from robusteye.evaluate.roc import roc_curve_micro
from robusteye.experiments.cells import Cell
from robusteye.experiments.spec import AttackEval, AuditEval, CorruptionEval, TransferEval
from robusteye.models import EyeModel, create_model, load_model, save_model
from robusteye.models.checkpoint import CARD_NAME
from robusteye.train.config import TrainConfig
from robusteye.train.regimes import perturbed_copies
from robusteye.train.trainer import Trainer

Files = dict[str, bytes]


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


@dataclass(frozen=True)
class CellOutput:
    row: dict[str, Any]
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
    train, val = data.subset(task.train_idx), data.subset(task.val_idx)
    if cell.regime.kind == "augment":
        source = None
        if task.source_files is not None:
            source = model_from_files(task.source_files).to(cfg.device)
        train = perturbed_copies(train, cell.regime, source, cfg.seed + 17)
    model = create_model(
        cell.model.name,
        data.num_classes,
        seed=cfg.seed,
        classes=data.classes,
        **cell.model.options,
    )
    info = {"cell": cell.id, "variant": cell.variant, "data": task.data_source}
    trainer = Trainer(model, cfg, Path(task.work_dir), training_info=info)
    fit = trainer.fit(train, val if len(val) else None, resume=True)
    model = fit.model.eval()
    evaluation = data.subset(task.eval_idx)
    logits = predict_logits(model, evaluation.images)
    clean = classification_metrics(logits, evaluation.labels, data.classes)
    curves = [attack_curve(model, data, task.attack_idx, a, cell.seed) for a in task.attacks]
    audited = None
    if task.audit is not None:
        audited = audit_scores(model, data, task.attack_idx, task.audit, cell.seed)
        curves.append(worst_case_curve(audited))
    natural = None
    if task.corruptions is not None:
        natural = corruption_scores(model, data, task.attack_idx, task.corruptions, cell.seed)
    row = {
        "kind": "cell",
        "id": cell.id,
        "variant": cell.variant,
        "label": cell.label,
        "model": cell.model.name,
        "model_options": dict(cell.model.options),
        "regime": cell.regime.summary(),
        **({"natural": _natural(cfg)} if cell.natural else {}),
        "fold": cell.fold,
        "seed": cell.seed,
        "data": task.data_source,
        "classes": list(data.classes),
        "eval_set": task.eval_set,
        "n_train": len(train),
        "n_val": len(val),
        "n_eval": len(evaluation),
        "epochs": cfg.epochs,
        "history": [asdict(r) for r in fit.history],  # NaN becomes null in the store
        "clean": clean.to_dict(),
        "roc": roc_curve_micro(logits, evaluation.labels),
        "attacks": curves,
        **({"corruptions": natural} if natural is not None else {}),
        **({"audit": audited} if audited is not None else {}),
        "checkpoint": f"cells/{cell.id}/model",
        "seconds": round(time.perf_counter() - start, 3),
    }
    training = {**info, "config": cfg.to_dict(), "epochs_done": len(fit.history)}
    files = model_files(model, training=training, metrics={"clean": clean.to_dict()})
    return CellOutput(row, files)


def attack_curve(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, attack: AttackEval, seed: int
) -> dict[str, Any]:
    """One attack's robustness curve on the first `attack.limit` of the attacked rows."""
    attacked = data.subset(rows[: attack.limit] if attack.limit else rows)
    curve = robustness_curve(
        model,
        attacked.images,
        attacked.labels,
        data.classes,
        attack.name,
        eps=attack.eps,
        snr=attack.snr,
        seed=seed,
        roc=True,
        **attack.options,
    ).to_dict()
    # The eps-0 point becomes the curve's own clean baseline: it is measured on the same
    # (possibly limited) images as the attacked points, unlike the row's "clean".
    curve["clean"] = curve["points"][0]["metrics"]
    curve["points"] = curve["points"][1:]
    curve["n"] = len(attacked)
    return curve


def audit_scores(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, spec: AuditEval, seed: int
) -> dict[str, Any]:
    """The attack audit on the first `spec.limit` of the attacked rows (per-example masks
    left out of the row: the counts and indicators are what a report needs)."""
    scored = data.subset(rows[: spec.limit] if spec.limit else rows)
    result = audit(
        model, scored.images, scored.labels, spec.eps, snr=spec.snr, norm=spec.norm,
        suite=spec.suite, seed=seed,
    ).to_dict()  # fmt: skip
    for point in result["points"]:
        point.pop("broken_by", None)
    return result


def worst_case_curve(result: dict[str, Any]) -> dict[str, Any]:
    """The audit's worst case as one more robustness curve (accuracy only), so tables and
    figures show it next to FGSM and PGD."""
    points = result["points"]
    return {
        "attack": WORST_CASE,
        "options": {"suite": result["suite"], "norm": result["norm"]},
        "clean": {"accuracy": points[0]["clean_accuracy"] if points else None},
        "points": [
            {
                "eps": p["eps"],
                "snr_db": p["snr_db"],
                "mean_snr_db": p["snr_db"],
                "target_snr_db": p["target_snr_db"],
                "metrics": {"accuracy": p["worst_accuracy"]},
            }
            for p in points
        ],
        "n": result["n"],
    }


def _natural(cfg: TrainConfig) -> dict[str, Any]:
    """The corruption-training settings of a config, as a row records them."""
    return {
        "corruptions": list(cfg.corruptions),
        "corruption_p": cfg.corruption_p,
        "corruption_max_severity": cfg.corruption_max_severity,
    }


def corruption_scores(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, spec: CorruptionEval, seed: int
) -> dict[str, Any]:
    """The corruption benchmark on the first `spec.limit` of the attacked rows."""
    scored = data.subset(rows[: spec.limit] if spec.limit else rows)
    result = corruption_benchmark(
        model,
        scored.images,
        scored.labels,
        data.classes,
        spec.names_tuple(),
        spec.severities,
        seed=seed,
    ).to_dict()
    result["n"] = len(scored)
    return result


def run_transfer(task: TransferTask, data: EyeDataset) -> dict[str, Any]:
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
        transfer_matrix(
            models, attacked.images, attacked.labels, t.attack, seed=task.seed, **setting
        ).to_dict()
        for setting in settings
    ]
    return {
        "kind": "transfer",
        "id": f"transfer.f{task.fold}.s{task.seed}",
        "fold": task.fold,
        "seed": task.seed,
        "n": len(attacked),
        "matrices": matrices,
    }


def model_files(
    model: EyeModel,
    *,
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Files:
    """A checkpoint as `{file name: bytes}`, to send between processes or machines."""
    with tempfile.TemporaryDirectory(prefix="robusteye-ckpt-") as tmp:
        return checkpoint_files(
            save_model(model, Path(tmp) / "model", training=training, metrics=metrics)
        )


def checkpoint_files(folder: Path) -> Files:
    """A checkpoint folder's weights and config as bytes (a model card stays behind)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != CARD_NAME}


def model_from_files(files: Files) -> EyeModel:
    """Load a checkpoint sent as bytes (checked like any checkpoint on disk)."""
    with tempfile.TemporaryDirectory(prefix="robusteye-ckpt-") as tmp:
        for name, blob in files.items():
            (Path(tmp) / Path(name).name).write_bytes(blob)
        return load_model(tmp, channels_last=True)
