"""Certificates checked against attacks: certified accuracy next to the audit's empirical
robust accuracy at the same L2 size, and the bound next to an empirical lower bound.

A certificate is a proof, so the audit can never break a certified point: `CertCheck.sound`
is False only if the bound or the code is wrong, and `robusteye certify` then says so and
exits non-zero. The two figures also bracket the truth from both sides: the model's real
robust accuracy lies between the certified one (a lower bound) and the audit's (an upper
bound), and the Lipschitz constant between the empirical lower bound and `lipschitz`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from robusteye.evaluate.audit import AttackDone, AuditResult, Progress, audit
from robusteye.evaluate.certify import CertResult, certify, lipschitz_lower_bound
from robusteye.models.base import EyeModel


@dataclass(frozen=True)
class CertCheck:
    """A certificate run, the audit at the same L2 sizes (None when skipped), and the
    empirical lower bound of the Lipschitz constant."""

    result: CertResult
    lower_bound: float
    audit: AuditResult | None

    @property
    def empirical(self) -> tuple[float | None, ...]:
        """The audit's worst-case accuracy at each point (None without an audit)."""
        if self.audit is None:
            return tuple(None for _ in self.result.points)
        return tuple(p.worst_accuracy for p in self.audit.points)

    @property
    def violations(self) -> int:
        """Points certified at some size yet broken there by an attack (0 unless unsound)."""
        if self.audit is None:
            return 0
        return sum(
            int((c.certified & ~a.robust.to(c.certified.device)).sum())
            for c, a in zip(self.result.points, self.audit.points, strict=True)
        )

    @property
    def sound(self) -> bool:
        return self.violations == 0 and self.lower_bound <= self.result.lipschitz

    def to_dict(self) -> dict[str, Any]:
        out = self.result.to_dict()
        out["lipschitz_lower_bound"] = self.lower_bound
        out["tightness"] = self.lower_bound / self.result.lipschitz
        for point, empirical in zip(out["points"], self.empirical, strict=True):
            point["empirical_robust_accuracy"] = empirical
        out["violations"] = self.violations
        out["sound"] = self.sound
        if self.audit is not None:
            out["audit"] = {
                "suite": self.audit.suite,
                "indicators": [i.to_dict() for i in self.audit.indicators],
            }
        return out


def check_certificates(
    model: EyeModel,
    x: Tensor,
    y: Tensor,
    *,
    radii: Sequence[float] | None = None,
    snr: Sequence[float] | None = None,
    suite: str | None = "quick",
    lower_bound_images: int = 64,
    seed: int = 0,
    progress: Progress | None = None,
    on_attack: AttackDone | None = None,
) -> CertCheck:
    """Certify `x`, audit it in the same L2 balls (`suite` None skips the audit), and search
    the first `lower_bound_images` images for the largest local Lipschitz constant."""
    result = certify(model, x, y, radii=radii, snr=snr)
    audited = None
    if suite is not None:
        audited = audit(
            model, x, y, None if radii is None else list(radii),
            snr=None if snr is None else list(snr), norm="l2", suite=suite, seed=seed,
            progress=progress, on_attack=on_attack,
        )  # fmt: skip
    lower = lipschitz_lower_bound(model, x[:lower_bound_images], seed=seed)
    return CertCheck(result=result, lower_bound=lower, audit=audited)
