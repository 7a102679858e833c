"""Batched inference that leaves the model as it found it, and the labels of image files.

`predict_files` is `robusteye predict`: files are decoded one by one (an unreadable file is
reported and skipped), then classified in batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from robusteye.data.imageio import IMAGE_SUFFIXES, read_image
from robusteye.errors import DataError, RobustEyeError, UsageError
from robusteye.tensors import model_device


@dataclass(frozen=True)
class Prediction:
    """One image file's label (the most probable class) and class probabilities."""

    path: str
    label: str
    probabilities: dict[str, float]


def predict_logits(model: nn.Module, x: Tensor, *, batch_size: int = 512) -> Tensor:
    """Logits of `x` in eval mode under `torch.inference_mode`, on the CPU, mode restored."""
    was_training = model.training
    device = model_device(model)
    model.eval()
    try:
        with torch.inference_mode():
            parts = [
                model(x[i : i + batch_size].to(device)).float().cpu()
                for i in range(0, x.shape[0], batch_size)
            ]
    finally:
        model.train(was_training)
    if not parts:
        return torch.empty(0, 0)
    logits = torch.cat(parts)
    bad = int((~torch.isfinite(logits)).any(1).sum())
    if bad:  # every metric, probability and JSON document downstream would be NaN
        raise RobustEyeError(
            f"the model's outputs are not finite (NaN or Inf) on {bad} of {len(logits)} "
            "images: its weights or normalisation overflow"
        )
    return logits


def find_images(targets: tuple[str, ...] | list[str]) -> list[Path]:
    """Files as given, and the image files under each folder (sorted, recursive)."""
    files: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found:
                raise UsageError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {path}")
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise UsageError(f"no such file or folder: {path}")
    return files


def predict_files(
    model: nn.Module, files: list[Path], *, batch_size: int = 256
) -> tuple[list[Prediction], list[tuple[Path, str]]]:
    """(predictions, failures): every readable file classified by `model` (a checkpoint's
    `EyeModel` or an exported model, anything with `classes`); failures as (path, reason)."""
    crops: list[np.ndarray] = []
    kept: list[Path] = []
    failed: list[tuple[Path, str]] = []
    for path in files:
        try:
            crops.append(read_image(path))
            kept.append(path)
        except DataError as err:
            failed.append((path, str(err)))
        except OSError as err:
            failed.append((path, f"{path}: cannot read ({err.strerror})"))
    if not crops:
        return [], failed
    x = torch.from_numpy(np.stack(crops))[:, None]
    probs = torch.softmax(predict_logits(model, x, batch_size=batch_size), 1)
    classes: tuple[str, ...] = model.classes  # type: ignore[assignment]
    out = [
        Prediction(
            str(path),
            classes[int(p.argmax())],
            {c: round(float(v), 6) for c, v in zip(classes, p.tolist(), strict=True)},
        )
        for path, p in zip(kept, probs, strict=True)
    ]
    return out, failed
