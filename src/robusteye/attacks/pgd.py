"""Projected Gradient Descent (Madry et al., "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018, arXiv:1706.06083) in L-inf or L2."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robusteye.attacks._core import (
    Eps,
    attack_mode,
    chunked,
    draw,
    loss_gradient,
    prepare,
    project,
)
from robusteye.errors import UsageError

NORMS = ("linf", "l2")


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    alpha: float | None = None,
    steps: int = 10,
    norm: str = "linf",
    random_start: bool = True,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """`steps` ascent steps of size `alpha` (default 2.5 * eps / steps), each projected onto the
    eps ball in `norm` and onto [0, 1]. L-inf steps follow the gradient's sign, L2 steps its
    unit direction. Random start: uniform in the ball's box (L-inf) or a random direction at a
    uniform radius (L2), drawn from `generator`. Side-effect free like `fgsm`."""
    if steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}")
    if norm not in NORMS:
        raise UsageError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if alpha is not None and not alpha > 0:
        raise UsageError(f"alpha must be > 0, got {alpha}")
    x, y, e = prepare(model, x, y, eps)
    start = project(x + _random_delta(x, e, norm, generator), x, e, norm) if random_start else x

    def attack(xc: Tensor, yc: Tensor, ec: Tensor, x_adv: Tensor) -> Tensor:
        step = ec * (2.5 / steps) if alpha is None else torch.full_like(ec, alpha)
        for _ in range(steps):
            grad = loss_gradient(model, x_adv, yc)
            x_adv = project(x_adv + step * _direction(grad, norm), xc, ec, norm)
        return x_adv

    with attack_mode(model):
        return chunked(attack, x, y, e, start, size=chunk_size)


def _direction(grad: Tensor, norm: str) -> Tensor:
    if norm == "linf":
        return grad.sign()
    flat = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return grad / flat.view(-1, *([1] * (grad.ndim - 1)))


def _random_delta(x: Tensor, eps: Tensor, norm: str, generator: torch.Generator | None) -> Tensor:
    if norm == "linf":
        return (2.0 * draw(x.shape, x, generator) - 1.0) * eps
    d = draw(x.shape, x, generator, normal=True)
    r = draw((x.shape[0],), x, generator)
    return _direction(d, "l2") * r.view_as(eps) * eps
