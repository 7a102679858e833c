"""`fgsm-rs` (Wong et al. 2020, "Fast is better than free"): one FGSM step of 1.25 `eps` from
a uniform random start in the ball, projected back; fast, and prone to catastrophic
overfitting, which the robust check detects (`overfit_drop`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from robusteye.train.regimes.base import warmup_tag
from robusteye.train.regimes.pgd import PGD

if TYPE_CHECKING:
    from robusteye.train.config import RegimeConfig

#: FGSM-RS's step, in units of eps (Wong et al. 2020)
FGSM_RS_STEP = 1.25


class FGSMRS(PGD):
    """PGD with one step of 1.25 eps from the random start."""

    name = "fgsm-rs"
    fields = ("eps",)
    grid_keys = ("eps", "eps_warmup", "overfit_drop", "awp_gamma")
    scalar_keys = ()
    attacks_model = True
    rank = 6
    report_rank = 5

    def tag(self, r: RegimeConfig) -> str:
        return f"fgsm-rs-e{r.eps:g}{warmup_tag(r)}"

    def label(self, r: RegimeConfig) -> str:
        return f"FGSM-RS: eps {r.eps:g}"

    def steps(self, r: RegimeConfig, eps: float) -> dict[str, Any]:
        return {"steps": 1, "alpha": FGSM_RS_STEP * eps}


REGIME = FGSMRS()
