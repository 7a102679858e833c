"""A reliable robustness figure: the worst case over a suite of diverse attacks, and checks
that tell when the attacks themselves failed.

A point is robust at eps only when it is classified correctly and every attack of the suite
fails on it: FGSM and PGD-10 (the study's figures, run on every point as references), uniform
noise, then APGD-CE, APGD-T (DLR loss; the logit margin where a model has too few classes
for DLR) and the gradient-free Square attack, each only on the points still unbroken (the
AutoAttack cascade of Croce & Hein 2020, adapted to 2- and 4-class models).

The indicators of attack failure follow Pintor et al. ("Indicators of Attack Failure",
NeurIPS 2022) and the AutoAttack flags: each is a pass or a warning with one line saying why,
so that a number is never reported without the evidence that the attacks worked.

The package: `result` (the suites' budgets and the values an audit returns), `suite` (running
the attacks, `audit`) and `indicators` (the checks of attack failure).
"""

from robusteye.evaluate.audit.result import (
    SUITES,
    TOLERANCE,
    WORST_CASE,
    AttackDone,
    AttackRun,
    AuditPoint,
    AuditResult,
    Indicator,
    Progress,
    Suite,
)
from robusteye.evaluate.audit.suite import audit, audit_eps_for_snr
from robusteye.norms import NORMS

__all__ = [
    "NORMS",
    "SUITES",
    "TOLERANCE",
    "WORST_CASE",
    "AttackDone",
    "AttackRun",
    "AuditPoint",
    "AuditResult",
    "Indicator",
    "Progress",
    "Suite",
    "audit",
    "audit_eps_for_snr",
]
