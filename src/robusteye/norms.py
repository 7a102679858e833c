"""The perturbation norms robusteye attacks, audits and certifies in: one name, one check."""

from __future__ import annotations

from typing import Literal, cast, get_args

from robusteye.errors import UsageError

#: an L-inf ball (eps per pixel) or an L2 ball (eps per image)
Norm = Literal["linf", "l2"]
NORMS: tuple[Norm, ...] = get_args(Norm)


def check_norm(norm: str) -> Norm:
    """`norm` as a `Norm`, or a `UsageError` naming the known ones."""
    if norm not in NORMS:
        known = " or ".join(repr(n) for n in NORMS)
        raise UsageError(f"norm must be {known}, got {norm!r}")
    return cast(Norm, norm)
