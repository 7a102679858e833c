"""Per-image random draws and pixel geometry shared by the corruptions.

Draws come from an explicit CPU `torch.Generator` and are then moved to the images' device
and dtype, so the same seed gives the same corruption on every device.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Lengths in the severity tables (blur radii, spot sizes) are pixels of a 32-pixel crop; they
#: scale with the image so that a 64-pixel crop gets the same damage.
REFERENCE_SIZE = 32


def uniform(n: int, g: torch.Generator, like: Tensor, lo: float = 0.0, hi: float = 1.0) -> Tensor:
    """`n` values uniform in [lo, hi), on `like`'s device and dtype."""
    return (lo + (hi - lo) * torch.rand(n, generator=g)).to(like.device, like.dtype)


def signs(n: int, g: torch.Generator, like: Tensor) -> Tensor:
    """`n` random signs (+1 or -1)."""
    return (torch.randint(0, 2, (n,), generator=g) * 2 - 1).to(like.device, like.dtype)


def pixel_scale(x: Tensor) -> float:
    """How many pixels of `x` one pixel of a 32-pixel crop spans."""
    return min(x.shape[-2:]) / REFERENCE_SIZE


def per_image(v: Tensor) -> Tensor:
    """(N,) -> N x 1 x 1 x 1, to broadcast one value per image."""
    return v.view(-1, 1, 1, 1)


def pixel_grid(x: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates (rows 1 x H x 1, columns 1 x 1 x W) in pixels."""
    h, w = x.shape[-2:]
    ys = torch.arange(h, device=x.device, dtype=x.dtype) + 0.5
    xs = torch.arange(w, device=x.device, dtype=x.dtype) + 0.5
    return ys.view(1, h, 1), xs.view(1, 1, w)
