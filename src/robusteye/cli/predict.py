"""`robusteye predict CHECKPOINT IMAGE_OR_DIR...`: a label and class probabilities per image.

Images are decoded one by one (an unreadable file is reported and skipped), then classified
in batches (`robusteye.evaluate.predict_files`). The exit code is 1 when any file failed, so
scripts notice.
"""

from __future__ import annotations

from pathlib import Path

import click

from robusteye.cli.options import device_option
from robusteye.cli.table import echo, echo_block
from robusteye.deploy import load_classifier
from robusteye.errors import RobustEyeError, UsageError
from robusteye.evaluate.predict import find_images, predict_files
from robusteye.io import dumps_json
from robusteye.text import printable


class PredictFailed(RobustEyeError):
    """Some inputs could not be read; the others were predicted (exit code 1)."""


@click.command()
@click.argument("checkpoint", metavar="CHECKPOINT_OR_ONNX", type=click.Path())
@click.argument("targets", metavar="IMAGE_OR_DIR...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@device_option()
def predict(
    checkpoint: str, targets: tuple[str, ...], as_json: bool, batch_size: int, device: str
) -> None:
    """Label and class probabilities of each image (files, or folders searched recursively),
    by a checkpoint folder or an exported .onnx model (run by onnxruntime)."""
    files = find_images(targets)
    if not Path(checkpoint).exists():
        raise UsageError(f"no such checkpoint folder or exported model: {checkpoint}")
    model = load_classifier(checkpoint, device, channels_last=True)
    results, failed = predict_files(model, files, batch_size=batch_size)
    for _, reason in failed:
        echo(f"skipped: {reason}", err=True)
    if as_json:
        doc = {
            "checkpoint": checkpoint,
            "predictions": [vars(r) for r in results],
            "failed": [{"path": str(p), "error": reason} for p, reason in failed],
        }
        click.echo(dumps_json(doc, indent=2))
    else:
        for r in results:
            probs = "  ".join(f"{printable(c)} {v:.3f}" for c, v in r.probabilities.items())
            echo_block(f"{printable(r.path)}\t{printable(r.label)}\t{probs}")
    if failed:
        raise PredictFailed(f"{len(failed)} of {len(files)} file(s) could not be read")
