"""The temporal functions on sequences worked out by hand: exact PERCLOS, blink counts and
durations, dropped frames and not-visible stretches."""

from __future__ import annotations

import pytest

from robusteye.errors import DataError
from robusteye.monitor.temporal import (
    CLOSED,
    NOT_VISIBLE,
    OPEN,
    Event,
    Thresholds,
    closure_events,
    frame_durations,
    match_events,
    not_visible_share,
    perclos,
    perclos_windows,
    smooth_states,
)

OP, CL, NV = OPEN, CLOSED, NOT_VISIBLE


def at_fps(states: list[str], fps: float = 10.0) -> list[float]:
    return [i / fps for i in range(len(states))]


def test_one_blink_at_ten_frames_per_second() -> None:
    states = [OP] * 5 + [CL] * 3 + [OP] * 12
    times = at_fps(states)
    (blink,) = closure_events(times, states)
    assert blink.kind == "blink" and blink.frames == 3
    assert blink.start == pytest.approx(0.5) and blink.duration == pytest.approx(0.3)
    assert perclos(times, states) == pytest.approx(0.3 / 2.0)


def test_a_closure_running_to_the_end_is_long() -> None:
    states = [OP] * 10 + [CL] * 10
    (event,) = closure_events(at_fps(states), states)
    assert event.kind == "long_closure"
    assert event.end == pytest.approx(2.0) and event.duration == pytest.approx(1.0)
    # exactly the blink limit is still a blink; just over it is not
    assert closure_events(at_fps([OP, *[CL] * 5, OP]), [OP, *[CL] * 5, OP])[0].kind == "blink"
    assert (
        closure_events(at_fps([OP, *[CL] * 6, OP]), [OP, *[CL] * 6, OP])[0].kind == "long_closure"
    )


def test_a_dropped_frame_is_measured_on_the_clock() -> None:
    times = [0.0, 0.1, 0.2, 0.5, 0.6]
    states = [OP, CL, CL, CL, OP]
    assert frame_durations(times) == pytest.approx([0.1, 0.1, 0.3, 0.1, 0.1])
    (event,) = closure_events(times, states)
    assert event.start == 0.1 and event.end == 0.6 and event.frames == 3
    assert event.kind == "blink"  # 0.5 s: the limit itself
    assert perclos(times, states) == pytest.approx(0.5 / 0.7)


def test_not_visible_frames_leave_the_denominator_and_bridge_short_gaps() -> None:
    states = [OP, CL, NV, CL, OP]
    times = at_fps(states)
    (event,) = closure_events(times, states)  # a 0.1 s gap does not split the closure
    assert (event.start, event.frames) == (pytest.approx(0.1), 2)
    assert event.end == pytest.approx(0.4)
    assert perclos(times, states) == pytest.approx(0.2 / 0.4)
    assert not_visible_share(times, states) == pytest.approx(0.2)
    long_gap = [OP, CL, NV, NV, NV, CL, OP]
    events = closure_events(at_fps(long_gap), long_gap)
    assert [(e.start, e.end) for e in events] == [
        pytest.approx((0.1, 0.2)), pytest.approx((0.5, 0.6)),
    ]  # fmt: skip
    assert perclos(at_fps([NV, NV]), [NV, NV]) is None


def test_smoothing_removes_flickers_and_keeps_edges() -> None:
    assert smooth_states([OP, OP, CL, OP, OP]) == [OP] * 5
    assert smooth_states([CL, CL, OP, CL, CL]) == [CL] * 5
    assert smooth_states([OP, OP, CL, CL, CL, OP, OP]) == [OP, OP, CL, CL, CL, OP, OP]
    assert smooth_states([OP, NV, CL, NV, OP]) == [OP, NV, OP, NV, OP]  # not visible stays so
    assert smooth_states([OP, CL, OP], frames=1) == [OP, CL, OP]
    with pytest.raises(DataError, match="odd"):
        Thresholds(smooth_frames=2)


def test_perclos_over_sliding_windows() -> None:
    times = [float(t) for t in range(120)]
    states = [CL if 30 <= t < 36 else OP for t in range(120)]
    windows = dict(perclos_windows(times, states, window_s=60, step_s=1))
    assert windows[60.0] == pytest.approx(6 / 60)
    assert windows[33.0] == pytest.approx(3 / 33)  # the first minute: what there is so far
    assert windows[120.0] == 0.0
    assert len(windows) == 120


def test_events_match_by_overlap_one_to_one() -> None:
    truth = [
        Event("blink", 1.0, 1.2, 0),
        Event("blink", 3.0, 3.2, 0),
        Event("long_closure", 5, 7, 0),
    ]
    found = [
        Event("blink", 1.05, 1.25, 2), Event("blink", 1.1, 1.2, 1),
        Event("long_closure", 5.5, 7.2, 9), Event("blink", 9.0, 9.1, 1),
    ]  # fmt: skip
    assert match_events(found, truth) == (2, 2, 1)


def test_bad_sequences_are_one_line() -> None:
    with pytest.raises(DataError, match="increase strictly"):
        closure_events([0.0, 0.0], [OP, CL])
    with pytest.raises(DataError, match="2 times for 1 states"):
        perclos([0.0, 0.1], [OP])
    with pytest.raises(DataError, match="unknown frame state 'blink'"):
        perclos([0.0], ["blink"])
    assert closure_events([], []) == [] and perclos_windows([], []) == []
