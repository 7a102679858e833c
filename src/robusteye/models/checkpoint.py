"""Checkpoints: a folder with `model.safetensors` and `config.json`, like a Hugging Face model.

`config.json` holds the model config (architecture, parameters, classes, normalization) plus
optional `training` and `metrics` summaries. Loading never unpickles anything: the weights are
safetensors, checked name by name, shape by shape and dtype by dtype against a model freshly
built from the config. Every problem is one `CheckpointError` line naming the checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
from safetensors import safe_open

from robusteye._version import __version__
from robusteye.devices import resolve_device
from robusteye.errors import CheckpointError, UsageError
from robusteye.io import replace_folder as replace_any
from robusteye.io import save_tensors, staging_folder
from robusteye.models.base import EyeModel
from robusteye.models.config import ModelConfig
from robusteye.models.registry import build_model
from robusteye.readers import parse_json, read_text

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"  # a model card a report may add; replaced along with the weights
FORMAT = "robusteye.checkpoint"
FORMAT_VERSION = 1
#: Largest model a checkpoint may describe (400 MB of float32; WRN-28-10 has 36.5 M).
MAX_PARAMETERS = 100_000_000
MAX_CONFIG_BYTES = 16 << 20

_DTYPE_CODES = {
    torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL",
}  # fmt: skip


@dataclass(frozen=True)
class CheckpointConfig:
    """The parsed `config.json` of a checkpoint."""

    model: ModelConfig
    training: dict[str, Any] | None
    metrics: dict[str, Any] | None
    robusteye_version: str


def _fail(path: str | os.PathLike[str], message: str) -> NoReturn:
    raise CheckpointError(f"checkpoint {path}: {message}")


def _config_document(config: ModelConfig, training: Any, metrics: Any) -> str:
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "robusteye_version": __version__,
        # Hugging Face-style keys, so hub tooling can read the label set.
        "model_type": config.arch,
        "architectures": [config.name],
        "id2label": {str(i): c for i, c in enumerate(config.classes)},
        "label2id": {c: i for i, c in enumerate(config.classes)},
        "model": config.to_dict(),
        "training": None if training is None else dict(training),
        "metrics": None if metrics is None else dict(metrics),
    }
    try:
        return json.dumps(doc, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise UsageError(f"training and metrics must be plain JSON values (no NaN): {err}") from err


def replace_folder(tmp: Path, dest: Path) -> None:
    """Move the finished `tmp` folder to `dest`, replacing an older checkpoint there."""
    replace_any(tmp, dest, {WEIGHTS_NAME, CONFIG_NAME, CARD_NAME}, "a robusteye checkpoint")


def write_checkpoint(
    model: EyeModel,
    folder: Path,
    *,
    classes: Sequence[str] | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> None:
    """Write the weights and `config.json` of `model` into the existing folder `folder`."""
    config = model.config if classes is None else model.config.with_classes(tuple(classes))
    text = _config_document(config, training, metrics)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_tensors(tensors, folder / WEIGHTS_NAME, metadata={"format": "pt"})
    (folder / CONFIG_NAME).write_text(text, encoding="utf-8")


def save_model(
    model: EyeModel,
    path: str | os.PathLike[str],
    *,
    classes: Sequence[str] | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write `model` to the checkpoint folder `path` atomically; returns the folder.

    `classes` replaces the config's class names (same count); `training` and `metrics` are
    JSON-able summaries stored in `config.json`. The files are written to a temporary folder
    next to `path` and moved into place, so a crash never leaves a half checkpoint.
    """
    dest = Path(path)
    with staging_folder(dest.parent, dest.name) as tmp:
        write_checkpoint(model, tmp, classes=classes, training=training, metrics=metrics)
        replace_folder(tmp, dest)
    return dest


def read_checkpoint_config(path: str | os.PathLike[str]) -> CheckpointConfig:
    """Parse and validate a checkpoint's `config.json` (without reading the weights)."""
    folder = Path(path)
    if not folder.exists():
        _fail(path, "does not exist")
    if not folder.is_dir():
        _fail(path, f"is not a checkpoint folder (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    cfg_file = folder / CONFIG_NAME
    if not cfg_file.is_file():
        _fail(path, f"missing {CONFIG_NAME} (not a robusteye checkpoint)")
    doc = parse_json(
        read_text(cfg_file, limit=MAX_CONFIG_BYTES, error=CheckpointError),
        f"checkpoint {path}: {CONFIG_NAME} is not valid JSON",
        error=CheckpointError,
    )
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        _fail(path, f"{CONFIG_NAME} is not a robusteye checkpoint config (no format {FORMAT!r})")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        _fail(
            path,
            f"unsupported format_version {version!r} (this robusteye reads <= {FORMAT_VERSION})",
        )
    try:
        model = ModelConfig.from_dict(doc.get("model"))  # type: ignore[arg-type]
    except UsageError as err:
        _fail(path, f"invalid model config: {err}")
    extras = {k: doc.get(k) for k in ("training", "metrics")}
    for key, value in extras.items():
        if value is not None and not isinstance(value, dict):
            _fail(path, f"'{key}' in {CONFIG_NAME} must be an object or null")
    return CheckpointConfig(
        model, extras["training"], extras["metrics"], str(doc.get("robusteye_version", "?"))
    )


def _read_tensors(
    path: str | os.PathLike[str], expected: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Read the weights after checking names, shapes and dtypes against `expected`."""
    weights = Path(path) / WEIGHTS_NAME
    if not weights.is_file():
        _fail(path, f"missing {WEIGHTS_NAME}")
    try:
        handle = safe_open(str(weights), framework="pt", device="cpu")
    except Exception as err:  # safetensors raises several types for a bad header
        _fail(path, f"{WEIGHTS_NAME} is not a readable safetensors file ({err})")
    with handle as f:
        keys = set(f.keys())
        # Shapes first: they say most about a config/weights mismatch (e.g. another width).
        for name, ref in expected.items():
            if name not in keys:
                continue
            sl = f.get_slice(name)
            shape = tuple(sl.get_shape())
            if shape != tuple(ref.shape):
                _fail(path, f"tensor '{name}' has shape {shape}, config expects {tuple(ref.shape)}")
            want = _DTYPE_CODES.get(ref.dtype, str(ref.dtype))
            if sl.get_dtype() != want:
                _fail(path, f"tensor '{name}' has dtype {sl.get_dtype()}, config expects {want}")
        missing, extra = sorted(set(expected) - keys), sorted(keys - set(expected))
        if missing:
            _fail(path, f"tensor '{missing[0]}' is missing ({len(missing)} missing in all)")
        if extra:
            _fail(
                path,
                f"unexpected tensor '{extra[0]}' ({len(extra)} not in the config's architecture)",
            )
        try:
            tensors = {name: f.get_tensor(name) for name in expected}
        except Exception as err:
            _fail(path, f"{WEIGHTS_NAME} is corrupt ({err})")
    for name, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            _fail(path, f"tensor '{name}' holds NaN or infinite values")
    return tensors


def load_model(
    path: str | os.PathLike[str],
    map_location: str | torch.device = "cpu",
    *,
    channels_last: bool = False,
) -> EyeModel:
    """Load a checkpoint folder written by `save_model`; the model comes back in eval mode.

    `channels_last=True` puts the 4-D weights in NHWC layout, the trainer's: 1.2-2.7x faster
    inference and attacks on CPU here, with logits equal up to float rounding (the default
    layout gives bit-identical logits to a model built and saved in NCHW).
    """
    info = read_checkpoint_config(path)
    # The config sets the model's size, and it comes from a stranger: build it on the meta
    # device first (no memory), bound its size and check the weights' header against it;
    # only then build it for real.
    try:
        with torch.device("meta"):
            shape = build_model(info.model)
        model_size = sum(p.numel() for p in shape.parameters())
        if model_size > MAX_PARAMETERS:
            _fail(
                path, f"the config describes {model_size:,} parameters (at most {MAX_PARAMETERS:,})"
            )
        tensors = _read_tensors(path, shape.state_dict())
        model = build_model(info.model)
    except UsageError as err:
        _fail(path, str(err))
    model.load_state_dict(tensors, strict=True)
    model = model.to(resolve_device(map_location))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model.eval()
