"""Optical blur: defocus (a disk) and camera or head motion (a line at a random angle).

Both are depthwise convolutions, one kernel per image for motion (a grouped convolution), with
the border replicated so the crop's edge does not darken.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from robusteye.corruptions._draw import pixel_scale, uniform


def _convolve(x: Tensor, kernels: Tensor) -> Tensor:
    """Convolve each image with its own k x k kernel (`kernels` N x k x k, or k x k for all)."""
    n, c, h, w = x.shape
    k = kernels.shape[-1]
    weight = kernels.expand(n, k, k).repeat_interleave(c, 0).unsqueeze(1)
    padded = F.pad(x.reshape(1, n * c, h, w), (k // 2,) * 4, mode="replicate")
    return F.conv2d(padded, weight, groups=n * c).reshape(n, c, h, w)


def _offsets(half: int, like: Tensor) -> tuple[Tensor, Tensor]:
    r = torch.arange(-half, half + 1, device=like.device, dtype=like.dtype)
    return r.view(1, -1, 1), r.view(1, 1, -1)


def defocus_blur(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Blur with an anti-aliased disk of radius `level` pixels (of a 32-pixel crop)."""
    radius = level * pixel_scale(x)
    v, u = _offsets(math.ceil(radius), x)
    disk = (radius + 0.5 - torch.sqrt(u**2 + v**2)).clamp(0.0, 1.0)[0]
    return _convolve(x, disk / disk.sum())


def motion_blur(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Smear along a line of `level` pixels (of a 32-pixel crop) at a random angle per image."""
    length = level * pixel_scale(x)
    angle = uniform(x.shape[0], g, x, 0.0, math.pi).view(-1, 1, 1)
    v, u = _offsets(math.ceil(length / 2), x)
    along = u * torch.cos(angle) + v * torch.sin(angle)
    across = v * torch.cos(angle) - u * torch.sin(angle)
    line = (1.0 - across.abs()).clamp(0.0, 1.0) * (length / 2 + 0.5 - along.abs()).clamp(0.0, 1.0)
    return _convolve(x, line / line.sum(dim=(1, 2), keepdim=True))
