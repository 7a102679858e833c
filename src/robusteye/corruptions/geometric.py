"""Pose and framing: rotation, translation and scale of the crop, batched with one affine grid.

Pixels that come from outside the crop repeat its border (`padding_mode="border"`), as the
training augmentation does, so no black corners appear.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from robusteye.corruptions._draw import signs, uniform


def _warp(x: Tensor, angle: Tensor, zoom: Tensor, tx: Tensor, ty: Tensor) -> Tensor:
    """Rotate by `angle` (radians), magnify by `zoom` and shift by (tx, ty) in [-1, 1] units."""
    h, w = x.shape[-2:]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    # affine_grid works in coordinates normalised per axis: the aspect factors keep a
    # rotation a rotation on non-square images.
    theta = torch.stack(
        [torch.stack([cos, -sin * h / w, tx], 1), torch.stack([sin * w / h, cos, ty], 1)], 1
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def rotation(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Rotate every image by `level` degrees, clockwise or counter-clockwise at random."""
    n = x.shape[0]
    zero = torch.zeros(n, device=x.device, dtype=x.dtype)
    return _warp(x, signs(n, g, x) * math.radians(level), zero + 1.0, zero, zero)


def translation(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Shift every image by `level` of its size in a random direction."""
    n = x.shape[0]
    phi = uniform(n, g, x, 0.0, 2.0 * math.pi)
    zero = torch.zeros(n, device=x.device, dtype=x.dtype)
    # a shift of s (fraction of the size) is 2 s in affine_grid's [-1, 1] coordinates
    return _warp(x, zero, zero + 1.0, 2.0 * level * torch.cos(phi), 2.0 * level * torch.sin(phi))


def scale(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Zoom in or out (at random) by a factor 1 + `level` about the centre."""
    n = x.shape[0]
    zero = torch.zeros(n, device=x.device, dtype=x.dtype)
    zoom = (1.0 + level) ** signs(n, g, x)
    return _warp(x, zero, zoom, zero, zero)
