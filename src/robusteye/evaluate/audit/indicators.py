"""The indicators of attack failure (Pintor et al., NeurIPS 2022, and the AutoAttack flags):
each check looks at the model or at the suite's points and returns a pass or a warning with
one line saying why."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
from torch import Tensor, nn

from robusteye.attacks import ATTACKS, loss_gradient, uniform_noise
from robusteye.evaluate.audit.result import TOLERANCE, AuditPoint, Indicator, Suite
from robusteye.evaluate.predict import predict_logits

#: Amplitude (L-inf, in [0, 1] pixels) of the noise that checks prediction stability: a
#: quarter of one 8-bit grey level, far below anything a person or a camera would see.
STABILITY_NOISE = 0.25 / 255
#: Share of points whose prediction may flip under that noise before it is a warning.
STABILITY_SHARE = 0.05
#: Points the unbounded-attack check runs on (it needs no more to show a masked gradient).
UNBOUNDED_POINTS = 100


def gradient_check(model: nn.Module, x: Tensor, y: Tensor, correct: Tensor) -> Indicator:
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


def stability_check(model: nn.Module, x: Tensor, logits: Tensor, seed: int) -> Indicator:
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


def white_vs_black(points: Sequence[AuditPoint]) -> Indicator:
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


def iterative_vs_single(points: Sequence[AuditPoint]) -> Indicator:
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


def monotone(points: Sequence[AuditPoint]) -> Indicator:
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


def convergence(traces: dict[float, list[float]]) -> Indicator:
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


def unbounded(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    correct: Tensor,
    norm: str,
    budget: Suite,
    seed: int,
    *,
    attacker: nn.Module | None = None,
) -> Indicator:
    """At eps = 1 (L-inf; the whole cube's diameter in L2) every image can become any other,
    so a working attack reaches 0 % accuracy. `attacker` crafts the examples when `model`
    has no gradients (an exported model: its float source)."""
    rows = correct.nonzero().flatten()[:UNBOUNDED_POINTS]
    if not rows.numel():
        return Indicator("unbounded", "pass", "no correctly classified point to attack")
    eps = 1.0 if norm == "linf" else math.sqrt(x[0].numel())
    g = torch.Generator().manual_seed(seed)
    x_adv = ATTACKS["apgd"](
        model if attacker is None else attacker,
        x[rows],
        y[rows],
        eps,
        generator=g,
        steps=budget.apgd_steps,
        norm=norm,
        loss="ce",
    )
    left = int((predict_logits(model, x_adv).argmax(1) == y[rows]).sum())
    what = f"an unbounded APGD-CE (eps {eps:.4g})"
    if left:
        return Indicator(
            "unbounded", "warn", f"{what} leaves {left} of {rows.numel()} points correct; it "
            "should reach 0 %: gradients are masked or the model ignores its input",
        )  # fmt: skip
    return Indicator("unbounded", "pass", f"{what} breaks all {rows.numel()} points it tries")
