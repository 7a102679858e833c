"""Uniform random noise in [-eps, eps] per pixel, clipped to [0, 1] (the study's baseline
perturbation: what an attacker without gradients does)."""

from __future__ import annotations

import torch
from torch import Tensor

from robusteye.attacks._core import Eps, check_images, draw, eps_tensor


def uniform_noise(x: Tensor, eps: Eps, *, generator: torch.Generator | None = None) -> Tensor:
    """`clamp(x + U(-eps, eps), 0, 1)`; deterministic for a seeded `generator`.

    The noise is drawn on the generator's device (CPU by default) and moved to `x`'s, so the
    same seed gives the same perturbation on any device.
    """
    check_images(x)
    e = eps_tensor(eps, x)
    return (x.detach() + noise_unit(x, generator=generator) * e).clamp_(0.0, 1.0)


def noise_unit(x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """The U(-1, 1) draw behind `uniform_noise`: noise at eps is `clamp(x + eps * unit)`."""
    return 2.0 * draw(x.shape, x, generator) - 1.0
