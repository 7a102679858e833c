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
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks import (
    ATTACKS,
    effective_loss,
    eps_for_snr,
    loss_gradient,
    uniform_noise,
)
from robusteye.errors import UsageError
from robusteye.evaluate.predict import predict_logits
from robusteye.io import dumps_json

NORMS = ("linf", "l2")
#: The name of the audit's worst case where it sits among robustness curves (result rows).
WORST_CASE = "worst case"
#: A difference in accuracy within this is noise, not evidence (one point in a hundred).
TOLERANCE = 0.01
#: Amplitude (L-inf, in [0, 1] pixels) of the noise that checks prediction stability: a
#: quarter of one 8-bit grey level, far below anything a person or a camera would see.
STABILITY_NOISE = 0.25 / 255
#: Share of points whose prediction may flip under that noise before it is a warning.
STABILITY_SHARE = 0.05
#: Points the unbounded-attack check runs on (it needs no more to show a masked gradient).
UNBOUNDED_POINTS = 100


@dataclass(frozen=True)
class Suite:
    """Budgets of one suite: steps of PGD and APGD, targets of APGD-T, queries of Square."""

    pgd_steps: int
    apgd_steps: int
    targets: int
    queries: int


SUITES: dict[str, Suite] = {
    "standard": Suite(pgd_steps=10, apgd_steps=100, targets=9, queries=5000),
    "quick": Suite(pgd_steps=10, apgd_steps=25, targets=3, queries=1000),
}


@dataclass(frozen=True)
class AttackRun:
    """One attack at one eps. `accuracy` counts a point robust when this attack and every
    attack before it in the cascade failed on it: for the reference attacks (run on every
    point, `cascade` False) that is the attack's own accuracy, for the cascade the robust
    accuracy after it."""

    name: str
    settings: dict[str, Any]
    cascade: bool
    attacked: int
    broken: int
    accuracy: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "settings": self.settings,
            "cascade": self.cascade,
            "attacked": self.attacked,
            "broken": self.broken,
            "accuracy": self.accuracy,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class AuditPoint:
    """The suite at one eps (one value, or one per image when it comes from an L2 SNR)."""

    eps: float
    snr_db: float
    target_snr_db: float | None
    clean_accuracy: float
    attacks: tuple[AttackRun, ...]
    worst_accuracy: float
    robust: Tensor  # bool, one per example: correct and unbroken by every attack
    broken_by: tuple[str | None, ...]  # the first attack that broke each point (None: robust)

    def accuracy(self, name: str) -> float:
        for run in self.attacks:
            if run.name == name:
                return run.accuracy
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "eps": self.eps,
            "snr_db": self.snr_db if math.isfinite(self.snr_db) else None,
            "target_snr_db": self.target_snr_db,
            "clean_accuracy": self.clean_accuracy,
            "worst_accuracy": self.worst_accuracy,
            "attacks": [a.to_dict() for a in self.attacks],
            "broken_by": list(self.broken_by),
        }


@dataclass(frozen=True)
class Indicator:
    """One check of attack failure: `status` is "pass" or "warn", `reason` one line."""

    name: str
    status: str
    reason: str

    @property
    def warned(self) -> bool:
        return self.status == "warn"

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "reason": self.reason}


@dataclass(frozen=True)
class AuditResult:
    norm: str
    suite: str
    seed: int
    n: int
    classes: int
    settings: dict[str, Any]
    points: tuple[AuditPoint, ...]
    indicators: tuple[Indicator, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def attack_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.points[0].attacks) if self.points else ()

    @property
    def warnings(self) -> tuple[Indicator, ...]:
        return tuple(i for i in self.indicators if i.warned)

    def to_dict(self) -> dict[str, Any]:
        return {
            "norm": self.norm,
            "suite": self.suite,
            "seed": self.seed,
            "n": self.n,
            "classes": self.classes,
            "settings": self.settings,
            "notes": list(self.notes),
            "points": [p.to_dict() for p in self.points],
            "indicators": [i.to_dict() for i in self.indicators],
        }

    def to_json(self) -> str:
        return dumps_json(self.to_dict(), indent=2)


Progress = Callable[[int, int, str], None]  # (units done, units planned, what runs now)


def audit_eps_for_snr(
    model: nn.Module, x: Tensor, y: Tensor, snr: float, *, norm: str = "linf", seed: int = 0
) -> float | Tensor:
    """The eps ball that an SNR in dB names: for L-inf, the eps at which FGSM (whose
    perturbation fills the ball's corners, so it has the lowest SNR in the ball) reaches
    `snr` on the batch; for L2, one radius per image, ||x_i|| * 10^(-snr/20)."""
    if norm == "l2":
        if not math.isfinite(snr):
            raise UsageError(f"SNR must be a finite number of dB, got {snr}")
        return x.double().flatten(1).norm(dim=1).float() * 10.0 ** (-snr / 20.0)
    return eps_for_snr(model, x, y, snr, attack="fgsm", seed=seed)


def audit(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Sequence[float] | None = None,
    *,
    snr: Sequence[float] | None = None,
    norm: str = "linf",
    suite: str = "standard",
    seed: int = 0,
    progress: Progress | None = None,
) -> AuditResult:
    """Run the attack suite at each eps (or at the ball each SNR in dB names) and check it.

    `x` is N x C x H x W in [0, 1], `y` the true labels. Every attack draws from a generator
    seeded with `seed`, so an audit is reproducible. `progress(done, planned, label)` is
    called as work proceeds, in forward-backward passes times points (the planned total
    shrinks as points break and need no further attack).
    """
    if norm not in NORMS:
        raise UsageError(f"norm must be 'linf' or 'l2', got {norm!r}")
    if suite not in SUITES:
        raise UsageError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
    if (eps is None) == (snr is None):
        raise UsageError("give either eps or snr values, not both")
    if x.shape[0] == 0:
        raise UsageError("the audit needs at least one image")
    budget = SUITES[suite]
    x, y = x.detach().cpu(), y.detach().cpu()
    logits = predict_logits(model, x)
    n, classes = x.shape[0], logits.shape[1]
    correct = logits.argmax(1) == y
    balls: list[tuple[float | Tensor, float | None]]
    if snr is not None:
        balls = [(audit_eps_for_snr(model, x, y, s, norm=norm, seed=seed), s) for s in snr]
    else:
        values = [eps] if isinstance(eps, (int, float)) else list(eps or [])
        for e in values:
            if not (math.isfinite(e) and e >= 0):
                raise UsageError(f"eps must be finite and >= 0, got {e}")
        balls = [(float(e), None) for e in values]
    target_loss, note = effective_loss("dlr", classes, targeted=True)
    plan = _plan(budget, norm, classes, target_loss)
    notes = [f"APGD-T: {note}"] if note else []
    if norm == "l2":
        notes.append("Square is an L-inf attack here: the L2 suite's black-box check is noise")
    tracker = _Tracker(progress, n * len(balls) * sum(cost for *_, cost in plan))
    points: list[AuditPoint] = []
    traces: dict[float, list[float]] = {}
    for ball, target in balls:
        point, trace = _run_point(model, x, y, correct, ball, target, norm, plan, seed, tracker)
        points.append(point)
        traces[point.eps] = trace
    indicators = [
        _gradient_check(model, x, y, correct),
        _stability_check(model, x, logits, seed),
        _white_vs_black(points),
        _iterative_vs_single(points),
        _monotone(points),
        _convergence(traces),
        _unbounded(model, x, y, correct, norm, budget, seed),
    ]
    tracker.finish()
    settings = {
        "suite": suite,
        "pgd_steps": budget.pgd_steps,
        "apgd_steps": budget.apgd_steps,
        "apgd_targets": min(budget.targets, classes - 1),
        "apgd_t_loss": target_loss,
        "square_queries": budget.queries,
        "tolerance": TOLERANCE,
    }
    return AuditResult(
        norm, suite, seed, n, classes, settings, tuple(points), tuple(indicators), tuple(notes)
    )


# ---- the suite -------------------------------------------------------------------------------


_Plan = list[tuple[str, str, dict[str, Any], bool, int]]  # label, attack, options, cascade, cost


def _plan(budget: Suite, norm: str, classes: int, target_loss: str) -> _Plan:
    """The attacks in order, with their registry names, options and cost in passes."""
    single: tuple[str, str, dict[str, Any]] = (
        ("fgsm", "fgsm", {})
        if norm == "linf"
        else ("fgm", "pgd", {"steps": 1, "norm": "l2", "random_start": False})
    )
    targets = min(budget.targets, classes - 1)
    return [
        (*single, False, 1),
        (f"pgd-{budget.pgd_steps}", "pgd", {"steps": budget.pgd_steps, "norm": norm}, False,
         budget.pgd_steps),
        ("noise", "noise", {"norm": norm} if norm == "l2" else {}, False, 1),
        ("apgd-ce", "apgd", {"steps": budget.apgd_steps, "norm": norm, "loss": "ce"}, True,
         budget.apgd_steps),
        ("apgd-t", "apgd-t", {"steps": budget.apgd_steps, "norm": norm, "n_targets": targets,
                              "loss": target_loss}, True, budget.apgd_steps * targets),
        *([("square", "square", {"queries": budget.queries}, True, budget.queries)]
          if norm == "linf" else []),
    ]  # fmt: skip


def _run_point(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    correct: Tensor,
    eps: float | Tensor,
    target: float | None,
    norm: str,
    plan: _Plan,
    seed: int,
    tracker: _Tracker,
) -> tuple[AuditPoint, list[float]]:
    n = x.shape[0]
    robust = correct.clone()
    broken_by: list[str | None] = [None if bool(c) else "clean" for c in correct]
    runs: list[AttackRun] = []
    trace: list[float] = []
    eps_t = eps if isinstance(eps, Tensor) else torch.full((n,), float(eps))
    for label, name, options, cascade, cost in plan:
        rows = (robust if cascade else correct).nonzero().flatten()
        started = time.perf_counter()
        broken = 0
        if rows.numel() and float(eps_t[rows].max()) > 0:
            g = torch.Generator().manual_seed(seed)
            extra: dict[str, Any] = {"trace": trace} if name == "apgd" and not trace else {}
            with warnings.catch_warnings():  # a loss fall-back is in the result's notes
                warnings.filterwarnings("ignore", message="apgd: ", category=UserWarning)
                x_adv = ATTACKS[name](
                    model, x[rows], y[rows], eps_t[rows], generator=g, **options, **extra
                )
            fooled = predict_logits(model, x_adv).argmax(1) != y[rows]
            for i in rows[fooled].tolist():
                if robust[i]:
                    broken_by[i] = label
            broken = int(fooled.sum())
            robust[rows[fooled]] = False
        tracker.advance(n * cost, rows.numel() * cost, label)
        # the cascade's figure is the robust accuracy so far; a reference attack's its own
        accuracy = float(robust.float().mean()) if cascade else float(correct.sum() - broken) / n
        runs.append(
            AttackRun(label, {"attack": name, **options}, cascade, int(rows.numel()), broken,
                      accuracy, time.perf_counter() - started)
        )  # fmt: skip
    e_value = float(eps) if not isinstance(eps, Tensor) else float(eps.mean())
    point = AuditPoint(
        eps=e_value,
        snr_db=_ball_snr(x, eps_t, norm),
        target_snr_db=target,
        clean_accuracy=float(correct.float().mean()),
        attacks=tuple(runs),
        worst_accuracy=float(robust.float().mean()),
        robust=robust,
        broken_by=tuple(broken_by),
    )
    return point, trace


def _ball_snr(x: Tensor, eps: Tensor, norm: str) -> float:
    """SNR in dB of a perturbation filling the ball: eps at every pixel (L-inf, as FGSM where
    nothing clips) or eps_i per image (L2)."""
    per_pixel = x[0].numel()
    noise2 = (eps.double() ** 2).sum() * (per_pixel if norm == "linf" else 1)
    if float(noise2) == 0.0:
        return math.inf
    return 10.0 * math.log10(float((x.double() ** 2).sum()) / float(noise2))


class _Tracker:
    def __init__(self, progress: Progress | None, planned: int) -> None:
        self.progress, self.planned, self.done = progress, planned, 0

    def advance(self, planned_units: int, used_units: int, label: str) -> None:
        self.done += used_units
        self.planned -= planned_units - used_units
        if self.progress is not None:
            self.progress(self.done, max(self.planned, self.done), label)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.done, "done")


# ---- indicators of attack failure -------------------------------------------------------------


def _gradient_check(model: nn.Module, x: Tensor, y: Tensor, correct: Tensor) -> Indicator:
    rows = correct.nonzero().flatten()
    if not rows.numel():
        return Indicator("gradients", "pass", "no correctly classified point to check")
    grad = loss_gradient(model, x[rows], y[rows]).flatten(1)
    finite = torch.isfinite(grad).all(1)
    zero = finite & (grad.abs().amax(1) == 0)
    bad, nil = int((~finite).sum()), int(zero.sum())
    if bad:
        return Indicator(
            "gradients", "warn", f"{bad} of {rows.numel()} points have non-finite input "
            "gradients: gradient attacks are blind there",
        )  # fmt: skip
    if nil / rows.numel() > TOLERANCE:
        return Indicator(
            "gradients", "warn", f"{nil} of {rows.numel()} correctly classified points have a "
            "zero input gradient (a saturated softmax or a non-differentiable layer): gradient "
            "attacks cannot move them",
        )  # fmt: skip
    return Indicator(
        "gradients", "pass", f"input gradients finite and non-zero at {rows.numel()} points"
    )


def _stability_check(model: nn.Module, x: Tensor, logits: Tensor, seed: int) -> Indicator:
    g = torch.Generator().manual_seed(seed + 1)
    noisy = predict_logits(model, uniform_noise(x, STABILITY_NOISE, generator=g))
    flipped = int((noisy.argmax(1) != logits.argmax(1)).sum())
    share = flipped / x.shape[0]
    what = f"{flipped} of {x.shape[0]} predictions change under noise of a quarter grey level"
    if share > STABILITY_SHARE:
        return Indicator(
            "stability", "warn", f"{what}: the model is unstable (randomised or "
            "shattered), so single gradient estimates mislead",
        )  # fmt: skip
    return Indicator("stability", "pass", what)


def _white_vs_black(points: Sequence[AuditPoint]) -> Indicator:
    """Square or noise breaking points every gradient attack missed: the gradients lie."""
    worst = ("", 0, 0, 0.0)
    for p in points:
        black = sum(b in ("square", "noise") for b in p.broken_by)
        if black > worst[1]:
            worst = (f"eps {p.eps:.4g}", black, len(p.broken_by), black / len(p.broken_by))
    label, count, total, share = worst
    if count and share > TOLERANCE:
        return Indicator(
            "white-vs-black", "warn", f"at {label} black-box attacks broke {count} of {total} "
            "points that every gradient attack missed: gradients are masked or obfuscated",
        )  # fmt: skip
    if count:
        return Indicator(
            "white-vs-black", "pass", f"black-box attacks broke only {count} point(s) the "
            "gradient attacks missed (within tolerance)",
        )  # fmt: skip
    return Indicator(
        "white-vs-black", "pass", "no black-box attack broke a point the gradient attacks missed"
    )


def _iterative_vs_single(points: Sequence[AuditPoint]) -> Indicator:
    """An iterative attack weaker than one gradient step means the loss surface is masked."""
    single, iterative = points[0].attacks[0].name if points else "", ""
    for p in points:
        one, many = p.attacks[0], p.attacks[1]
        iterative = many.name
        if many.accuracy > one.accuracy + TOLERANCE:
            return Indicator(
                "iterative-vs-single", "warn", f"at eps {p.eps:.4g} {many.name} leaves "
                f"{many.accuracy:.3f} accuracy, above {one.name}'s {one.accuracy:.3f}: more "
                "steps should never help the model",
            )  # fmt: skip
    return Indicator(
        "iterative-vs-single", "pass", f"{iterative} is at or below {single} at every eps"
    )


def _monotone(points: Sequence[AuditPoint]) -> Indicator:
    ordered = sorted(points, key=lambda p: p.eps)
    for a, b in pairwise(ordered):
        if b.worst_accuracy > a.worst_accuracy + TOLERANCE:
            return Indicator(
                "monotone", "warn", f"worst-case accuracy rises from {a.worst_accuracy:.3f} at "
                f"eps {a.eps:.4g} to {b.worst_accuracy:.3f} at eps {b.eps:.4g}: a larger ball "
                "holds every smaller one, so the attacks failed at the larger",
            )  # fmt: skip
    if len(ordered) < 2:
        return Indicator("monotone", "pass", "one eps: nothing to compare")
    return Indicator("monotone", "pass", "worst-case accuracy falls (or holds) as eps grows")


def _convergence(traces: dict[float, list[float]]) -> Indicator:
    """APGD-CE's best loss still rising over its last tenth of steps: stopped too soon."""
    for e, trace in sorted(traces.items()):
        if len(trace) < 10:
            continue
        tail = max(1, len(trace) // 10)
        start, end, last = trace[0], trace[-1], trace[-1 - tail]
        total = end - start
        if total > 0 and (end - last) > 0.05 * total:
            share = (end - last) / total
            return Indicator(
                "convergence", "warn", f"at eps {e:.4g} APGD-CE's loss rose {share:.0%} of its "
                f"total gain in its last {tail} steps: more steps would likely lower accuracy",
            )  # fmt: skip
    return Indicator("convergence", "pass", "APGD-CE's loss had levelled off by its last steps")


def _unbounded(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    correct: Tensor,
    norm: str,
    budget: Suite,
    seed: int,
) -> Indicator:
    """At eps = 1 (L-inf; the whole cube's diameter in L2) every image can become any other,
    so a working attack reaches 0 % accuracy."""
    rows = correct.nonzero().flatten()[:UNBOUNDED_POINTS]
    if not rows.numel():
        return Indicator("unbounded", "pass", "no correctly classified point to attack")
    eps = 1.0 if norm == "linf" else math.sqrt(x[0].numel())
    g = torch.Generator().manual_seed(seed)
    x_adv = ATTACKS["apgd"](
        model, x[rows], y[rows], eps, generator=g, steps=budget.apgd_steps, norm=norm, loss="ce"
    )
    left = int((predict_logits(model, x_adv).argmax(1) == y[rows]).sum())
    what = f"an unbounded APGD-CE (eps {eps:.4g})"
    if left:
        return Indicator(
            "unbounded", "warn", f"{what} leaves {left} of {rows.numel()} points correct; it "
            "should reach 0 %: gradients are masked or the model ignores its input",
        )  # fmt: skip
    return Indicator("unbounded", "pass", f"{what} breaks all {rows.numel()} points it tries")
