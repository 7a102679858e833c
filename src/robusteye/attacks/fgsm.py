"""Fast Gradient Sign Method (Goodfellow et al., "Explaining and Harnessing Adversarial
Examples", ICLR 2015, arXiv:1412.6572): one L-inf step of size eps along sign(grad_x loss).

Unlike the study, the loss is taken on the logits (cross-entropy), the batch is crafted at
once, and the result is clipped to [0, 1].
"""

from __future__ import annotations

from torch import Tensor, nn

from robusteye.attacks._core import Eps, attack_mode, chunked, loss_gradient, prepare


def fgsm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    targeted: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """FGSM examples for `x` with true labels `y` (targets if `targeted`).

    `eps` is one number or one value per example. Model mode, BatchNorm statistics and
    parameter gradients are left untouched; the output is detached and in [0, 1].
    """
    x, y, e = prepare(model, x, y, eps)
    sign = -1.0 if targeted else 1.0

    def step(xc: Tensor, yc: Tensor, ec: Tensor) -> Tensor:
        grad = loss_gradient(model, xc, yc)
        return (xc + sign * ec * grad.sign()).clamp_(0.0, 1.0)

    with attack_mode(model):
        return chunked(step, x, y, e, size=chunk_size)


def fgsm_direction(
    model: nn.Module, x: Tensor, y: Tensor, *, chunk_size: int | None = None
) -> Tensor:
    """sign(grad_x loss): FGSM at any eps is `clamp(x + eps * direction, 0, 1)`.

    Used to sweep many eps values (and to solve eps for a target SNR) with one gradient.
    """
    x, y, _ = prepare(model, x, y, 0.0)

    def step(xc: Tensor, yc: Tensor) -> Tensor:
        return loss_gradient(model, xc, yc).sign()

    with attack_mode(model):
        return chunked(step, x, y, size=chunk_size)
