"""`export_model`: a checkpoint to a deployment folder whose figures are about the files in it.

The folder holds `model.onnx` (float32), optionally `model.int8.onnx`, `config.json` (classes,
input spec, source checkpoint and the hash of its weights) and `export.json`, the parity
report: float ONNX against torch (max |logit difference| within `FLOAT_TOLERANCE`, the same
predictions), int8 against float (prediction agreement, accuracy drop, refused under
`min_agreement`) and, on request, the audit's worst case of each model side by side. The
folder is built in a staging folder and moved into place only when every check passed, so a
failed export leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robusteye._version import __version__
from robusteye.data.splits import sample_subset
from robusteye.deploy.convert import ExportError, export_float, quantize_int8
from robusteye.deploy.onnxfile import OnnxClassifier, OnnxInfo
from robusteye.deploy.sets import ExportSets
from robusteye.errors import UsageError
from robusteye.evaluate.audit import AuditResult, audit
from robusteye.evaluate.predict import predict_logits
from robusteye.io import check_replaceable, dumps_json, replace_folder, staging_folder
from robusteye.models.base import EyeModel
from robusteye.models.checkpoint import WEIGHTS_NAME, load_model

FORMAT = "robusteye.export"
FLOAT_NAME, INT8_NAME = "model.onnx", "model.int8.onnx"
CONFIG_NAME, REPORT_NAME = "config.json", "export.json"
EXPORT_FILES = frozenset({FLOAT_NAME, INT8_NAME, CONFIG_NAME, REPORT_NAME})
EXPORT_WHAT = "a robusteye export folder"
#: Largest |logit difference| allowed between the float ONNX model and torch.
FLOAT_TOLERANCE = 1e-4
#: Robust accuracy an int8 model may lose against its source at any SNR before it is flagged.
INT8_LOSS_FLAG = 0.02


@dataclass(frozen=True)
class ExportOptions:
    """What an export makes and checks besides the float model."""

    int8: bool = False
    min_agreement: float = 0.99
    audit_snr: tuple[float, ...] = ()
    suite: str = "standard"
    audit_limit: int | None = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_agreement <= 1.0:
            raise UsageError(f"--min-agreement must lie in [0, 1], got {self.min_agreement}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_sha256(checkpoint: str | os.PathLike[str]) -> str:
    """SHA-256 of a checkpoint's weights file: what identifies the source of an export."""
    return _sha256(Path(checkpoint) / WEIGHTS_NAME)


def source_model(exported: OnnxClassifier, given: str | None = None) -> EyeModel:
    """The float checkpoint `exported` was made from (`given`, else the path its metadata
    names), after checking that its weights are the ones exported: the model the audit's
    gradient attacks run on."""
    path = given or exported.info.source.get("checkpoint")
    if not isinstance(path, str) or not Path(path).is_dir():
        where = f"its source checkpoint {path} is not there" if path else "it names no source"
        raise UsageError(
            f"{exported.path}: {where}; the audit's gradient attacks run on the float source "
            "model: give --source CHECKPOINT"
        )
    model = load_model(path, channels_last=True)
    want = exported.info.source.get("weights_sha256")
    if want is not None and weights_sha256(path) != want:
        raise UsageError(
            f"--source {path} is not the checkpoint {exported.path} was exported from (its "
            "weights differ)"
        )
    if model.classes != exported.classes:
        raise UsageError(f"--source {path} has other classes than {exported.path}")
    return model


def _file_record(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float((logits.argmax(1) == labels).float().mean())


def _float_parity(model: EyeModel, exported: nn.Module, sets: ExportSets) -> dict[str, Any]:
    x, y = sets.parity.images, sets.parity.labels
    ref, got = predict_logits(model, x), predict_logits(exported, x)
    diff = float((ref - got).abs().max())
    changed = int((ref.argmax(1) != got.argmax(1)).sum())
    if diff > FLOAT_TOLERANCE or changed:
        raise ExportError(
            f"the float ONNX model differs from torch on {len(x)} parity images: max |logit "
            f"difference| {diff:.3g} (at most {FLOAT_TOLERANCE:g}), {changed} predictions "
            "changed; nothing written"
        )
    return {
        "max_abs_logit_diff": diff,
        "tolerance": FLOAT_TOLERANCE,
        "predictions_identical": True,
        "accuracy_torch": _accuracy(ref, y),
        "accuracy": _accuracy(got, y),
    }


def _int8_parity(
    exported: nn.Module, int8: nn.Module, sets: ExportSets, min_agreement: float
) -> dict[str, Any]:
    x, y = sets.parity.images, sets.parity.labels
    ref, got = predict_logits(exported, x), predict_logits(int8, x)
    agreement = float((ref.argmax(1) == got.argmax(1)).float().mean())
    before, after = _accuracy(ref, y), _accuracy(got, y)
    if agreement < min_agreement:
        raise ExportError(
            f"the int8 model agrees with the float model on {agreement:.3f} of {len(x)} parity "
            f"images, under --min-agreement {min_agreement:g} (accuracy {before:.3f} -> "
            f"{after:.3f}); nothing written"
        )
    return {
        "agreement": agreement,
        "min_agreement": min_agreement,
        "accuracy_float": before,
        "accuracy": after,
        "accuracy_drop": before - after,
        "max_abs_logit_diff": float((ref - got).abs().max()),
    }


def _audits(
    model: EyeModel, exported: dict[str, nn.Module], sets: ExportSets, options: ExportOptions,
    note: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """The audit's worst case per SNR of the torch source and of each exported model, on the
    parity images, with the int8 model flagged where it loses more than `INT8_LOSS_FLAG`."""
    ds = sample_subset(sets.parity, options.audit_limit, options.seed)
    results: dict[str, AuditResult] = {}
    for name, target in {"torch": model, **exported}.items():
        note(f"audit of {name} at {', '.join(f'{s:g}' for s in options.audit_snr)} dB ...")
        results[name] = audit(
            target, ds.images, ds.labels, snr=list(options.audit_snr), suite=options.suite,
            seed=options.seed, source=None if target is model else model,
        )  # fmt: skip
    rows, flags = [], []
    for i, snr in enumerate(options.audit_snr):
        row: dict[str, Any] = {"snr_db": snr, "eps": results["torch"].points[i].eps}
        for name, result in results.items():
            point = result.points[i]
            row[name] = {"clean": point.clean_accuracy, "worst_case": point.worst_accuracy}
        rows.append(row)
        if "int8" in results:
            loss = row["torch"]["worst_case"] - row["int8"]["worst_case"]
            if loss > INT8_LOSS_FLAG:
                flags.append(
                    f"int8 loses {loss * 100:.1f} points of robust accuracy at {snr:g} dB "
                    f"({row['torch']['worst_case']:.3f} -> {row['int8']['worst_case']:.3f})"
                )
    return {
        "images": len(ds),
        "suite": options.suite,
        "rows": rows,
        "flags": flags,
        "warnings": {n: [i.name for i in r.warnings] for n, r in results.items()},
        "details": {n: r.to_dict() for n, r in results.items()},
    }


def export_model(
    checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    sets: ExportSets,
    options: ExportOptions | None = None,
    *,
    note: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Export `checkpoint` to the folder `out` (see the module docstring); returns the
    export.json document. `sets` are the parity and calibration images (`choose_sets`)."""
    options = options or ExportOptions()
    check_replaceable(out, EXPORT_FILES, EXPORT_WHAT)
    if options.int8 and sets.calibration is None:
        raise UsageError("--int8 needs --calibration DATA (the images its ranges are fitted on)")
    model = load_model(checkpoint)
    dest = Path(out)
    source = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "weights_sha256": weights_sha256(checkpoint),
        "model": model.config.name,
        "arch": model.config.arch,
    }
    shape = (model.config.in_channels, *sets.parity.images.shape[2:])
    info = OnnxInfo(model.classes, "float32", shape, source, __version__)  # type: ignore[arg-type]
    doc: dict[str, Any] = {"format": FORMAT, "robusteye_version": __version__, "source": source}
    with staging_folder(dest.parent, dest.name) as tmp:
        note(f"exporting {model.config.name} to ONNX ...")
        export_float(model, tmp / FLOAT_NAME, info)
        exported: dict[str, nn.Module] = {"onnx": OnnxClassifier(tmp / FLOAT_NAME)}
        doc["data"] = sets.record
        doc["float"] = _float_parity(model, exported["onnx"], sets)
        if options.int8:
            assert sets.calibration is not None
            note(f"quantising to int8 on {len(sets.calibration)} calibration images ...")
            int8_info = OnnxInfo(model.classes, "int8", info.input_shape, source, __version__)
            images = sets.calibration.images.numpy()
            quantize_int8(tmp / FLOAT_NAME, tmp / INT8_NAME, images, int8_info)
            exported["int8"] = OnnxClassifier(tmp / INT8_NAME)
            doc["int8"] = _int8_parity(
                exported["onnx"], exported["int8"], sets, options.min_agreement
            )
        if options.audit_snr:
            doc["audit"] = _audits(model, exported, sets, options, note)
        files = {n: _file_record(tmp / n) for n in (FLOAT_NAME, INT8_NAME) if (tmp / n).exists()}
        doc["files"] = files
        config = {**info.to_dict(), "format": FORMAT, "files": sorted(files)}
        del config["precision"]
        (tmp / CONFIG_NAME).write_text(dumps_json(config, indent=2) + "\n", encoding="utf-8")
        (tmp / REPORT_NAME).write_text(dumps_json(doc, indent=2) + "\n", encoding="utf-8")
        replace_folder(tmp, dest, EXPORT_FILES, EXPORT_WHAT)
    return doc
