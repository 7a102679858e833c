"""Shared benchmark plumbing: best-of-N timing and a JSON + markdown result file."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results"


def best_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """Minimum wall time of `fn` over `repeats` runs (the least disturbed by a noisy machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def interleaved_best(fns: dict[str, Callable[[], Any]], repeats: int = 3) -> dict[str, float]:
    """Minimum wall time of each function, timing them in turn (A B C A B C ...) after one
    warm-up each, so a slow phase of a noisy machine hits every candidate alike."""
    for fn in fns.values():
        fn()
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def environment() -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_result(name: str, rows: list[dict[str, Any]], extra: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {"benchmark": name, "environment": environment(), **extra, "rows": rows}, indent=2
        )
        + "\n"
    )
    return path


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
