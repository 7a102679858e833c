"""Things in front of the eye: an occluder (a bar or a blob: hair, a finger, a glasses frame)
and glare (a saturated specular reflection, as on glasses or a wet cornea).

Each is drawn with soft, anti-aliased edges at a random place near the centre of the crop,
where the eye is.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from robusteye.corruptions._draw import per_image, pixel_grid, pixel_scale, uniform


def _centres(x: Tensor, g: torch.Generator, spread: float) -> tuple[Tensor, Tensor]:
    """Random centres (rows, columns) in pixels, within `spread` of the size around the middle."""
    n, h, w = x.shape[0], *x.shape[-2:]
    cy = uniform(n, g, x, 0.5 - spread, 0.5 + spread) * h
    cx = uniform(n, g, x, 0.5 - spread, 0.5 + spread) * w
    return cy.view(-1, 1, 1), cx.view(-1, 1, 1)


def occlusion(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Cover about `level` of the crop's area with a flat grey occluder.

    Per image: a bar across the crop (thickness `level` of its size) or an ellipse (area
    `level`), at a random angle, centre and aspect, in a grey level in [0, 0.6] (most
    occluders, hair and hands in shade, are darker than lit skin).
    """
    n, h, w = x.shape[0], *x.shape[-2:]
    is_bar = uniform(n, g, x).view(-1, 1, 1) < 0.5
    cy, cx = _centres(x, g, 0.2)
    phi = uniform(n, g, x, 0.0, math.pi).view(-1, 1, 1)
    aspect = torch.exp(uniform(n, g, x, -0.7, 0.7)).view(-1, 1, 1)
    fill = per_image(uniform(n, g, x, 0.0, 0.6))
    ys, xs = pixel_grid(x)
    along = (xs - cx) * torch.cos(phi) + (ys - cy) * torch.sin(phi)
    across = (ys - cy) * torch.cos(phi) - (xs - cx) * torch.sin(phi)
    bar = (level * min(h, w) / 2 + 0.5 - across.abs()).clamp(0.0, 1.0)
    a = torch.sqrt(level * h * w / math.pi * aspect)
    b = torch.sqrt(level * h * w / math.pi / aspect)
    rho = torch.sqrt((along / a) ** 2 + (across / b) ** 2)
    blob = ((1.0 - rho) * torch.minimum(a, b) + 0.5).clamp(0.0, 1.0)
    mask = torch.where(is_bar, bar, blob).unsqueeze(1)
    return x * (1.0 - mask) + fill * mask


def glare(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """A white Gaussian spot of radius (sigma) `level` pixels of a 32-pixel crop, screen-blended
    so its centre saturates and its halo brightens what lies under it."""
    sigma = level * pixel_scale(x)
    cy, cx = _centres(x, g, 0.25)
    ys, xs = pixel_grid(x)
    spot = torch.exp(-((ys - cy) ** 2 + (xs - cx) ** 2) / (2.0 * sigma**2)).unsqueeze(1)
    return 1.0 - (1.0 - x) * (1.0 - spot)
