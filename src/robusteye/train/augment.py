"""Geometric augmentation on image tensors: random rotation and shift, and a left-right mirror,
batched.

One affine grid per batch (`affine_grid` + `grid_sample`), border padding like Keras'
`fill_mode="nearest"` that the study used, parameters drawn from an explicit generator.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def random_affine(
    x: Tensor, *, rotation_deg: float, shift: float, generator: torch.Generator
) -> Tensor:
    """Rotate each image by U(-rotation_deg, rotation_deg) and shift it by U(-shift, shift) of
    its width and height; the output stays in the input's range."""
    n = x.shape[0]
    if n == 0 or (rotation_deg == 0 and shift == 0):
        return x
    r = torch.rand(n, 3, generator=generator) * 2.0 - 1.0
    angle = r[:, 0] * math.radians(rotation_deg)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid works in [-1, 1] coordinates: a shift of s (fraction of size) is 2 s.
    tx, ty = r[:, 1] * 2.0 * shift, r[:, 2] * 2.0 * shift
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_hflip(x: Tensor, *, generator: torch.Generator) -> Tensor:
    """Mirror a random half (in expectation) of the images left to right: a left eye becomes a
    plausible right eye, so on eye crops it doubles the poses seen at no cost in realism."""
    n = x.shape[0]
    if n == 0:
        return x
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device).view(n, 1, 1, 1)
    return torch.where(flip, x.flip(-1), x)
