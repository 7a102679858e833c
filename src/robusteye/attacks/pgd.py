"""Projected Gradient Descent (Madry et al., "Towards Deep Learning Models Resistant to
Adversarial Attacks", ICLR 2018, arXiv:1706.06083) in L-inf or L2, with restarts and
best-iterate return."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.attacks._core import (
    Eps,
    attack_mode,
    draw,
    per_example,
    prepare,
    project,
    step_direction,
)
from robusteye.attacks._core import chunk_size as default_chunk
from robusteye.errors import UsageError
from robusteye.norms import check_norm


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
    restarts: int = 1,
    best: bool = True,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """`steps` ascent steps of size `alpha` (default 2.5 * eps / steps), each projected onto the
    eps ball in `norm` and onto [0, 1]. L-inf steps follow the gradient's sign, L2 steps its
    unit direction. Random start: uniform in the ball's box (L-inf) or a random direction at a
    uniform radius (L2), drawn from `generator`. Side-effect free like `fgsm`.

    `best=True` returns, per example, the best iterate seen (a misclassified one first, then
    the highest cross-entropy) instead of the last: the last iterate of a fixed-step ascent
    can step back out of an adversarial region. `restarts > 1` runs again from fresh random
    starts on the examples still classified correctly and keeps any success (the first run
    starts at `x` itself when `random_start=False`). `best=False, restarts=1` is Madry's
    training attack: the last iterate, step for step.
    """
    if steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}")
    if restarts < 1:
        raise UsageError(f"restarts must be >= 1, got {restarts}")
    check_norm(norm)
    if alpha is not None and not alpha > 0:
        raise UsageError(f"alpha must be > 0, got {alpha}")
    x, y, e = prepare(model, x, y, eps)

    def start(xc: Tensor, ec: Tensor, random: bool) -> Tensor:
        return project(xc + _random_delta(xc, ec, norm, generator), xc, ec, norm) if random else xc

    def ascend(xc: Tensor, yc: Tensor, ec: Tensor, x_adv: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(returned point, its loss, whether it is misclassified) for one run."""
        step = ec * (2.5 / steps) if alpha is None else torch.full_like(ec, alpha)
        best_x, best_loss, best_wrong = x_adv, None, None
        for i in range(steps + 1):
            if i == steps and not best:
                break
            with torch.enable_grad():
                xg = x_adv.detach().requires_grad_(True)
                logits = model(xg)
                loss = F.cross_entropy(logits, yc, reduction="none")
                grad = torch.autograd.grad(loss.sum(), xg)[0] if i < steps else None
            if best:
                loss, wrong = loss.detach(), logits.detach().argmax(1) != yc
                if best_loss is None or best_wrong is None:
                    best_x, best_loss, best_wrong = x_adv, loss, wrong
                else:
                    better = (wrong & ~best_wrong) | ((wrong == best_wrong) & (loss > best_loss))
                    best_x = torch.where(per_example(better, x_adv), x_adv, best_x)
                    best_loss = torch.where(better, loss, best_loss)
                    best_wrong = best_wrong | wrong
            if grad is not None:
                x_adv = project(x_adv + step * step_direction(grad, norm), xc, ec, norm)
        if not best:
            n = xc.shape[0]
            return x_adv, torch.zeros(n, device=xc.device), torch.zeros(n, dtype=torch.bool)
        assert best_loss is not None and best_wrong is not None
        return best_x, best_loss, best_wrong

    if restarts > 1 and not best:
        raise UsageError("restarts > 1 keeps the best run per example: it needs best=True")
    size = chunk_size or default_chunk(x.device)

    def run(idx: Tensor | None, random: bool) -> tuple[Tensor, Tensor, Tensor]:
        xs, ys, es = (x, y, e) if idx is None else (x[idx], y[idx], e[idx])
        x0 = start(xs, es, random)  # drawn for the whole set: the same whatever the chunking
        parts = [
            ascend(xs[i : i + size], ys[i : i + size], es[i : i + size], x0[i : i + size])
            for i in range(0, xs.shape[0], size)
        ]
        return tuple(torch.cat(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    with attack_mode(model):
        out, loss, wrong = run(None, random_start)
        for _ in range(restarts - 1):
            todo = (~wrong).nonzero().flatten()
            if todo.numel() == 0:
                break
            cand, c_loss, c_wrong = run(todo, True)
            better = c_wrong | (c_loss > loss[todo])
            keep = todo[better]
            out[keep], loss[keep], wrong[keep] = cand[better], c_loss[better], c_wrong[better]
    return out


def _random_delta(x: Tensor, eps: Tensor, norm: str, generator: torch.Generator | None) -> Tensor:
    if norm == "linf":
        return (2.0 * draw(x.shape, x, generator) - 1.0) * eps
    d = draw(x.shape, x, generator, normal=True)
    r = draw((x.shape[0],), x, generator)
    return step_direction(d, "l2") * r.view_as(eps) * eps
