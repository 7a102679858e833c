"""Frames per second of `robusteye monitor` at 640 x 480, and each stage's share.

The clip is the demo clip (`robusteye data demo-video`, 640 x 480, 30 fps); the model is
`wrn_16_1` (untrained: the speed does not depend on the weights) as a torch checkpoint and,
when the deploy extra is installed, as its float ONNX export. The baseline is the same
pipeline detecting the face in every frame; the default detects it every third frame and
tracks it in between. Goal: at least 30 frames per second, detection included.

    python -m benchmarks.bench_monitor [--seconds 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import markdown_table, write_result
from robusteye.models import create_model
from robusteye.monitor.demo import render_demo
from robusteye.monitor.pipeline import MonitorOptions, classify_frames
from robusteye.monitor.video import open_frames

CLASSES = ("open", "partiallyOpen", "closed", "notVisible")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "demo.mp4"
        render_demo(clip, seconds=args.seconds)
        model = create_model("wrn_16_1", 4, seed=0, classes=CLASSES).eval()
        models: dict[str, torch.nn.Module] = {"torch wrn_16_1": model}
        if importlib.util.find_spec("onnxruntime") is not None:
            from robusteye.deploy.convert import export_float
            from robusteye.deploy.onnxfile import OnnxClassifier, OnnxInfo

            path = Path(tmp) / "model.onnx"
            export_float(model, path, OnnxInfo(CLASSES, "float32", (1, 32, 32), {}, "bench"))
            models["onnxruntime float32 wrn_16_1"] = OnnxClassifier(path)
        for name, m in models.items():
            timed = {}
            for every in (1, 3):
                best = None
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    run = classify_frames(
                        open_frames(str(clip)), m, MonitorOptions(detect_every=every)
                    )
                    wall = time.perf_counter() - start
                    if best is None or wall < best[0]:
                        best = (wall, run)
                assert best is not None
                timed[every] = best
            base = len(timed[1][1].times) / timed[1][0]
            for every, (wall, run) in timed.items():
                total = sum(run.stage.values())
                rows.append({
                    "model": name,
                    "face detection": "every frame" if every == 1 else f"every {every} frames",
                    "frames_per_s": len(run.times) / wall,
                    "ratio_to_every_frame": len(run.times) / wall / base,
                    **{f"share_{k}": v / total for k, v in run.stage.items()},
                })  # fmt: skip
    extra = {"frames": len(timed[1][1].times), "size": "640x480", "targets": {"frames_per_s": 30}}
    path = write_result("monitor", rows, extra)
    print(markdown_table(rows, list(rows[0])))
    print(f"written {path}")


if __name__ == "__main__":
    main()
