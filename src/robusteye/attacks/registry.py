"""Attacks by name: the one route from a spec, a regime or the command line to an attack.

Each `Attack` knows what it accepts (norms, options), whether it needs the model's gradients,
and how to perturb one batch at many eps (`perturber`): an attack that is linear in eps
(FGSM, noise) computes its direction once, the others re-run from the same seed at each eps.
Robustness curves, SNR targets, regimes, the audit, the CLI choices and the spec validators
all read from `ATTACKS`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks._core import Eps
from robusteye.attacks.apgd import apgd
from robusteye.attacks.fgsm import fgsm, fgsm_direction
from robusteye.attacks.noise import noise_unit, uniform_noise
from robusteye.attacks.pgd import pgd
from robusteye.attacks.square import square
from robusteye.errors import UsageError
from robusteye.norms import NORMS


@dataclass(frozen=True)
class Perturber:
    """One batch's perturbation as a function of eps.

    `unit_norm` is ||x_adv - x|| per unit of eps before clipping: exact for a linear attack
    (the norm of its direction), the size of the ball's corner otherwise (a first guess that
    `eps_for_snr` then refines on the real perturbation).
    """

    at: Callable[[float], Tensor]
    unit_norm: float
    linear: bool


@dataclass(frozen=True)
class Attack:
    """An attack with one calling convention: `attack(model, x, y, eps, *, generator=None,
    **options) -> x_adv`."""

    name: str
    fn: Callable[..., Tensor]
    norms: tuple[str, ...]
    white_box: bool  # needs input gradients
    summary: str
    #: (model, x, y, generator, options) -> direction u with x_adv(eps) = clamp(x + eps u, 0, 1)
    direction: Callable[..., Tensor] | None = None
    needs_model: bool = True

    @property
    def options(self) -> tuple[str, ...]:
        """Keyword options `fn` takes (beyond model, x, y, eps and generator)."""
        params = inspect.signature(self.fn).parameters.values()
        skip = {"model", "x", "y", "eps", "generator"}
        return tuple(p.name for p in params if p.kind is p.KEYWORD_ONLY and p.name not in skip)

    def check_options(self, options: dict[str, Any]) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise UsageError(f"{self.name} takes no option {', '.join(unknown)} (known: {known})")
        norm = options.get("norm", "linf")
        if norm not in self.norms:
            raise UsageError(f"{self.name} supports norm {' or '.join(self.norms)}, got {norm!r}")

    def __call__(
        self,
        model: nn.Module | None,
        x: Tensor,
        y: Tensor | None,
        eps: Eps,
        *,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> Tensor:
        self.check_options(options)
        if self.needs_model:
            return self.fn(model, x, y, eps, generator=generator, **options)
        return self.fn(x, eps, generator=generator, **options)

    def perturber(
        self,
        model: nn.Module | None,
        x: Tensor,
        y: Tensor | None,
        *,
        seed: int = 0,
        **options: Any,
    ) -> Perturber:
        """eps -> x_adv on this batch; the generator is seeded with `seed` for every eps."""
        self.check_options(options)
        if self.needs_model and (model is None or y is None):
            raise UsageError(f"attack {self.name!r} needs a model and labels")
        if self.direction is not None:
            g = torch.Generator().manual_seed(seed)
            u = self.direction(model, x, y, g, options).to(x.device)
            return Perturber(lambda e: (x + e * u).clamp(0.0, 1.0), float(u.double().norm()), True)

        def at(e: float) -> Tensor:
            g = torch.Generator().manual_seed(seed)
            return self(model, x, y, e, generator=g, **options).to(x.device)

        # an L-inf perturbation of a strong attack sits near the box corners: ~ eps sqrt(numel)
        linf = options.get("norm", "linf") == "linf"
        return Perturber(at, math.sqrt(x.numel() if linf else x.shape[0]), False)


def _fgsm_direction(
    model: nn.Module, x: Tensor, y: Tensor, g: torch.Generator, options: dict[str, Any]
) -> Tensor:
    sign = -1.0 if options.get("targeted") else 1.0
    return sign * fgsm_direction(model, x, y, chunk_size=options.get("chunk_size"))


def _noise_direction(
    model: nn.Module | None, x: Tensor, y: Tensor | None, g: torch.Generator, options: Any
) -> Tensor:
    return noise_unit(x, norm=options.get("norm", "linf"), generator=g)


def _fgsm(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    generator: torch.Generator | None = None,
    targeted: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    return fgsm(model, x, y, eps, targeted=targeted, chunk_size=chunk_size)


def _apgd_t(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: Eps,
    *,
    generator: torch.Generator | None = None,
    norm: str = "linf",
    loss: str = "dlr",
    steps: int = 100,
    restarts: int = 1,
    n_targets: int | None = 9,
    chunk_size: int | None = None,
) -> Tensor:
    """APGD-T: targeted APGD with the DLR loss towards the most likely other classes."""
    return apgd(
        model, x, y, eps, norm=norm, loss=loss, steps=steps, restarts=restarts, targeted=True,
        n_targets=n_targets, generator=generator, chunk_size=chunk_size,
    )  # fmt: skip


def _register(*attacks: Attack) -> dict[str, Attack]:
    return {a.name: a for a in attacks}


#: name -> Attack; `ATTACKS[name](model, x, y, eps, *, generator=None, **options) -> x_adv`
ATTACKS: dict[str, Attack] = _register(
    Attack(
        "fgsm", _fgsm, ("linf",), True, "one signed-gradient step (Goodfellow et al. 2015)",
        direction=_fgsm_direction,
    ),
    Attack(
        "noise", uniform_noise, NORMS, False,
        "random noise of size eps (uniform per pixel, or a random L2 direction)",
        direction=_noise_direction, needs_model=False,
    ),
    Attack("pgd", pgd, NORMS, True, "projected gradient ascent (Madry et al. 2018)"),
    Attack("apgd", apgd, NORMS, True, "Auto-PGD, CE/DLR/margin (Croce & Hein 2020)"),
    Attack(
        "apgd-t", _apgd_t, NORMS, True,
        "targeted Auto-PGD with DLR towards the top other classes (Croce & Hein 2020)",
    ),
    Attack(
        "square", square, ("linf",), False,
        "gradient-free random search, margin loss (Andriushchenko et al. 2020)",
    ),
)  # fmt: skip


def get_attack(name: str) -> Attack:
    """The attack called `name`, or one clear error naming the known ones."""
    try:
        return ATTACKS[name]
    except KeyError:
        raise UsageError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}") from None


def attack_names(*, white_box: bool | None = None, norm: str | None = None) -> tuple[str, ...]:
    """Registered names, optionally only the gradient (or gradient-free) ones, or one norm's."""
    return tuple(
        a.name
        for a in ATTACKS.values()
        if (white_box is None or a.white_box == white_box) and (norm is None or norm in a.norms)
    )


def run_attack(
    name: str,
    model: nn.Module | None,
    x: Tensor,
    y: Tensor | None,
    eps: Eps,
    *,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Tensor:
    """Run the attack called `name` (one of `ATTACKS`)."""
    return get_attack(name)(model, x, y, eps, generator=generator, **options)
