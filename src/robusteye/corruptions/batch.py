"""Training-time corruption: a random corruption at a random severity for part of a batch."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robusteye.corruptions.registry import (
    CORRUPTIONS,
    MAX_SEVERITY,
    check_severity,
    parse_corruptions,
)
from robusteye.errors import UsageError


def random_corruption_batch(
    x: Tensor,
    names: Sequence[str],
    max_severity: int,
    generator: torch.Generator,
    *,
    p: float = 0.5,
) -> Tensor:
    """`x` with round(`p` * N) of its rows, chosen at random, each corrupted by one of `names`
    at a severity uniform in 1..`max_severity`; the other rows are unchanged.

    Rows sharing a (corruption, severity) are corrupted together, so the work stays batched.
    """
    names = parse_corruptions(tuple(names))
    if check_severity(max_severity) < 1:
        raise UsageError(f"max severity must lie in 1..{MAX_SEVERITY}, got {max_severity}")
    if not 0.0 <= p <= 1.0:
        raise UsageError(f"corruption fraction p must lie in [0, 1], got {p}")
    n = x.shape[0]
    k = round(p * n)
    if k == 0:
        return x
    rows = torch.randperm(n, generator=generator)[:k]
    which = torch.randint(len(names), (k,), generator=generator)
    severity = torch.randint(1, max_severity + 1, (k,), generator=generator)
    out = x.clone()
    for key in torch.unique(which * (MAX_SEVERITY + 1) + severity).tolist():
        chosen = rows[(which * (MAX_SEVERITY + 1) + severity) == key].to(x.device)
        name, level = names[key // (MAX_SEVERITY + 1)], key % (MAX_SEVERITY + 1)
        out[chosen] = CORRUPTIONS[name](x[chosen], level, generator)
    return out
