"""timeline.png: eye state, closure probability and PERCLOS over time, events marked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from robusteye.monitor.temporal import CLOSED, NOT_VISIBLE, OPEN, Event

COLOURS = {OPEN: "#4c9a2a", CLOSED: "#c0392b", NOT_VISIBLE: "#b0b0b0"}


def draw_timeline(
    times: list[float],
    states: list[str],
    p_closed: list[float | None],
    events: list[Event],
    summary: dict[str, Any],
    path: Path,
) -> None:
    """Three panels sharing the time axis: the state band, the closure probability with the
    events shaded, PERCLOS over its sliding window."""
    fig = Figure(figsize=(10, 5.5), layout="constrained")
    band, prob, perclos = fig.subplots(3, 1, sharex=True, height_ratios=(1, 2, 2))
    for t0, t1, s in zip(times, [*times[1:], times[-1] if times else 0.0], states, strict=False):
        band.axvspan(t0, t1, color=COLOURS[s], lw=0)
    band.set_yticks([])
    band.set_title(f"{summary.get('source', '')}: {summary.get('blinks', 0)} blinks, "
                   f"{summary.get('long_closures', 0)} long closures, PERCLOS "
                   f"{summary['perclos']:.3f}" if summary.get("perclos") is not None
                   else f"{summary.get('source', '')}: the eyes were never visible",
                   fontsize=10)  # fmt: skip
    handles = [band.bar(0, 0, color=c, label=s) for s, c in COLOURS.items()]
    band.legend(handles=handles, loc="upper right", fontsize=7, ncols=3)
    prob.plot(times, [p if p is not None else float("nan") for p in p_closed], lw=0.8, color="#333")
    for e in events:
        prob.axvspan(
            e.start,
            e.end,
            color="#c0392b" if e.kind == "long_closure" else "#f39c12",
            alpha=0.3,
            lw=0,
        )
    prob.set_ylim(-0.02, 1.02)
    prob.set_ylabel("P(closed)")
    windows = summary.get("perclos_windows") or []
    perclos.plot(
        [w["end_s"] for w in windows],
        [w["perclos"] if w["perclos"] is not None else float("nan") for w in windows],
        color="#2c3e50",
    )
    perclos.set_ylabel(f"PERCLOS ({summary.get('perclos_window_s', 60):g} s)")
    perclos.set_xlabel("time (s)")
    perclos.set_ylim(bottom=0)
    fig.savefig(path, dpi=110)
