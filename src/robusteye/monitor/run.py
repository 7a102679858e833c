"""`monitor`: a frame source and a model to frames.csv, events.csv, summary.json and
timeline.png in an output folder (and an annotated video on request).

The folder is built aside and moved into place when complete. With `--corrupt`, the crops are
classified clean and corrupted in the same pass; the outputs are the corrupted run's, and the
summary says how far PERCLOS and the blink count moved from the clean one. When the source
has a ground truth beside it (`<video>.truth.json`, as `robusteye data demo-video` writes),
the summary gives blink precision and recall against it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from robusteye.errors import UsageError
from robusteye.io import check_replaceable, dumps_json, replace_folder, staging_folder, write_csv
from robusteye.monitor import _cv, temporal
from robusteye.monitor.eyes import EYES, Box
from robusteye.monitor.pipeline import (
    Classified,
    MonitorOptions,
    baseline_thresholds,
    classify_frames,
    states_of,
    summarise,
)
from robusteye.monitor.timeline import draw_timeline
from robusteye.monitor.video import FrameSource
from robusteye.readers import read_json

OUTPUTS = frozenset({"frames.csv", "events.csv", "summary.json", "timeline.png"})
OUTPUTS_WHAT = "a robusteye monitor folder"
TRUTH_SUFFIX = ".truth.json"


@dataclass
class Analysis:
    """States, events and summary of one set of probabilities."""

    eye_states: list[list[str]]
    eye_p: list[list[float | None]]
    states: list[str]
    p_closed: list[float | None]
    events: list[temporal.Event]
    summary: dict[str, Any]


def analyse(
    run: Classified, classes: tuple[str, ...], options: MonitorOptions, probs: np.ndarray
) -> Analysis:
    """States, events and summary of `probs` (the run's, or its clean twin)."""
    th = options.thresholds
    baseline = None
    if options.baseline_s is not None and run.times:
        baseline = baseline_thresholds(
            run.times, probs, classes, options.baseline_s, options.min_confidence
        )
    eye_states, eye_p, raw, p_closed = states_of(probs, classes, options.min_confidence, baseline)
    states = temporal.smooth_states(raw, th.smooth_frames)
    events = temporal.closure_events(run.times, states, th) if run.times else []
    summary = summarise(run.times, states, events, th)
    summary["baseline"] = baseline
    return Analysis(eye_states, eye_p, states, p_closed, events, summary)


def read_truth(source: FrameSource) -> list[temporal.Event] | None:
    """The ground-truth events beside a video (`<video>.truth.json`), if there are any."""
    if source.kind != "video":
        return None
    path = Path(source.name).with_suffix(TRUTH_SUFFIX)
    if not path.is_file():
        return None
    doc = read_json(path, error=UsageError)
    try:
        return [
            temporal.Event(str(e["kind"]), float(e["start"]), float(e["end"]), int(e["frames"]))
            for e in doc["events"]
        ]
    except (KeyError, TypeError, ValueError):
        raise UsageError(
            f"{path}: not a ground truth (expected events with kind, start, end)"
        ) from None


def _frame_rows(run: Classified, a: Analysis, classes: tuple[str, ...]) -> list[dict[str, Any]]:
    rows = []
    for i, t in enumerate(run.times):
        row: dict[str, Any] = {
            "time_s": round(t, 6),
            "state": a.states[i],
            "p_closed": a.p_closed[i],
        }
        face = run.faces[i]
        for key, box in (("face", face), *zip(EYES, run.boxes[i] or (None, None), strict=True)):
            for name, v in zip(
                "xywh", (box.x, box.y, box.w, box.h) if box else (None,) * 4, strict=True
            ):
                row[f"{key}_{name}"] = v
        for e, eye in enumerate(EYES):
            row[f"{eye}_state"] = a.eye_states[i][e]
            for c, cls in enumerate(classes):
                v = run.probs[i, e, c]
                row[f"{eye}_p_{cls}"] = None if np.isnan(v) else round(float(v), 6)
        rows.append(row)
    return rows


def _annotate(source: FrameSource, run: Classified, a: Analysis, path: Path) -> None:
    cv2 = _cv.cv2()
    writer = None
    colours = {
        temporal.OPEN: (0, 200, 0),
        temporal.CLOSED: (0, 0, 230),
        temporal.NOT_VISIBLE: (128, 128, 128),
    }
    fps = len(run.times) / max(run.times[-1] - run.times[0], 1e-6) if len(run.times) > 1 else 30.0
    try:
        for i, (_, frame) in enumerate(source):
            if i >= len(run.times):
                break
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                if not writer.isOpened():
                    raise UsageError(
                        f"cannot write the annotated video {path} (OpenCV has no mp4v writer)"
                    )
            out = frame.copy()
            boxes: list[tuple[Box | None, str]] = [(run.faces[i], a.states[i])]
            boxes += list(zip(run.boxes[i] or (None, None), a.eye_states[i], strict=True))
            for box, state in boxes:
                if box is not None:
                    cv2.rectangle(
                        out, (box.x, box.y), (box.x + box.w, box.y + box.h), colours[state], 2
                    )
            label = f"{run.times[i]:7.2f}s  {a.states[i]}"
            cv2.putText(
                out, label, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colours[a.states[i]], 2
            )
            writer.write(out)
    finally:
        if writer is not None:
            writer.release()


def monitor(
    source: FrameSource,
    model: nn.Module,
    out: str | os.PathLike[str],
    options: MonitorOptions | None = None,
    *,
    annotate: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Run the monitor on `source` with `model`, write the outputs into the folder `out`;
    returns the summary document."""
    options = options or MonitorOptions()
    check_replaceable(out, OUTPUTS, OUTPUTS_WHAT)
    classes: tuple[str, ...] = model.classes  # type: ignore[assignment]
    started = time.perf_counter()
    run = classify_frames(source, model, options)
    wall = time.perf_counter() - started
    a = analyse(run, classes, options, run.probs)
    summary: dict[str, Any] = {"source": source.name, "classes": list(classes), **a.summary}
    summary["fps_achieved"] = len(run.times) / wall if wall > 0 else None
    total = sum(run.stage.values()) or 1.0
    summary["stage_share"] = {k: v / total for k, v in run.stage.items()}
    summary["min_confidence"] = options.min_confidence
    if not run.times:
        summary["note"] = f"{source.name}: no frames could be read"
    if options.corrupt is not None:
        clean = analyse(run, classes, options, run.clean)
        name, severity = options.corrupt
        pc, pk = clean.summary.get("perclos"), a.summary.get("perclos")
        summary["corruption"] = {
            "name": name, "severity": severity, "applied_to": "the eye crops",
            "perclos_clean": pc, "perclos": pk,
            "perclos_change": None if pc is None or pk is None else pk - pc,
            "blinks_clean": clean.summary.get("blinks"), "blinks": a.summary.get("blinks"),
            "blink_change": (a.summary.get("blinks") or 0) - (clean.summary.get("blinks") or 0),
        }  # fmt: skip
    truth = read_truth(source)
    if truth is not None:
        found = [e for e in a.events if e.kind == "blink"]
        true = [e for e in truth if e.kind == "blink"]
        tp, fp, fn = temporal.match_events(found, true)
        summary["ground_truth"] = {
            "blinks": len(true), "found": len(found), "matched": tp,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "long_closures": sum(e.kind == "long_closure" for e in truth),
            "long_closures_found": sum(e.kind == "long_closure" for e in a.events),
        }  # fmt: skip
    dest = Path(out)
    with staging_folder(dest.parent, dest.name) as tmp:
        write_csv(tmp / "frames.csv", _frame_rows(run, a, classes))
        write_csv(
            tmp / "events.csv",
            [{"kind": e.kind, "start_s": e.start, "end_s": e.end,
              "duration_s": e.duration, "frames": e.frames} for e in a.events],
            fields=["kind", "start_s", "end_s", "duration_s", "frames"],
        )  # fmt: skip
        (tmp / "summary.json").write_text(dumps_json(summary, indent=2) + "\n", encoding="utf-8")
        draw_timeline(run.times, a.states, a.p_closed, a.events, summary, tmp / "timeline.png")
        replace_folder(tmp, dest, OUTPUTS, OUTPUTS_WHAT)
    if annotate is not None and run.times:
        _annotate(source, run, a, Path(annotate))
    return json.loads(dumps_json(summary))
