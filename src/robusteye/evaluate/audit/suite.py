"""Running the audit's suite: the attacks in order at each eps (the reference attacks on every
point, the cascade on the points still unbroken), then the indicators of attack failure."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks import ATTACKS, effective_loss, linf_ball_eps_for_snr, linf_ball_noise
from robusteye.errors import UsageError
from robusteye.evaluate.audit.indicators import (
    convergence,
    gradient_check,
    iterative_vs_single,
    monotone,
    stability_check,
    unbounded,
    white_vs_black,
)
from robusteye.evaluate.audit.result import (
    SUITES,
    TOLERANCE,
    AttackDone,
    AttackRun,
    AuditPoint,
    AuditResult,
    Progress,
    Suite,
)
from robusteye.evaluate.predict import predict_logits
from robusteye.norms import check_norm


def audit_eps_for_snr(x: Tensor, snr: float, *, norm: str = "linf") -> float | Tensor:
    """The eps ball that an SNR in dB names, from the images alone: for L-inf, the radius
    whose strongest perturbation (the ball's corner, clipped to [0, 1]) has `snr` dB on the
    batch; for L2, one radius per image, ||x_i|| * 10^(-snr/20). No model takes part, so a
    model whose gradient is zero (or an exported one, which has none) gets the same ball."""
    if norm == "l2":
        if not math.isfinite(snr):
            raise UsageError(f"SNR must be a finite number of dB, got {snr}")
        return x.double().flatten(1).norm(dim=1).float() * 10.0 ** (-snr / 20.0)
    return linf_ball_eps_for_snr(x, snr)


#: Attacks that only query the model: on an exported model they run on it directly.
BLACK_BOX = frozenset({"noise", "square"})


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
    on_attack: AttackDone | None = None,
    source: nn.Module | None = None,
) -> AuditResult:
    """Run the attack suite at each eps (or at the ball each SNR in dB names) and check it.

    `x` is N x C x H x W in [0, 1], `y` the true labels. Every attack draws from a generator
    seeded with `seed`, so an audit is reproducible. `progress(done, planned, label)` is
    called as work proceeds, in forward-backward passes times points (the planned total
    shrinks as points break and need no further attack); `on_attack(eps, run)` after each
    attack at each eps, with its `AttackRun` (for a log line per attack).

    `source` is for a model without gradients (an exported one, run by onnxruntime): the
    gradient attacks are crafted on `source`, the float model it was exported from, and their
    examples replayed on `model` (a transfer audit); noise and Square query `model` itself.
    """
    check_norm(norm)
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
        balls = [(audit_eps_for_snr(x, s, norm=norm), s) for s in snr]
    else:
        values = [eps] if isinstance(eps, (int, float)) else list(eps or [])
        for e in values:
            if not (math.isfinite(e) and e >= 0):
                raise UsageError(f"eps must be finite and >= 0, got {e}")
        balls = [(float(e), None) for e in values]
    target_loss, note = effective_loss("dlr", classes, targeted=True)
    plan = _plan(budget, norm, classes, target_loss)
    notes = [f"APGD-T: {note}"] if note else []
    if source is not None:
        notes.append(
            "exported model: it has no gradients, so the gradient attacks were crafted on its "
            "float source model and replayed on it (transfer); noise and Square queried it"
        )
    if norm == "l2":
        notes.append("Square is an L-inf attack here: the L2 suite's black-box check is noise")
    tracker = _Tracker(progress, n * len(balls) * sum(cost for *_, cost in plan), on_attack)
    points: list[AuditPoint] = []
    traces: dict[float, list[float]] = {}
    for ball, target in balls:
        point, trace = _run_point(
            model, source, x, y, correct, ball, target, norm, plan, seed, tracker
        )
        points.append(point)
        traces[point.eps] = trace
    indicators = [
        gradient_check(model if source is None else source, x, y, correct),
        stability_check(model, x, logits, seed),
        white_vs_black(points),
        iterative_vs_single(points),
        monotone(points),
        convergence(traces),
        unbounded(model, x, y, correct, norm, budget, seed, attacker=source),
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
    if source is not None:
        settings["gradient_attacks"] = "crafted on the float source model, replayed"
    return AuditResult(
        norm, suite, seed, n, classes, settings, tuple(points), tuple(indicators), tuple(notes)
    )


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
    source: nn.Module | None,
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
    e_value = float(eps) if not isinstance(eps, Tensor) else float(eps.mean())
    for label, name, options, cascade, cost in plan:
        rows = (robust if cascade else correct).nonzero().flatten()
        started = time.perf_counter()
        broken = 0
        if rows.numel() and float(eps_t[rows].max()) > 0:
            g = torch.Generator().manual_seed(seed)
            extra: dict[str, Any] = {"trace": trace} if name == "apgd" and not trace else {}
            with warnings.catch_warnings():  # a loss fall-back is in the result's notes
                warnings.filterwarnings("ignore", message="apgd: ", category=UserWarning)
                attacker = model if source is None or name in BLACK_BOX else source
                x_adv = ATTACKS[name](
                    attacker, x[rows], y[rows], eps_t[rows], generator=g, **options, **extra
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
        run = AttackRun(label, {"attack": name, **options}, cascade, int(rows.numel()), broken,
                        accuracy, time.perf_counter() - started)  # fmt: skip
        runs.append(run)
        tracker.attack_done(e_value, run)
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
    """SNR in dB of the perturbation filling the ball: its clipped corner (L-inf, see
    `linf_ball_noise`) or eps_i per image (L2)."""
    noise2 = float(linf_ball_noise(x, eps) if norm == "linf" else (eps.double() ** 2).sum())
    if noise2 == 0.0:
        return math.inf
    return 10.0 * math.log10(float((x.double() ** 2).sum()) / noise2)


class _Tracker:
    def __init__(
        self, progress: Progress | None, planned: int, on_attack: AttackDone | None = None
    ) -> None:
        self.progress, self.planned, self.done = progress, planned, 0
        self.on_attack = on_attack

    def attack_done(self, eps: float, run: AttackRun) -> None:
        if self.on_attack is not None:
            self.on_attack(eps, run)

    def advance(self, planned_units: int, used_units: int, label: str) -> None:
        self.done += used_units
        self.planned -= planned_units - used_units
        if self.progress is not None:
            self.progress(self.done, max(self.planned, self.done), label)

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.done, "done")
