"""Lighting: brightness, contrast and gamma, one random direction per image where it has one."""

from __future__ import annotations

import torch
from torch import Tensor

from robusteye.corruptions._draw import per_image, signs


def brightness(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Add or subtract (at random) `level` to every pixel: over- or under-exposure."""
    return x + per_image(signs(x.shape[0], g, x)) * level


def contrast(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Scale each image's deviations from its own mean by `level` (< 1: flatter)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * level + mean


def gamma(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Raise pixels to the power `level` (darker) or 1 / `level` (brighter), at random."""
    exponent = per_image(level ** signs(x.shape[0], g, x))
    return x.clamp_min(0.0) ** exponent
