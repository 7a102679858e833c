"""The monitor: frames in, per-frame eye states, closure events and PERCLOS out.

Frames are read in order, their eyes located (`eyes.EyeLocator`) and cropped, and the crops
classified in batches by a checkpoint or an exported model. An eye is not visible when it has
no box, its box leaves the frame, the model says notVisible or its top probability is under
`min_confidence`; a frame is not visible when neither eye is. Not-visible frames are counted,
never guessed, and leave PERCLOS's denominator (`temporal`).

An eye's state is the model's decision, unless a baseline was taken (`baseline_s`): the first
seconds of the drive, eyes assumed mostly open, set each eye's closure threshold halfway
between that driver's own open-eye level under that camera (the median closure probability)
and 1. A frame with one eye open and one closed is closed when their mean closure probability
reaches the mean of their thresholds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from robusteye.corruptions.registry import CORRUPTIONS
from robusteye.errors import UsageError
from robusteye.evaluate.predict import predict_logits
from robusteye.monitor import temporal
from robusteye.monitor.eyes import EYES, Box, EyeLocator, crop_eyes, to_gray
from robusteye.monitor.temporal import CLOSED, NOT_VISIBLE, OPEN, Thresholds

#: crops classified per model call
BATCH_FRAMES = 64


@dataclass(frozen=True)
class MonitorOptions:
    """How frames become states: confidence floor, baseline, corruption, temporal thresholds."""

    min_confidence: float = 0.0
    baseline_s: float | None = None
    corrupt: tuple[str, int] | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    detect_every: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence < 1.0:
            raise UsageError(f"--min-confidence must lie in [0, 1), got {self.min_confidence}")
        if self.baseline_s is not None and not self.baseline_s > 0:
            raise UsageError(
                f"--baseline must be a positive number of seconds, got {self.baseline_s}"
            )
        if self.corrupt is not None:
            name, severity = self.corrupt
            if name not in CORRUPTIONS:
                raise UsageError(
                    f"unknown corruption {name!r} (known: {', '.join(sorted(CORRUPTIONS))})"
                )
            if not 1 <= severity <= 5:
                raise UsageError(f"corruption severity must lie in 1..5, got {severity}")


def _class_index(classes: tuple[str, ...]) -> tuple[int, int | None]:
    if "closed" not in classes:
        raise UsageError(f"the model has no 'closed' class (its classes: {', '.join(classes)})")
    return classes.index("closed"), classes.index("notVisible") if "notVisible" in classes else None


def _eye_state(
    p: list[float], index: tuple[int, int | None], min_conf: float, threshold: float | None
) -> tuple[str, float | None]:
    closed_i, hidden_i = index
    top = int(np.argmax(p))
    hidden = p[hidden_i] if hidden_i is not None else 0.0
    if top == hidden_i or max(p) < min_conf or hidden >= 1.0:
        return NOT_VISIBLE, None
    p_closed = p[closed_i] / (1.0 - hidden)
    if threshold is None:
        return (CLOSED if top == closed_i else OPEN), p_closed
    return (CLOSED if p_closed >= threshold else OPEN), p_closed


def _frame_state(
    states: list[str], p_closed: list[float | None], thresholds: list[float]
) -> tuple[str, float | None]:
    seen = [
        (s, p, t) for s, p, t in zip(states, p_closed, thresholds, strict=True) if s != NOT_VISIBLE
    ]
    if not seen:
        return NOT_VISIBLE, None
    mean = statistics.fmean(p for _, p, _ in seen if p is not None)
    kinds = {s for s, _, _ in seen}
    if len(kinds) == 1:
        return kinds.pop(), mean
    return (CLOSED if mean >= statistics.fmean(t for *_, t in seen) else OPEN), mean


@dataclass
class Classified:
    """Every frame's time, face and eye boxes, and class probabilities (F x 2 x C, NaN for an
    eye without a crop) with `--corrupt` applied, the same without it (`clean`), and the
    seconds each stage took."""

    times: list[float]
    faces: list[Box | None]
    boxes: list[tuple[Box, Box] | None]
    probs: np.ndarray
    clean: np.ndarray
    stage: dict[str, float]


def classify_frames(
    frames: Iterable[tuple[float, np.ndarray]],
    model: nn.Module,
    options: MonitorOptions,
) -> Classified:
    """Locate, crop and classify every frame (see `Classified`)."""
    classes: tuple[str, ...] = model.classes  # type: ignore[assignment]
    _class_index(classes)  # a model without a 'closed' class is refused before any frame
    locator = EyeLocator(detect_every=options.detect_every)
    g = torch.Generator().manual_seed(options.seed)
    times: list[float] = []
    faces: list[Box | None] = []
    boxes: list[tuple[Box, Box] | None] = []
    probs: list[np.ndarray] = []
    clean: list[np.ndarray] = []
    pending: list[tuple[int, np.ndarray]] = []
    stage = {"read": 0.0, "locate": 0.0, "classify": 0.0}

    def flush() -> None:
        if not pending:
            return
        start = time.perf_counter()
        crops = torch.from_numpy(np.concatenate([c for _, c in pending]))[:, None]
        p_clean = torch.softmax(predict_logits(model, crops), 1).numpy()
        p = p_clean
        if options.corrupt is not None:
            name, severity = options.corrupt
            bad = CORRUPTIONS[name](crops, severity, g)
            p = torch.softmax(predict_logits(model, bad), 1).numpy()
        for k, (i, _) in enumerate(pending):
            probs[i], clean[i] = p[2 * k : 2 * k + 2], p_clean[2 * k : 2 * k + 2]
        pending.clear()
        stage["classify"] += time.perf_counter() - start

    clock = time.perf_counter()
    for t, frame in frames:
        stage["read"] += time.perf_counter() - clock
        start = time.perf_counter()
        gray = to_gray(frame)
        located = locator.locate(gray)
        crops = crop_eyes(gray, located.eyes) if located.eyes is not None else None
        stage["locate"] += time.perf_counter() - start
        times.append(t)
        faces.append(located.face)
        boxes.append(located.eyes)
        probs.append(np.full((2, len(classes)), np.nan, dtype=np.float32))
        clean.append(probs[-1])
        if crops is not None:
            pending.append((len(probs) - 1, crops))
            if len(pending) >= BATCH_FRAMES:
                flush()
        clock = time.perf_counter()
    flush()
    empty = np.zeros((0, 2, len(classes)), dtype=np.float32)
    return Classified(
        times, faces, boxes, np.stack(probs) if probs else empty,
        np.stack(clean) if clean else empty, stage,
    )  # fmt: skip


def baseline_thresholds(
    times: list[float], probs: np.ndarray, classes: tuple[str, ...], seconds: float, min_conf: float
) -> dict[str, Any]:
    """Each eye's open level (median closure probability over the first `seconds`) and its
    threshold halfway between that level and 1."""
    index = _class_index(classes)
    out: dict[str, Any] = {"seconds": seconds, "eyes": {}}
    for e, eye in enumerate(EYES):
        seen = []
        for t, p in zip(times, probs[:, e], strict=True):
            if t - times[0] >= seconds or np.isnan(p).any():
                continue
            state, p_closed = _eye_state(p.tolist(), index, min_conf, None)
            if state != NOT_VISIBLE and p_closed is not None:
                seen.append(p_closed)
        if not seen:
            raise UsageError(
                f"--baseline {seconds:g}: the {eye} eye was not visible in the first "
                f"{seconds:g} s; start the baseline where the driver is in view"
            )
        level = statistics.median(seen)
        out["eyes"][eye] = {
            "frames": len(seen),
            "open_level": level,
            "threshold": level + (1 - level) / 2,
        }
    return out


def states_of(
    probs: np.ndarray, classes: tuple[str, ...], min_conf: float, baseline: dict[str, Any] | None
) -> tuple[list[list[str]], list[list[float | None]], list[str], list[float | None]]:
    """(eye states, eye closure probabilities, frame states, frame closure probabilities)."""
    index = _class_index(classes)
    thresholds = [baseline["eyes"][e]["threshold"] if baseline else None for e in EYES]
    default = [0.5, 0.5]
    eye_states, eye_p, frame_states, frame_p = [], [], [], []
    for frame in probs:
        states: list[str] = []
        ps: list[float | None] = []
        for e in range(2):
            if np.isnan(frame[e]).any():
                states.append(NOT_VISIBLE)
                ps.append(None)
            else:
                s, p = _eye_state(frame[e].tolist(), index, min_conf, thresholds[e])
                states.append(s)
                ps.append(p)
        fs, fp = _frame_state(
            states,
            ps,
            [t if t is not None else d for t, d in zip(thresholds, default, strict=True)],
        )
        eye_states.append(states)
        eye_p.append(ps)
        frame_states.append(fs)
        frame_p.append(fp)
    return eye_states, eye_p, frame_states, frame_p


def summarise(
    times: list[float], states: list[str], events: list[temporal.Event], thresholds: Thresholds
) -> dict[str, Any]:
    """PERCLOS overall and per window, blinks, closures and not-visible share."""
    if not times:
        return {"frames": 0, "note": "no frames: nothing to measure"}
    duration = times[-1] + temporal.frame_durations(times)[-1] - times[0]
    visible = sum(s != NOT_VISIBLE for s in states)
    blinks = [e for e in events if e.kind == "blink"]
    longs = [e for e in events if e.kind == "long_closure"]
    windows = temporal.perclos_windows(times, states, thresholds.window_s, step_s=1.0)
    summary: dict[str, Any] = {
        "frames": len(times),
        "duration_s": duration,
        "visible_frames": visible,
        "not_visible_share": temporal.not_visible_share(times, states),
        "perclos": temporal.perclos(times, states),
        "perclos_window_s": thresholds.window_s,
        "perclos_max": max((v for _, v in windows if v is not None), default=None),
        "perclos_windows": [{"end_s": t, "perclos": v} for t, v in windows],
        "blinks": len(blinks),
        "blink_rate_per_min": len(blinks) / (duration / 60.0) if duration > 0 else None,
        "blink_mean_duration_s": statistics.fmean(e.duration for e in blinks) if blinks else None,
        "long_closures": len(longs),
        "closure_mean_duration_s": statistics.fmean(e.duration for e in events) if events else None,
        "closure_longest_s": max((e.duration for e in events), default=None),
        "thresholds": vars(thresholds),
    }
    if not visible:
        summary["note"] = (
            "the eyes were never visible (no face found, or the model saw none): "
            "no PERCLOS and no blinks"
        )
    return summary
