"""Corruptions by name, each with its table of five severities, and `corrupt`, the one entry.

Severity 0 is the identity; 1-5 take the corruption's parameter from its `levels` table. The
tables are set for 32 x 32 grey eye crops so that damage grows with severity and severity 5
is clearly harmful without wiping the image out (lengths in pixels scale with the image).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from robusteye.corruptions import blur, digital, geometric, light, noise, overlay
from robusteye.errors import UsageError
from robusteye.tensors import check_images

MAX_SEVERITY = 5


@dataclass(frozen=True)
class Corruption:
    """A natural transformation: `apply(x, level, generator)` at `levels[severity - 1]`."""

    name: str
    apply: Callable[[Tensor, float, torch.Generator], Tensor]
    levels: tuple[float, float, float, float, float]
    #: what a level means, for tables and help
    unit: str
    #: whether it draws from the generator (False: the same output for every seed)
    random: bool

    def __call__(self, x: Tensor, severity: int, generator: torch.Generator) -> Tensor:
        """`x` corrupted at `severity` (0-5), clamped to [0, 1]; `x` is not checked (see
        `corrupt`)."""
        if check_severity(severity) == 0 or x.shape[0] == 0:
            return x.clone()
        out = self.apply(x, self.levels[severity - 1], generator)
        return out.clamp(0.0, 1.0).to(x.dtype)


def _c(
    apply: Callable[[Tensor, float, torch.Generator], Tensor],
    levels: tuple[float, float, float, float, float],
    unit: str,
    random: bool = True,
) -> Corruption:
    return Corruption(apply.__name__, apply, levels, unit, random)


#: name -> Corruption, in the order tables and figures list them
CORRUPTIONS: dict[str, Corruption] = {
    c.name: c
    for c in (
        _c(geometric.rotation, (8, 15, 25, 35, 50), "degrees, random direction"),
        _c(geometric.translation, (0.06, 0.12, 0.18, 0.25, 0.33), "fraction of the size"),
        _c(geometric.scale, (0.1, 0.2, 0.3, 0.45, 0.6), "zoom 1 + level, in or out"),
        _c(light.brightness, (0.07, 0.14, 0.21, 0.28, 0.35), "added or subtracted"),
        _c(light.contrast, (0.7, 0.5, 0.35, 0.22, 0.12), "contrast factor", random=False),
        _c(light.gamma, (1.3, 1.6, 2.0, 2.5, 3.2), "exponent or its inverse"),
        _c(noise.gaussian_noise, (0.03, 0.06, 0.09, 0.13, 0.18), "standard deviation"),
        _c(noise.shot_noise, (250, 120, 60, 30, 15), "photons at full scale"),
        _c(blur.defocus_blur, (0.8, 1.2, 1.7, 2.3, 3.0), "disk radius, px at 32", random=False),
        _c(blur.motion_blur, (2, 3.5, 5, 7, 10), "streak length, px at 32"),
        _c(digital.jpeg, (45, 28, 18, 11, 6), "JPEG quality", random=False),
        _c(digital.pixelate, (0.6, 0.45, 0.35, 0.28, 0.2), "resolution kept", random=False),
        _c(overlay.occlusion, (0.05, 0.1, 0.16, 0.24, 0.33), "fraction of the area"),
        _c(overlay.glare, (1.5, 2.2, 3.0, 4.0, 5.2), "spot radius, px at 32"),
    )
}


def corruption_names() -> list[str]:
    """Every corruption name, in registry order."""
    return list(CORRUPTIONS)


def parse_corruptions(text: str | Sequence[str]) -> tuple[str, ...]:
    """`"all"` or `"a,b"` (or a list of names) -> the names, registry-checked, duplicates
    dropped; an unknown name raises a one-line `UsageError` listing the known ones."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [str(n).strip() for n in items if str(n).strip()]
    if names == ["all"]:
        return tuple(CORRUPTIONS)
    if not names:
        raise UsageError(f"no corruption named; give 'all' or some of: {', '.join(CORRUPTIONS)}")
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise UsageError(f"unknown corruption {unknown[0]!r}; known: all, {', '.join(CORRUPTIONS)}")
    return tuple(dict.fromkeys(names))


def check_severity(severity: object) -> int:
    """`severity` as an int in 0..5, or a one-line `UsageError`."""
    if isinstance(severity, bool) or not isinstance(severity, int):
        raise UsageError(f"severity must be an integer in 0..{MAX_SEVERITY}, got {severity!r}")
    if not 0 <= severity <= MAX_SEVERITY:
        raise UsageError(f"severity must lie in 0..{MAX_SEVERITY}, got {severity}")
    return severity


def corrupt(
    x: Tensor,
    name: str,
    severity: int,
    *,
    seed: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """`x` (float N x C x H x W in [0, 1]) under corruption `name` at `severity` (0-5).

    A new tensor of the same shape, dtype and device, clamped to [0, 1]; severity 0 returns
    the input values unchanged. Per-image random choices (direction, position) come from
    `generator`, or from a generator seeded with `seed`.
    """
    if name not in CORRUPTIONS:
        parse_corruptions(name)  # raises the one-line error listing the known names
    check_images(x)
    g = generator if generator is not None else torch.Generator().manual_seed(seed)
    return CORRUPTIONS[name](x, severity, g)
