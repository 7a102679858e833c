"""Hostile input, second pass (issue 14): what robusteye writes, and where.

Nothing is written outside the folders a user named (a result row's checkpoint path, a device
node as --out), one run per folder (an OS lock), a finished training run is never overwritten,
a read-only --out fails before training, outputs follow the umask, and a full disk leaves no
staging folder behind. Every test runs the real CLI, in-process or as a real process.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robusteye.experiments import ResultsStore, RunResult
from robusteye.folders import LOCK_NAME
from robusteye.models import create_model, save_model
from tests.cli.bad_input import assert_error, image_folder, run_cli
from tests.conftest import make_dataset

ROBUSTEYE = [sys.executable, "-m", "robusteye"]
TRAIN = ["--model", "wrn", "--epochs", "1", "--batch-size", "32", "--no-progress"]


def _run_copy(tiny_run: RunResult, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_run.out, tmp_path / "run"))


def _edit_first_cell(run: Path, checkpoint: str) -> None:
    path = run / "results.jsonl"
    rows = [r.to_dict() for r in ResultsStore(path).rows()]
    first = next(r for r in rows if r["kind"] == "cell")
    first["checkpoint"] = checkpoint
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


# ---- defect 1: a result row names a checkpoint outside the run folder -----------------------


@pytest.mark.parametrize("where", ["relative", "absolute", "symlink"])
def test_report_never_writes_a_card_outside_the_run(
    tiny_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    run = _run_copy(tiny_run, tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "README.md").write_text("precious\n")
    if where == "symlink":  # a path inside the folder that leads out of it
        (run / "cells" / "escape").symlink_to(victim)
        target = "cells/escape"
    else:
        target = "../victim" if where == "relative" else str(victim)
    _edit_first_cell(run, target)
    result = run_cli(capsys, "report", run)
    assert_error(result, 1, r"checkpoint '.*' leads outside the run folder; refused")
    assert (victim / "README.md").read_text() == "precious\n"
    assert sorted(p.name for p in victim.iterdir()) == ["README.md"]


def test_experiment_resume_never_writes_a_card_outside_the_run(
    tiny_run: RunResult, tiny_spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_copy(tiny_run, tmp_path)
    (tmp_path / "victim").mkdir()
    (tmp_path / "victim" / "README.md").write_text("precious\n")
    _edit_first_cell(run, "../victim")
    result = run_cli(capsys, "experiment", tiny_spec_file, "--out", run, "--no-progress")
    assert_error(result, 1, r"leads outside the run folder", log_lines=True)
    assert (tmp_path / "victim" / "README.md").read_text() == "precious\n"


# ---- defect 3: --out naming a device node or a FIFO ------------------------------------------


def _device_node(path: Path) -> Path:
    try:  # a copy of /dev/full (char device 1, 7); needs root (or CAP_MKNOD)
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, OSError) as err:
        pytest.skip(f"cannot create a device node here: {err}")
    return path


@pytest.mark.parametrize("kind", ["device", "fifo"])
def test_out_naming_a_device_or_fifo_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    node = tmp_path / "x.npz"
    _device_node(node) if kind == "device" else os.mkfifo(node)
    before = node.stat()
    result = run_cli(capsys, "data", "synth", "--n", "8", "--out", node)
    assert_error(result, 2, r"x\.npz exists and is not a regular file; refusing to replace it")
    after = node.lstat()
    assert (after.st_mode, after.st_rdev, after.st_ino) == (
        before.st_mode,
        before.st_rdev,
        before.st_ino,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]  # no temporary file left


# ---- defect 4: two runs on one folder; a damaged middle line ---------------------------------


def test_second_run_on_a_locked_folder_stops_at_once(
    tiny_spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    holder = subprocess.Popen(  # a real second process holding the run folder
        [sys.executable, "-c", "import sys, time; from robusteye.folders import locked\n"
         "with locked(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)", str(out)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = run_cli(capsys, "experiment", tiny_spec_file, "--out", out, "--no-progress")
        assert_error(result, 2, rf"is in use by another robusteye process \(pid {holder.pid}\)")
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing else written
    finally:
        holder.kill()
        holder.wait()
    result = run_cli(capsys, "experiment", tiny_spec_file, "--out", out, "--dry-run")
    assert result[0] == 0  # a killed holder leaves no stale lock


def test_interleaved_rows_are_an_error_not_an_empty_store(
    tiny_run: RunResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_copy(tiny_run, tmp_path)
    rows = [r.to_dict() for r in ResultsStore(run / "results.jsonl").rows()]
    a, b = json.dumps(rows[0]), json.dumps(rows[1])
    mixed = a[: len(a) // 2] + b + a[len(a) // 2 :]  # what two unlocked writers produced
    (run / "results.jsonl").write_text(mixed + "\n" + json.dumps(rows[2]) + "\n")
    with pytest.raises(Exception, match=r"line 1 is not a result row: not valid JSON"):
        ResultsStore(run / "results.jsonl").rows()
    result = run_cli(capsys, "report", run)
    assert_error(result, 1, r"results\.jsonl: line 1 is not a result row.*the file is damaged")


# ---- defect 5: train into a finished run, or into a data folder ------------------------------


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(64, n_persons=16, seed=3).save(tmp_path_factory.mktemp("d") / "d.npz")


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_train_refuses_to_overwrite_a_finished_run(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert run_cli(capsys, "train", *TRAIN, "--data", data_file, "--out", out)[0] == 0
    before = _snapshot(out)
    result = run_cli(capsys, "train", *TRAIN, "--data", data_file, "--out", out, "--seed", "5")
    assert_error(result, 2, r"holds a training run; pass --resume to continue it", log_lines=True)
    assert _snapshot(out) == before
    resumed = run_cli(capsys, "train", *TRAIN, "--data", data_file, "--out", out, "--resume")
    assert (
        resumed[0] == 0
        and _snapshot(out)["last/model.safetensors"] == before["last/model.safetensors"]
    )


def test_train_refuses_a_data_folder_as_out(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eyes = image_folder(tmp_path / "eyes")
    before = _snapshot(eyes)
    for extra in ([], ["--resume"]):
        result = run_cli(capsys, "train", *TRAIN, "--data", data_file, "--out", eyes, *extra)
        assert_error(result, 2, r"eyes is not empty and holds no robusteye run", log_lines=True)
    assert _snapshot(eyes) == before
    assert sorted(p.name for p in eyes.iterdir()) == ["closed", "open"]  # no lock file either


# ---- defect 13: a read-only --out fails before the first epoch -------------------------------


def _unwritable(tmp_path: Path) -> Path:
    """An --out the OS refuses: a read-only folder, or for root (who writes anywhere) /sys."""
    if os.geteuid() != 0:
        (tmp_path / "ro").mkdir(mode=0o555)
        return tmp_path / "ro" / "run"
    target = Path("/sys/robusteye-test-run")
    try:
        target.mkdir()
    except OSError:
        return target
    target.rmdir()
    pytest.skip("no location refuses root's writes on this machine")


def test_train_into_a_read_only_location_fails_before_training(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _unwritable(tmp_path)
    result = run_cli(capsys, "train", *TRAIN, "--data", data_file, "--out", out)
    assert_error(
        result, 1, r"cannot create .*robusteye-test-run|cannot create .*ro/run", log_lines=True
    )
    assert "epoch" not in result[2]  # refused before any training
    assert not out.exists()


# ---- defect 15: outputs follow the umask -----------------------------------------------------


@pytest.mark.parametrize(
    ("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)]
)
def test_checkpoints_follow_the_umask(tmp_path: Path, umask: int, folder: int, file: int) -> None:
    old = os.umask(umask)
    try:
        ckpt = save_model(create_model("wrn_16_1", 4, seed=0), tmp_path / "ckpt")
    finally:
        os.umask(old)
    assert stat.S_IMODE(ckpt.stat().st_mode) == folder
    for name in ("model.safetensors", "config.json"):
        assert stat.S_IMODE((ckpt / name).stat().st_mode) == file


def test_training_outputs_follow_the_umask(data_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [*ROBUSTEYE, "train", *TRAIN, "--data", str(data_file), "--out", str(out)],
        capture_output=True, text=True, timeout=300, preexec_fn=lambda: os.umask(0o022),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for path in (out, out / "last", out / "best"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
    for path in (out / "last" / "model.safetensors", out / "last" / "training_state.json"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


# ---- defect 16: a full disk during training --------------------------------------------------


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG from write() instead of a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))  # a checkpoint is ~700 kB


def test_full_disk_during_training_leaves_no_staging_folder(
    data_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    start = time.monotonic()
    proc = subprocess.run(
        [*ROBUSTEYE, "train", *TRAIN, "--data", str(data_file), "--out", str(out)],
        capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: cannot write ") and "File too large" in last
    assert "Traceback" not in proc.stderr and time.monotonic() - start < 300
    leftovers = sorted(p.name for p in out.iterdir())
    assert not [name for name in leftovers if ".tmp" in name], leftovers
    assert not (out / "last").exists()
