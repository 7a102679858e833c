"""kill -9 during `robusteye train`, then the same command again: the same final model and
metrics as an uninterrupted run (real processes, real files)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def _train(out: Path) -> list[str]:
    return [sys.executable, "-m", "robusteye", "train", "--model", "wrn_16_1",
            "--data", "synthetic:n=160", "--epochs", "3", "--batch-size", "32",
            "--regime", "adversarial", "--out", str(out), "--resume", "--no-progress"]  # fmt: skip


def test_kill_9_during_training_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = subprocess.run(_train(tmp_path / "a"), capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr
    out = tmp_path / "b"
    proc = subprocess.Popen(_train(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "curves.csv").is_file():  # one epoch done: kill in the next one
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert not (out / "metrics.json").exists(), "the kill should land before the end"
    again = subprocess.run(_train(out), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert a["test"] == b["test"] and a["val"] == b["val"]
    assert (tmp_path / "a" / "curves.csv").read_text().splitlines()[0] == (
        out / "curves.csv"
    ).read_text().splitlines()[0]
    assert (tmp_path / "a" / "last" / "model.safetensors").read_bytes() == (
        out / "last" / "model.safetensors"
    ).read_bytes()
