"""What every stage asks of tensors and models: the image-input check (float N x C x H x W,
finite, in [0, 1]) and the device a model lives on.

A neutral module below `attacks`, `corruptions` and `evaluate`, so that none of them needs
another's private helpers for these.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robusteye.errors import UsageError


def check_images(x: Tensor, name: str = "x") -> None:
    """Refuse non-floating, non-finite or out-of-[0, 1] input (never clamp it silently)."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise UsageError(f"{name} must be a floating-point tensor of images in [0, 1]")
    if x.ndim != 4:
        raise UsageError(f"{name} must have shape N x C x H x W, got {tuple(x.shape)}")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise UsageError(f"{name} contains NaN or Inf")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise UsageError(
            f"{name} must lie in [0, 1], got [{float(x.min()):.4g}, {float(x.max()):.4g}] "
            "(normalization belongs inside the model)"
        )


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (else first buffer); CPU for an empty model."""
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
