"""Inference speed of an exported model against torch eager, measured in one process.

For each model: torch eager float32 (eval, `inference_mode`), onnxruntime float32 and
onnxruntime int8 (static QDQ, per-channel, calibrated on synthetic crops), at batch 1
(latency: the best of several runs of `--calls` single-image calls) and batch 256
(throughput). Runs are interleaved (A B C A B C) so a slow phase of the machine hits every
runtime alike; the figures that matter are the ratios to torch eager (above 1: faster).

    python -m benchmarks.bench_deploy [--models wrn_16_1,lipschitz_cnn] [--calls 200]
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

from benchmarks.common import interleaved_best, markdown_table, write_result
from robusteye.data import load_dataset
from robusteye.deploy.convert import export_float, quantize_int8
from robusteye.deploy.onnxfile import OnnxClassifier, OnnxInfo
from robusteye.models import create_model


def measure(model: torch.nn.Module, x1: torch.Tensor, xb: torch.Tensor, calls: int, repeats: int):
    """(seconds per single-image call, seconds per batch) of `model`."""

    def single() -> None:
        for _ in range(calls):
            model(x1)

    def batch() -> None:
        model(xb)

    with torch.inference_mode():
        best = interleaved_best({"single": single, "batch": batch}, repeats)
    return best["single"] / calls, best["batch"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="wrn_16_1,lipschitz_cnn")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ds = load_dataset("synthetic", n=max(args.batch, 512), seed=1)
    x1, xb = ds.images[:1].contiguous(), ds.images[: args.batch].contiguous()
    threads = torch.get_num_threads()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = create_model(name, ds.num_classes, seed=0, classes=ds.classes).eval()
            info = OnnxInfo(ds.classes, "float32", (1, 32, 32), {"model": name}, "bench")
            path, qpath = Path(tmp) / f"{name}.onnx", Path(tmp) / f"{name}.int8.onnx"
            export_float(model, path, info)
            quantize_int8(
                path,
                qpath,
                ds.images[256:512].numpy(),
                replace(info, precision="int8"),
            )
            runtimes = {
                "torch eager float32": model,
                "onnxruntime float32": OnnxClassifier(path, threads=threads),
                "onnxruntime int8": OnnxClassifier(qpath, threads=threads),
            }
            timed = {k: measure(m, x1, xb, args.calls, args.repeats) for k, m in runtimes.items()}
            base_single, base_batch = timed["torch eager float32"]
            for runtime, (single, batch) in timed.items():
                rows.append({
                    "model": name,
                    "runtime": runtime,
                    "latency_ms_batch1": single * 1e3,
                    "speedup_batch1": base_single / single,
                    f"images_per_s_batch{args.batch}": args.batch / batch,
                    "throughput_ratio": base_batch / batch,
                })  # fmt: skip
    extra = {"calls": args.calls, "batch": args.batch, "repeats": args.repeats}
    path = write_result("deploy", rows, extra)
    print(markdown_table(rows, list(rows[0])))
    print(f"written {path}")


if __name__ == "__main__":
    main()
