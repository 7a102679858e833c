"""`scripts/device_grid.sh`: a grid run in one call on a borrowed machine, packed into parts
that come back whatever happens, and resumed from those parts by the next call. Run here on
the CPU (DEVICE=cpu) with this interpreter standing in for the GPU machine's python3."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "device_grid.sh"

pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("bash", "timeout", "tar", "split")),
    reason="needs bash, timeout, tar and split",
)

SPEC = """\
name: tiny
data: synthetic:n=60
folds: 2
models:
  - {name: wrn, options: {depth: 10, width: 1}}
train: {epochs: 1, batch_size: 32, augment: false, robust_val: 8}
regimes:
  - {kind: fgsm-rs, eps: 0.02}
evaluation:
  audit: {snr: [35], suite: quick, limit: 8}
  limit: 8
  examples: 0
"""


def _run(tmp: Path, *args: str, out: str = "out") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OUT": str(tmp / out),
        "STATE": str(tmp / "state"),
        "DEVICE": "cpu",
        "WORKERS": "1",
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def _members(parts: list[Path]) -> list[str]:
    joined = parts[0].parent / "joined.tar.gz"
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    with tarfile.open(joined) as tar:
        return tar.getnames()


def test_a_grid_comes_back_packed_and_the_next_call_resumes_it(tmp_path: Path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    first = _run(tmp_path, str(spec), "synthetic:n=60", "600")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "finished: tiny" in first.stdout
    parts = sorted((tmp_path / "out").glob("tiny.tar.gz.*"))
    assert [p.name for p in parts] == ["tiny.tar.gz.0"]
    names = _members(parts)
    for needed in ("tiny/results.jsonl", "tiny/report.html", "tiny/spec.yaml"):
        assert needed in names
    # every cell's model comes back (its audit is in its results row)
    assert sum(n.endswith("/model/model.safetensors") for n in names) == 2
    assert "2 tasks run" in (tmp_path / "out" / "tiny.log").read_text()

    (tmp_path / "state").mkdir()
    shutil.copy(parts[0], tmp_path / "state")
    again = _run(tmp_path, str(spec), "synthetic:n=60", "600", out="out2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming tiny from 1 part(s)" in again.stdout
    assert "0 tasks run, 2 resumed" in again.stdout


def test_a_run_stopped_by_its_time_limit_says_so(tmp_path: Path):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    stopped = _run(tmp_path, str(spec), "synthetic:n=60", "2")
    assert stopped.returncode == 124
    assert "stopped after 2 s: run again" in stopped.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("missing.yaml", "synthetic"), "error: no spec file missing.yaml"),
        (("experiments/quick.yaml", "synthetic", "ten"), "SECONDS must be a positive integer"),
        (("experiments/quick.yaml",), "usage: scripts/device_grid.sh SPEC DATA [SECONDS]"),
    ],
)
def test_bad_arguments_get_one_line_and_nothing_written(
    tmp_path: Path, args: tuple[str, ...], message: str
):
    result = _run(tmp_path, *args)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert message in result.stderr
    assert not (tmp_path / "out").exists()
