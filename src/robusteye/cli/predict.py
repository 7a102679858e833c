"""`robusteye predict CHECKPOINT IMAGE_OR_DIR...`: a label and class probabilities per image.

Images are decoded one by one (an unreadable file is reported and skipped), then classified
in batches. The exit code is 1 when any file failed, so scripts notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import torch

from robusteye.cli.options import device_option
from robusteye.data.imageio import IMAGE_SUFFIXES, read_image
from robusteye.errors import DataError, RobustEyeError, UsageError
from robusteye.evaluate import predict_logits
from robusteye.io import dumps_json
from robusteye.models import load_model


@dataclass(frozen=True)
class Prediction:
    path: str
    label: str
    probabilities: dict[str, float]


class PredictFailed(RobustEyeError):
    """Some inputs could not be read; the others were predicted (exit code 1)."""


def find_images(targets: tuple[str, ...]) -> list[Path]:
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
    checkpoint: str, files: list[Path], *, batch_size: int = 256, device: str = "cpu"
) -> tuple[list[Prediction], list[tuple[Path, str]]]:
    """(predictions, failures): every readable file classified; failures as (path, reason)."""
    if not Path(checkpoint).exists():
        raise UsageError(f"no such checkpoint folder: {checkpoint}")
    model = load_model(checkpoint, device, channels_last=True)
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
    classes = model.classes
    out = [
        Prediction(
            str(path),
            classes[int(p.argmax())],
            {c: round(float(v), 6) for c, v in zip(classes, p.tolist(), strict=True)},
        )
        for path, p in zip(kept, probs, strict=True)
    ]
    return out, failed


@click.command()
@click.argument("checkpoint", type=click.Path())
@click.argument("targets", metavar="IMAGE_OR_DIR...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@device_option()
def predict(
    checkpoint: str, targets: tuple[str, ...], as_json: bool, batch_size: int, device: str
) -> None:
    """Label and class probabilities of each image (files, or folders searched recursively)."""
    files = find_images(targets)
    results, failed = predict_files(checkpoint, files, batch_size=batch_size, device=device)
    for _, reason in failed:
        click.echo(f"skipped: {reason}", err=True)
    if as_json:
        doc = {
            "checkpoint": checkpoint,
            "predictions": [vars(r) for r in results],
            "failed": [{"path": str(p), "error": reason} for p, reason in failed],
        }
        click.echo(dumps_json(doc, indent=2))
    else:
        for r in results:
            probs = "  ".join(f"{c} {v:.3f}" for c, v in r.probabilities.items())
            click.echo(f"{r.path}\t{r.label}\t{probs}")
    if failed:
        raise PredictFailed(f"{len(failed)} of {len(files)} file(s) could not be read")
