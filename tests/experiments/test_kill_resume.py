"""kill -9 in the middle of a cell, then the same command again: the run completes with the
same rows as an uninterrupted run (real processes, real files)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from robusteye.experiments import ResultsStore, RunResult
from tests.experiments.conftest import comparable


def _command(spec: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "robusteye", "experiment", str(spec), "--out", str(out),
            "--no-progress", *extra]  # fmt: skip


def test_kill_9_mid_cell_then_rerun_matches_an_uninterrupted_run(
    tiny_spec_file: Path, tiny_run: RunResult, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    store = ResultsStore(out / "results.jsonl")
    proc = subprocess.Popen(_command(tiny_spec_file, out, "--no-report"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        # wait for one finished cell and the next cell's first epoch: then kill mid-cell
        while time.monotonic() < deadline and proc.poll() is None:
            if store.path.exists() and store.rows() and list(out.glob("cells/*/train/last")):
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    done_before = len(ResultsStore(store.path).rows())
    assert 1 <= done_before < 6, "the kill should land in the middle of the grid"
    second = subprocess.run(
        _command(tiny_spec_file, out), capture_output=True, text=True, timeout=600
    )
    assert second.returncode == 0, second.stderr
    assert f"resuming: {done_before} of 6 tasks already done" in second.stderr
    assert "clean acc" in second.stdout and "fgsm acc (strongest)" in second.stdout
    assert comparable(ResultsStore(store.path).rows()) == comparable(tiny_run.rows)
    assert f"report: {out / 'report.html'}" in second.stdout  # the report ends the command
    assert (out / "report.html").stat().st_size > 10_000
