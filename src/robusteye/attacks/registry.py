"""Attacks by name, with one calling convention, for specs and the command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks._core import Eps
from robusteye.attacks.fgsm import fgsm
from robusteye.attacks.noise import uniform_noise
from robusteye.attacks.pgd import pgd
from robusteye.errors import UsageError


def _fgsm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Tensor:
    return fgsm(model, x, y, eps, **options)


def _noise(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Tensor:
    if options:
        raise UsageError(f"noise takes no options, got {', '.join(options)}")
    return uniform_noise(x, eps, generator=generator)


#: name -> attack(model, x, y, eps, *, generator=None, **options) -> x_adv
ATTACKS: dict[str, Callable[..., Tensor]] = {"fgsm": _fgsm, "noise": _noise, "pgd": pgd}


def run_attack(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Tensor:
    """Run the attack called `name` (one of `ATTACKS`)."""
    try:
        attack = ATTACKS[name]
    except KeyError:
        raise UsageError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None
    return attack(model, x, y, eps, generator=generator, **options)
