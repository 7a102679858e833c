"""From class probabilities to eye and frame states: not visible is never guessed, a low
confidence is not visible, and a baseline moves each eye's threshold."""

from __future__ import annotations

import numpy as np
import pytest

from robusteye.errors import UsageError
from robusteye.monitor.pipeline import MonitorOptions, baseline_thresholds, states_of
from robusteye.monitor.temporal import CLOSED, NOT_VISIBLE, OPEN

FOUR = ("open", "partiallyOpen", "closed", "notVisible")
NAN = [np.nan] * 4


def test_states_from_probabilities() -> None:
    probs = np.array([
        [[0.8, 0.1, 0.05, 0.05], [0.7, 0.2, 0.05, 0.05]],  # both open
        [[0.05, 0.05, 0.85, 0.05], [0.1, 0.0, 0.8, 0.1]],  # both closed
        [[0.0, 0.0, 0.1, 0.9], NAN],  # notVisible, and no crop: not visible
        [[0.3, 0.3, 0.35, 0.05], [0.1, 0.1, 0.75, 0.05]],  # unsure left eye
        [[0.6, 0.1, 0.3, 0.0], [0.2, 0.0, 0.8, 0.0]],  # one open, one closed
    ], dtype=np.float32)  # fmt: skip
    eyes, eye_p, frames, frame_p = states_of(probs, FOUR, 0.0, None)
    assert frames[:3] == [OPEN, CLOSED, NOT_VISIBLE] and frame_p[2] is None
    assert eyes[2] == [NOT_VISIBLE, NOT_VISIBLE]
    assert eye_p[1][1] == pytest.approx(0.8 / 0.9)  # P(closed) among the visible classes
    assert frames[4] == CLOSED and frame_p[4] == pytest.approx((0.3 + 0.8) / 2)
    # a confidence floor makes the unsure eye not visible; the frame follows the other eye
    eyes, _, frames, _ = states_of(probs, FOUR, 0.5, None)
    assert eyes[3] == [NOT_VISIBLE, CLOSED] and frames[3] == CLOSED
    with pytest.raises(UsageError, match="--min-confidence"):
        MonitorOptions(min_confidence=1.0)


def test_a_baseline_sets_each_eyes_threshold_from_its_open_level() -> None:
    two = ("open", "closed")
    # this driver's open eyes read P(closed) 0.4 (left) and 0.2 (right) under this camera
    probs = np.array([[[0.6, 0.4], [0.8, 0.2]]] * 10 + [[[0.35, 0.65], [0.35, 0.65]]] * 5)
    times = [i * 0.1 for i in range(15)]
    baseline = baseline_thresholds(times, probs, two, 1.0, 0.0)
    left, right = baseline["eyes"]["left"], baseline["eyes"]["right"]
    assert left["open_level"] == pytest.approx(0.4) and left["threshold"] == pytest.approx(0.7)
    assert right["threshold"] == pytest.approx(0.6) and left["frames"] == 10
    # 0.65 closes the right eye (threshold 0.6) but not the left (0.7); the model alone
    # would call both closed
    eyes, _, _, _ = states_of(probs, two, 0.0, baseline)
    assert eyes[-1] == [OPEN, CLOSED]
    assert states_of(probs, two, 0.0, None)[0][-1] == [CLOSED, CLOSED]
    with pytest.raises(UsageError, match="not visible in the first"):
        baseline_thresholds(times, np.full_like(probs, np.nan), two, 1.0, 0.0)
