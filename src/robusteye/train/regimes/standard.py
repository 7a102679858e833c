"""`standard`: clean data only, cross entropy."""

from __future__ import annotations

from robusteye.train.regimes.base import Regime


class Standard(Regime):
    name = "standard"
    rank = report_rank = 0


REGIME = Standard()
