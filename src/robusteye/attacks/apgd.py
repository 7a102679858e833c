"""Auto-PGD (Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML 2020, arXiv:2003.01690) in L-inf or L2.

Step size 2 eps, halved at the schedule's checkpoints (p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)) when fewer than 75 % of the steps since the
last checkpoint raised the loss, or when neither the step nor the best loss changed; after a
halving the search goes on from the best point. Momentum 0.75. Per example the best iterate
is returned: the first misclassified one, else the one of highest loss.
"""

from __future__ import annotations

import math
import warnings

import torch
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
from robusteye.attacks.losses import attack_loss, effective_loss
from robusteye.errors import UsageError
from robusteye.norms import check_norm

MOMENTUM = 0.75
RHO = 0.75


def checkpoints(steps: int) -> list[int]:
    """The iterations at which APGD decides whether to halve its step."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    marks = {math.ceil(q * steps - 1e-9) for q in p[1:]}  # 0.57 * 100 is 57, not 58
    return sorted(m for m in marks if 0 < m < steps)


def apgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    norm: str = "linf",
    loss: str = "ce",
    steps: int = 100,
    restarts: int = 1,
    targeted: bool = False,
    n_targets: int | None = None,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    trace: list[float] | None = None,
) -> Tensor:
    """APGD examples for `x` with true labels `y` within the eps ball in `norm`.

    `loss` is "ce", "dlr" or "margin" (DLR on too few classes falls back to the margin, with
    a warning). `restarts` runs again from fresh random starts on the points still correct.
    `targeted=True` runs the targeted loss towards each of the `n_targets` (default all)
    most likely other classes in turn, on the points no earlier target broke. One forward +
    backward per step; side-effect free like `pgd`. `trace`, if given, receives the mean
    loss of the first chunk's first run at every step (to check convergence).
    """
    if steps < 1:
        raise UsageError(f"steps must be >= 1, got {steps}")
    if restarts < 1:
        raise UsageError(f"restarts must be >= 1, got {restarts}")
    check_norm(norm)
    if n_targets is not None and n_targets < 1:
        raise UsageError(f"n_targets must be >= 1, got {n_targets}")
    x, y, e = prepare(model, x, y, eps)
    size = chunk_size or default_chunk(x.device)
    with attack_mode(model), torch.no_grad():
        logits = torch.cat([model(x[i : i + size]) for i in range(0, x.shape[0], size)])
    classes = logits.shape[1]
    used, note = effective_loss(loss, classes, targeted)
    if note:
        warnings.warn(f"apgd: {note}", stacklevel=2)
    out = x.clone()
    wrong = logits.argmax(1) != y
    if targeted:
        ranked = logits.scatter(1, y[:, None], float("-inf")).argsort(1, descending=True)
        goals: list[Tensor | None] = list(ranked[:, : min(n_targets or classes - 1, classes - 1)].T)
    else:
        goals = [None]
    with attack_mode(model):
        for goal in goals:
            for _ in range(restarts):
                todo = (~wrong).nonzero().flatten()
                if todo.numel() == 0:
                    return out
                for i in range(0, todo.numel(), size):
                    idx = todo[i : i + size]
                    t = None if goal is None else goal[idx]
                    adv, broke = _run(
                        model, x[idx], y[idx], e[idx], t, norm, used, steps, generator, trace
                    )
                    trace = None  # only the first run is traced
                    out[idx] = adv
                    wrong[idx] = broke
    return out


def _run(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Tensor,
    target: Tensor | None,
    norm: str,
    loss: str,
    steps: int,
    generator: torch.Generator | None,
    trace: list[float] | None,
) -> tuple[Tensor, Tensor]:
    """One APGD run on one chunk: (best iterate, whether it is misclassified)."""

    def evaluate(xa: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        with torch.enable_grad():
            xg = xa.detach().requires_grad_(True)
            logits = model(xg)
            values = attack_loss(loss, logits, y, target)
            (grad,) = torch.autograd.grad(values.sum(), xg)
        return values.detach(), grad, logits.detach().argmax(1) != y

    x_k = project(x + _random_delta(x, eps, norm, generator), x, eps, norm)
    f_k, g_k, wrong = evaluate(x_k)
    x_best, f_best, g_best = x_k.clone(), f_k.clone(), g_k.clone()
    x_adv, found = x_k.clone(), wrong.clone()
    eta = 2.0 * eps
    x_prev = x_k
    marks = set(checkpoints(steps))
    last_mark, rises = 0, torch.zeros_like(f_k)
    eta_at_mark, f_best_at_mark = eta.clone(), f_best.clone()
    if trace is not None:
        trace.append(float(f_best.mean()))
    for k in range(steps):
        z = project(x_k + eta * step_direction(g_k, norm), x, eps, norm)
        a = 1.0 if k == 0 else MOMENTUM
        x_next = project(x_k + a * (z - x_k) + (1.0 - a) * (x_k - x_prev), x, eps, norm)
        f_next, g_next, wrong = evaluate(x_next)
        newly = wrong & ~found
        x_adv[newly], found = x_next[newly], found | wrong
        rises += (f_next > f_k).float()
        better = f_next > f_best
        x_best[better], f_best[better], g_best[better] = (
            x_next[better],
            f_next[better],
            g_next[better],
        )
        x_prev, x_k, f_k, g_k = x_k, x_next, f_next, g_next
        if trace is not None:
            trace.append(float(f_best.mean()))
        if k + 1 in marks:
            span = k + 1 - last_mark
            stalled = (eta.flatten() == eta_at_mark.flatten()) & (f_best == f_best_at_mark)
            halve = (rises < RHO * span) | stalled
            eta_at_mark, f_best_at_mark = eta.clone(), f_best.clone()
            eta = torch.where(halve.view_as(eta), eta / 2.0, eta)
            # go on from the best point where the step was halved
            x_k = torch.where(per_example(halve, x), x_best, x_k)
            g_k = torch.where(per_example(halve, x), g_best, g_k)
            f_k = torch.where(halve, f_best, f_k)
            x_prev = x_k.clone()
            rises.zero_()
            last_mark = k + 1
    rows = per_example(found, x)
    return torch.where(rows, x_adv, x_best), found


def _random_delta(x: Tensor, eps: Tensor, norm: str, generator: torch.Generator | None) -> Tensor:
    """Uniform in the L-inf box, or on the L2 sphere of radius eps (the authors' start)."""
    if norm == "linf":
        return (2.0 * draw(x.shape, x, generator) - 1.0) * eps
    return step_direction(draw(x.shape, x, generator, normal=True), "l2") * eps
