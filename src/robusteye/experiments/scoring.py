"""Scoring a trained model, the same way wherever it was trained: robustness curves of
evaluation attacks, the attack audit, certificates, the corruption benchmark, on a fixed set
of rows;
and checkpoints as bytes, so models travel between processes and machines.

Grid cells, search trials and training specs all score through these functions, so a figure
means the same in a grid's report, a search's ranking and a winner's hold-out evaluation.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data import EyeDataset
from robusteye.evaluate import robustness_curve
from robusteye.evaluate.audit import audit
from robusteye.evaluate.ceiling import audit_ceiling
from robusteye.evaluate.certify import certify
from robusteye.evaluate.corruption import corruption_benchmark
from robusteye.experiments.base import AttackEval, AuditEval, CertifyEval, CorruptionEval
from robusteye.models import EyeModel, load_model, save_model
from robusteye.models.checkpoint import CARD_NAME
from robusteye.results import (
    AuditSummary,
    CertificatePoint,
    CertificateSummary,
    CorruptionScores,
    Curve,
)

Files = dict[str, bytes]


def attack_curve(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, attack: AttackEval, seed: int
) -> Curve:
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
    return Curve.from_dict(curve)


def audit_scores(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, spec: AuditEval, seed: int
) -> AuditSummary:
    """The attack audit on the first `spec.limit` of the attacked rows (per-example masks
    left out of the row: the counts and indicators are what a report needs)."""
    scored = data.subset(rows[: spec.limit] if spec.limit else rows)
    audited = audit(
        model, scored.images, scored.labels, spec.eps, snr=spec.snr, norm=spec.norm,
        suite=spec.suite, seed=seed,
    )  # fmt: skip
    ceiling = audit_ceiling(scored, audited.points, audited.norm)
    result = audited.to_dict()
    for point, bound in zip(result["points"], ceiling["points"], strict=True):
        point.pop("broken_by", None)
        point["ceiling"] = bound["ceiling"]
    return AuditSummary.from_dict(result)


def certify_scores(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, spec: CertifyEval
) -> CertificateSummary:
    """Certified accuracy on the first `spec.limit` of the attacked rows (a row stores it as
    its curve, so tables and figures show it next to the attacks' curves)."""
    scored = data.subset(rows[: spec.limit] if spec.limit else rows)
    result = certify(model, scored.images, scored.labels, radii=spec.radius, snr=spec.snr)
    return CertificateSummary(
        lipschitz=result.lipschitz,
        n=result.n,
        clean_accuracy=result.clean_accuracy,
        points=tuple(
            CertificatePoint(p.radius, p.snr_db, p.mean_snr_db, p.certified_accuracy)
            for p in result.points
        ),
    )


def corruption_scores(
    model: EyeModel, data: EyeDataset, rows: np.ndarray, spec: CorruptionEval, seed: int
) -> CorruptionScores:
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
    return CorruptionScores.from_dict(result)


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
