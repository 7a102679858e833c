"""Random noise of size eps, clipped to [0, 1]: the study's baseline perturbation (what an
attacker without gradients does). L-inf: uniform in [-eps, eps] per pixel; L2: a uniformly
random direction of norm eps per image."""

from __future__ import annotations

import torch
from torch import Tensor

from robusteye.attacks._core import Eps, check_images, draw, eps_tensor, step_direction
from robusteye.norms import check_norm


def uniform_noise(
    x: Tensor, eps: Eps, *, norm: str = "linf", generator: torch.Generator | None = None
) -> Tensor:
    """`clamp(x + eps * noise_unit(x), 0, 1)`; deterministic for a seeded `generator`.

    The noise is drawn on the generator's device (CPU by default) and moved to `x`'s, so the
    same seed gives the same perturbation on any device.
    """
    check_images(x)
    e = eps_tensor(eps, x)
    return (x.detach() + noise_unit(x, norm=norm, generator=generator) * e).clamp_(0.0, 1.0)


def noise_unit(
    x: Tensor, *, norm: str = "linf", generator: torch.Generator | None = None
) -> Tensor:
    """The draw behind `uniform_noise` at eps = 1: U(-1, 1) per pixel (L-inf), or a Gaussian
    direction scaled to norm 1 per image (L2)."""
    if norm == "linf":
        return 2.0 * draw(x.shape, x, generator) - 1.0
    if norm == "l2":
        return step_direction(draw(x.shape, x, generator, normal=True), "l2")
    check_norm(norm)
    raise AssertionError(norm)  # unreachable: check_norm refuses every other name
