"""The OS refusing writes (a file-size limit, as on a full disk) during an experiment: one
clear line, exit code 1, earlier results intact, no half-written files."""

from __future__ import annotations

import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from robusteye.experiments import ResultsStore, RunResult


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_refused_writes_give_one_line_and_keep_earlier_results(
    tiny_spec_file: Path, tiny_run: RunResult, tmp_path: Path
) -> None:
    run = Path(shutil.copytree(tiny_run.out, tmp_path / "run"))
    store = ResultsStore(run / "results.jsonl")
    rows = store.rows()
    kept = [r.to_dict() for r in rows if r.kind == "cell"][:3]
    store.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
    before = store.path.read_bytes()
    # A checkpoint (~700 kB) is larger than the limit: the next cell cannot be saved.
    cmd = [sys.executable, "-m", "robusteye", "experiment", str(tiny_spec_file), "--out",
           str(run), "--no-progress", "--no-report"]  # fmt: skip
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=600, preexec_fn=_limit_file_size
    )
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()[-1]
    assert err.startswith("error: cannot write ") and "File too large" in err
    assert "Traceback" not in proc.stderr
    assert store.path.read_bytes() == before  # earlier results intact, nothing torn
    assert not list(run.rglob("*.tmp*"))  # no half-written files left behind
