"""Drowsiness signals from per-frame eye states: pure functions of (times, states).

A frame is `OPEN`, `CLOSED` or `NOT_VISIBLE` (no face, no eye, the model says notVisible, or
its confidence is too low). Times are seconds and may be irregular (a dropped frame is a
longer gap): every duration is measured on the clock, never by counting frames. A frame lasts
until the next one starts; the last lasts the median frame interval.

- PERCLOS P80 (Wierwille et al. 1994; Dinges & Grace 1998): the share of time in a window
  that the eyes are at least 80 % closed, here the time in `CLOSED` over the time in which the
  eyes were visible. Not-visible time is left out of the denominator and counted apart, never
  guessed. The usual window is one minute.
- Closure events: a run of `CLOSED` frames (after `smooth_states`; a not-visible gap shorter
  than `Thresholds.bridge_s` between closed frames does not end it). A run up to
  `Thresholds.blink_max_s` (500 ms: a normal blink closes in about 100 ms and is over within
  about 500 ms, Caffier et al. 2003) is a blink; a longer one is a long closure.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from robusteye.errors import DataError

OPEN, CLOSED, NOT_VISIBLE = "open", "closed", "not_visible"
STATES = (OPEN, CLOSED, NOT_VISIBLE)


@dataclass(frozen=True)
class Thresholds:
    """The temporal thresholds, in seconds, with their defaults from the literature."""

    #: longest closure that is a blink (Caffier et al. 2003: over within about 500 ms)
    blink_max_s: float = 0.5
    #: a not-visible gap at most this long between closed frames does not end a closure
    bridge_s: float = 0.2
    #: PERCLOS window (Wierwille et al. 1994: one minute)
    window_s: float = 60.0
    #: frames in the majority filter of `smooth_states` (1: no smoothing)
    smooth_frames: int = 3

    def __post_init__(self) -> None:
        if not (self.blink_max_s > 0 and self.bridge_s >= 0 and self.window_s > 0):
            raise DataError("thresholds must be positive durations in seconds")
        if self.smooth_frames < 1 or self.smooth_frames % 2 == 0:
            raise DataError(f"smooth_frames must be odd and >= 1, got {self.smooth_frames}")


@dataclass(frozen=True)
class Event:
    """One closure: `kind` is "blink" or "long_closure"; `start` is its first closed frame's
    time, `end` the time the eyes were seen open again (or the recording ended)."""

    kind: str
    start: float
    end: float
    frames: int

    @property
    def duration(self) -> float:
        return self.end - self.start


def check_sequence(times: Sequence[float], states: Sequence[str]) -> None:
    """Equal lengths, strictly increasing finite times, known states; else `DataError`."""
    if len(times) != len(states):
        raise DataError(f"{len(times)} times for {len(states)} states")
    for a, b in itertools.pairwise(times):
        if not b > a:
            raise DataError(f"frame times must increase strictly, got {a} then {b}")
    unknown = set(states) - set(STATES)
    if unknown:
        raise DataError(f"unknown frame state {sorted(unknown)[0]!r} (known: {', '.join(STATES)})")


def frame_durations(times: Sequence[float]) -> list[float]:
    """How long each frame lasts: until the next frame; the last, the median interval."""
    gaps = [b - a for a, b in itertools.pairwise(times)]
    return [*gaps, statistics.median(gaps)] if gaps else [0.0] * len(times)


def smooth_states(states: Sequence[str], frames: int = 3) -> list[str]:
    """A majority filter over `frames` visible neighbours (centred) on open/closed; a
    not-visible frame stays not visible and takes no part in its neighbours' votes. Removes
    single-frame flickers without shifting the edges of longer runs."""
    if frames <= 1:
        return list(states)
    half = frames // 2
    visible = [i for i, s in enumerate(states) if s != NOT_VISIBLE]
    out = list(states)
    for k, i in enumerate(visible):
        window = [
            states[visible[j]] for j in range(max(0, k - half), min(len(visible), k + half + 1))
        ]
        closed = sum(s == CLOSED for s in window)
        if 2 * closed > len(window):
            out[i] = CLOSED
        elif 2 * closed < len(window):
            out[i] = OPEN
    return out


def closure_events(
    times: Sequence[float], states: Sequence[str], thresholds: Thresholds | None = None
) -> list[Event]:
    """Blinks and long closures of an (already smoothed) state sequence."""
    th = thresholds or Thresholds()
    check_sequence(times, states)
    ends = [*times[1:], times[-1] + frame_durations(times)[-1]] if times else []
    events: list[Event] = []
    start: int | None = None
    last_closed = -1
    count = 0

    def close_run(end_time: float) -> None:
        assert start is not None
        begin = times[start]
        kind = "blink" if end_time - begin <= th.blink_max_s + 1e-9 else "long_closure"
        events.append(Event(kind, begin, end_time, count))

    for i, state in enumerate(states):
        if state == CLOSED:
            if start is not None and times[i] - ends[last_closed] > th.bridge_s + 1e-9:
                close_run(ends[last_closed])
                start = None
            if start is None:
                start, count = i, 0
            last_closed, count = i, count + 1
        elif state == OPEN and start is not None:
            close_run(times[i])
            start = None
    if start is not None:
        close_run(ends[last_closed])
    return events


def perclos(
    times: Sequence[float],
    states: Sequence[str],
    start: float | None = None,
    end: float | None = None,
) -> float | None:
    """Time closed over time visible, for the frames starting in [start, end); None when
    no visible frame lies there."""
    check_sequence(times, states)
    closed = visible = 0.0
    for t, s, d in zip(times, states, frame_durations(times), strict=True):
        if (start is not None and t < start) or (end is not None and t >= end):
            continue
        if s != NOT_VISIBLE:
            visible += d
            closed += d if s == CLOSED else 0.0
    return closed / visible if visible > 0 else None


def perclos_windows(
    times: Sequence[float], states: Sequence[str], window_s: float = 60.0, step_s: float = 1.0
) -> list[tuple[float, float | None]]:
    """(window end, PERCLOS over the `window_s` before it) every `step_s`, from the first
    frame plus `step_s` (or one window, whichever is shorter) to the last frame's end."""
    if not times:
        return []
    check_sequence(times, states)
    finish = times[-1] + frame_durations(times)[-1]
    out: list[tuple[float, float | None]] = []
    edge = times[0] + min(step_s, window_s)
    while edge <= finish + 1e-9:
        out.append((edge, perclos(times, states, max(times[0], edge - window_s), edge)))
        edge += step_s
    return out


def not_visible_share(times: Sequence[float], states: Sequence[str]) -> float:
    """Share of the recording's time in which the eyes were not visible."""
    check_sequence(times, states)
    durations = frame_durations(times)
    total = sum(durations)
    hidden = sum(d for s, d in zip(states, durations, strict=True) if s == NOT_VISIBLE)
    return hidden / total if total > 0 else 0.0


def match_events(
    found: Sequence[Event], truth: Sequence[Event], tolerance_s: float = 0.1
) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives): a found event matches one true
    event of the same kind whose interval it overlaps (widened by `tolerance_s`), each
    true event at most once, earliest first."""
    used: set[int] = set()
    hits = 0
    for event in found:
        for j, true in enumerate(truth):
            if j in used or true.kind != event.kind:
                continue
            if event.start <= true.end + tolerance_s and true.start <= event.end + tolerance_s:
                used.add(j)
                hits += 1
                break
    return hits, len(found) - hits, len(truth) - hits
