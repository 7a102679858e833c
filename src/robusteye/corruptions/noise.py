"""Sensor noise: additive Gaussian noise and signal-dependent (Poisson) shot noise."""

from __future__ import annotations

import torch
from torch import Tensor


def gaussian_noise(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Add zero-mean Gaussian noise of standard deviation `level`."""
    z = torch.randn(x.shape, generator=g, dtype=x.dtype)
    return x + level * z.to(x.device)


def shot_noise(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Photon noise: a pixel of value v counts Poisson(v * `level`) photons (fewer: noisier)."""
    counts = torch.poisson(x.detach().cpu() * level, generator=g)
    return (counts / level).to(x.device, x.dtype)
