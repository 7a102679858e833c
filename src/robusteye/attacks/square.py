"""The Square attack (Andriushchenko et al., "Square Attack: a query-efficient black-box
adversarial attack via random search", ECCV 2020, arXiv:1912.00049), L-inf.

Gradient-free: it needs only the model's logits, so masked or obfuscated gradients do not
stop it. Start from vertical stripes of +-eps; then, per query, redraw a random square window
of side sqrt(p h w) (p shrinking on the paper's schedule) to +-eps per channel and keep the
change where the margin loss falls. Each query is one forward of the points still correct:
a point stops costing queries once it is misclassified.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from robusteye.attacks._core import Eps, attack_mode, draw, prepare
from robusteye.attacks._core import chunk_size as default_chunk
from robusteye.attacks.losses import logit_margin
from robusteye.errors import UsageError

#: (iteration on the paper's 10,000-query scale, divisor of p_init from there on)
_SCHEDULE = ((10, 2), (50, 4), (200, 8), (500, 16), (1000, 32), (2000, 64), (4000, 128),
             (6000, 256), (8000, 512))  # fmt: skip


def square_fraction(p_init: float, i: int, queries: int) -> float:
    """The share of pixels a window covers at query `i` (the paper's piecewise schedule)."""
    it = int(i / queries * 10000)
    p = p_init
    for start, div in _SCHEDULE:
        if it > start:
            p = p_init / div
    return p


def square(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    norm: str = "linf",
    queries: int = 5000,
    p_init: float = 0.8,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
) -> Tensor:
    """Square-attack examples within the L-inf eps ball, at most `queries` forwards each."""
    if norm != "linf":
        raise UsageError("square is implemented for norm 'linf' only")
    if queries < 1:
        raise UsageError(f"queries must be >= 1, got {queries}")
    if not 0 < p_init <= 1:
        raise UsageError(f"p_init must lie in (0, 1], got {p_init}")
    x, y, e = prepare(model, x, y, eps)
    n, c, h, w = x.shape
    size = chunk_size or default_chunk(x.device) * 4  # forwards only: larger chunks pay

    def forward(xa: Tensor) -> Tensor:
        return torch.cat([model(xa[i : i + size]) for i in range(0, xa.shape[0], size)])

    with attack_mode(model), torch.no_grad():
        stripes = torch.where(draw((n, c, 1, w), x, generator) < 0.5, -1.0, 1.0)
        x_best = (x + e * stripes).clamp(0.0, 1.0)
        margin = logit_margin(forward(x_best), y)
        for i in range(1, queries):
            active = (margin > 0).nonzero().flatten()
            if active.numel() == 0:
                break
            xs, xb, es = x[active], x_best[active], e[active]
            p = square_fraction(p_init, i, queries)
            s = min(max(round(math.sqrt(p * h * w)), 1), h - 1, w - 1) or 1
            top = int(draw((1,), x, generator).item() * (h - s + 1)) if h > s else 0
            left = int(draw((1,), x, generator).item() * (w - s + 1)) if w > s else 0
            signs = torch.where(draw((active.numel(), c, 1, 1), x, generator) < 0.5, -1.0, 1.0)
            delta = xb - xs
            delta[:, :, top : top + s, left : left + s] = signs * es
            cand = (xs + delta).clamp(0.0, 1.0)
            m = logit_margin(forward(cand), y[active])
            better = m < margin[active]
            keep = active[better]
            x_best[keep], margin[keep] = cand[better], m[better]
    return x_best
