"""Signal-to-noise ratio of a perturbation, and the eps that reaches a given SNR.

SNR = 20 log10(||X|| / ||X - X_adv||) in dB over the whole batch, as the study reports it.
Unlike eps, SNR does not depend on the input scale, so it puts attacks, random noise and
natural corruptions on one axis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks._core import check_images
from robusteye.attacks.registry import Perturber, get_attack
from robusteye.errors import DataError, UsageError

EPS_MAX = 1.0  # in [0, 1] pixel space, eps = 1 already saturates every pixel
#: float32 pixels near 1 change in steps of 2**-24 (144 dB below full scale): a perturbation
#: aimed at a higher SNR is rounded away, so no eps reaches it.
SNR_MAX_DB = 140.0


def check_snr(snr: float) -> None:
    """A finite SNR that float32 images can hold, else one `UsageError` line."""
    if not math.isfinite(snr):
        raise UsageError(f"SNR must be a finite number of dB, got {snr}")
    if snr > SNR_MAX_DB:
        raise UsageError(
            f"SNR must be at most {SNR_MAX_DB:g} dB (float32 images cannot hold a smaller "
            f"perturbation), got {snr}"
        )


def snr_db(x: Tensor, x_adv: Tensor) -> float:
    """Batch SNR in dB: 20 log10(||X|| / ||X - X_adv||); +inf for no perturbation."""
    noise = float((x - x_adv).double().norm())
    signal = float(x.double().norm())
    if noise == 0.0:
        return math.inf
    return 20.0 * math.log10(max(signal, 1e-300) / noise)


def snr_db_per_image(x: Tensor, x_adv: Tensor) -> Tensor:
    """Per-image SNR in dB (float64, +inf where an image is unchanged)."""
    signal = x.double().flatten(1).norm(dim=1)
    noise = (x - x_adv).double().flatten(1).norm(dim=1)
    return 20.0 * torch.log10(signal.clamp_min(1e-300) / noise)


def mean_snr_db(x: Tensor, x_adv: Tensor) -> float:
    """Mean of the per-image SNRs over the perturbed images (+inf if none is perturbed)."""
    per = snr_db_per_image(x, x_adv)
    finite = per[torch.isfinite(per)]
    return float(finite.mean()) if finite.numel() else math.inf


def eps_for_snr(
    model: nn.Module | None,
    x: Tensor,
    y: Tensor | None,
    snr: float,
    *,
    attack: str = "fgsm",
    tol_db: float = 0.01,
    seed: int = 0,
    perturber: Perturber | None = None,
    **options: Any,
) -> float:
    """The eps at which `attack` (with `options`) perturbs this batch to `snr` dB (within
    `tol_db`).

    Closed form where clipping to [0, 1] is inactive (||delta|| = eps ||direction|| for a
    linear attack), then refined by geometric bisection on the real, clipped perturbation.
    Random attacks use the draw of `seed`. `perturber` is the attack's `Perturber` for this
    batch when the caller already has one (FGSM's gradient is then not computed again).
    Raises `UsageError` when the SNR cannot be reached.
    """
    check_snr(snr)
    check_images(x)
    if perturber is None:
        perturber = get_attack(attack).perturber(model, x, y, seed=seed, **options)
    perturb, unit_norm = perturber.at, perturber.unit_norm
    # floored exponent: a hopeless SNR such as -1e6 dB gets "cannot reach", not a zero division
    target_noise = float(x.double().norm()) / 10.0 ** max(snr / 20.0, -300.0)
    if unit_norm == 0.0:
        raise DataError(f"{attack}: the gradient is zero on this batch, no eps reaches {snr} dB")

    def snr_at(eps: float) -> float:
        return snr_db(x, perturb(eps))

    eps = min(target_noise / unit_norm, EPS_MAX)
    got = snr_at(eps)
    if abs(got - snr) <= tol_db:
        return eps
    if snr_at(EPS_MAX) > snr + tol_db:
        raise UsageError(
            f"{attack} cannot reach {snr} dB on this data: even eps = 1 "
            f"gives {snr_at(EPS_MAX):.2f} dB"
        )
    lo, hi = (eps, EPS_MAX) if got > snr else (eps * 1e-6, eps)
    return _bisect(snr_at, snr, lo, hi, tol_db)


def _bisect(
    snr_at: Callable[[float], float], snr: float, lo: float, hi: float, tol: float
) -> float:
    """Geometric bisection of eps in [lo, hi] (eps spans orders of magnitude) until the SNR
    is within `tol` dB of `snr`; the SNR falls as eps grows."""
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        got = snr_at(mid)
        if abs(got - snr) <= tol:
            return mid
        lo, hi = (mid, hi) if got > snr else (lo, mid)
    return math.sqrt(lo * hi)


def linf_ball_noise(x: Tensor, eps: float | Tensor) -> Tensor:
    """Squared L2 norm of the strongest perturbation in the L-inf ball of radius `eps` (per
    image, or one for all) around `x`, clipped to [0, 1]: each pixel moves eps towards the
    farther of 0 and 1, where at least 0.5 of room lies, so the model plays no part."""
    e = torch.as_tensor(eps, dtype=torch.float64).reshape(-1, *([1] * (x.ndim - 1)))
    room = torch.maximum(x.double(), 1.0 - x.double())
    return torch.minimum(e, room).pow(2).sum()


def linf_ball_eps_for_snr(x: Tensor, snr: float, *, tol_db: float = 0.01) -> float:
    """The radius of the L-inf ball whose strongest perturbation (`linf_ball_noise`: the
    ball's corner, clipping at 0 and 1 included) has `snr` dB on the batch `x`.

    It follows from the images alone, so a model whose input gradient is zero still gets its
    ball: a gradient attack then moves nothing, and the audit's indicators say so. Closed
    form up to eps = 0.5 (no pixel clips), geometric bisection beyond.
    """
    check_snr(snr)
    check_images(x)
    signal = float(x.double().pow(2).sum())
    if signal == 0.0:
        raise DataError(f"the images are all black: no perturbation has an SNR of {snr} dB")

    def snr_at(eps: float) -> float:
        return 10.0 * math.log10(signal / float(linf_ball_noise(x, eps)))

    # floored exponent: a hopeless SNR such as -1e6 dB gets "cannot reach", not a zero division
    eps = math.sqrt(signal / x.numel()) / 10.0 ** max(snr / 20.0, -300.0)
    if eps <= 0.5:
        return eps
    if snr_at(EPS_MAX) > snr + tol_db:
        raise UsageError(
            f"no L-inf ball reaches {snr} dB on this data: even eps = 1 gives "
            f"{snr_at(EPS_MAX):.2f} dB"
        )
    return _bisect(snr_at, snr, 0.5, EPS_MAX, tol_db)
