"""`robusteye monitor SOURCE --model M --out DIR`: eye states, blinks and PERCLOS from frames.

The work is the library's (`robusteye.monitor`); this module reads the options, refuses bad
combinations before any frame is read, and prints the summary.
"""

from __future__ import annotations

from pathlib import Path

import click

from robusteye.cli.table import echo, echo_block
from robusteye.deploy.onnxfile import load_classifier
from robusteye.errors import UsageError
from robusteye.io import check_not_input, check_replaceable
from robusteye.monitor.pipeline import MonitorOptions
from robusteye.monitor.run import OUTPUTS, OUTPUTS_WHAT, monitor
from robusteye.monitor.temporal import Thresholds
from robusteye.monitor.video import open_frames


def _corruption(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    name, _, severity = text.partition(":")
    if not name or not severity.isdigit():
        raise UsageError(f"--corrupt expects NAME:SEVERITY (e.g. gaussian_noise:3), got {text!r}")
    return name, int(severity)


@click.command(name="monitor")
@click.argument("source", required=False)
@click.option("--model", "model_path", required=True, help="Checkpoint folder or exported .onnx.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--fps", type=float, default=None, help="Frame rate (required for a folder).")
@click.option("--window", "window_s", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="PERCLOS window in seconds.")  # fmt: skip
@click.option("--camera", type=click.IntRange(min=0), default=None, help="Read camera N.")
@click.option("--duration", type=click.FloatRange(min=0.1), default=None,
              help="With --camera: stop after this many seconds of frames.")  # fmt: skip
@click.option("--annotate", type=click.Path(dir_okay=False), default=None,
              help="Also write the video with boxes and states drawn (.mp4).")  # fmt: skip
@click.option("--min-confidence", type=float, default=0.0, show_default=True,
              help="An eye whose top class probability is lower is not visible.")  # fmt: skip
@click.option("--corrupt", "corrupt_text", default=None, metavar="NAME:SEVERITY",
              help="Corrupt the eye crops; the summary says what it changed.")  # fmt: skip
@click.option("--baseline", "baseline_s", type=float, default=None,
              help="Seconds at the start whose open eyes set each eye's threshold.")  # fmt: skip
@click.option("--blink-max", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Longest closure (s) that is a blink.")  # fmt: skip
@click.option("--detect-every", type=click.IntRange(min=1), default=3, show_default=True,
              help="Detect the face every N frames, tracking it in between.")  # fmt: skip
def monitor_command(
    source: str | None,
    model_path: str,
    out: str,
    fps: float | None,
    window_s: float,
    camera: int | None,
    duration: float | None,
    annotate: str | None,
    min_confidence: float,
    corrupt_text: str | None,
    baseline_s: float | None,
    blink_max: float,
    detect_every: int,
) -> None:
    """Find the eyes in SOURCE (a video file or a folder of frames) or a --camera, classify
    them with --model, and write frames.csv, events.csv, summary.json and timeline.png."""
    thresholds = Thresholds(blink_max_s=blink_max, window_s=window_s)
    options = MonitorOptions(
        min_confidence=min_confidence, baseline_s=baseline_s, corrupt=_corruption(corrupt_text),
        thresholds=thresholds, detect_every=detect_every,
    )  # fmt: skip
    frames = open_frames(source, fps=fps, camera=camera)
    if annotate is not None and frames.kind == "camera":
        raise UsageError("--annotate needs a video file or a folder of frames, not a camera")
    if duration is not None:
        frames.limit = max(1, round(duration * (fps or 30.0)))
    dest = Path(out)
    check_replaceable(dest, OUTPUTS, OUTPUTS_WHAT)
    check_not_input(dest, inputs=[source, model_path], folders=[source, model_path])
    if not Path(model_path).exists():
        raise UsageError(f"no such checkpoint folder or exported model: {model_path}")
    model = load_classifier(model_path, channels_last=True)
    summary = monitor(frames, model, out, options, annotate=annotate)
    echo_block(_describe(summary))
    echo(f"wrote {out}")


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _describe(s: dict) -> str:  # type: ignore[type-arg]
    if not s.get("frames"):
        return f"{s.get('source')}: {s.get('note', 'no frames')}"
    lines = [
        f"{s['frames']} frames, {s['duration_s']:.1f} s, {s['fps_achieved']:.1f} frames/s; "
        f"eyes not visible {s['not_visible_share']:.1%} of the time"
    ]
    if s.get("perclos") is None:
        lines.append(s.get("note", "the eyes were never visible"))
    else:
        lines.append(
            f"PERCLOS {s['perclos']:.3f} (max over {s['perclos_window_s']:g} s windows "
            f"{s['perclos_max']:.3f}); {s['blinks']} blinks ({s['blink_rate_per_min']:.1f}/min), "
            f"{s['long_closures']} long closures, longest {s['closure_longest_s'] or 0:.2f} s"
        )
    if s.get("baseline"):
        levels = ", ".join(f"{e} open level {v['open_level']:.3f} -> threshold {v['threshold']:.3f}"
                           for e, v in s["baseline"]["eyes"].items())  # fmt: skip
        lines.append(f"baseline: {levels}")
    if s.get("corruption"):
        c = s["corruption"]
        lines.append(
            f"{c['name']}:{c['severity']}: PERCLOS {_num(c['perclos_clean'])} -> "
            f"{_num(c['perclos'])}, blinks {c['blinks_clean']} -> {c['blinks']}"
        )
    if s.get("ground_truth"):
        g = s["ground_truth"]
        lines.append(
            f"against the ground truth: blink precision {_num(g['precision'])}, recall "
            f"{_num(g['recall'])} ({g['matched']} of {g['blinks']} blinks, {g['found']} found)"
        )
    return "\n".join(lines)
