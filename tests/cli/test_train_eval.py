"""End-to-end through the command line: train a tiny model, then evaluate, attack, transfer."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest

from robusteye.cli import main
from tests.conftest import make_dataset

TRAIN = [
    "--model",
    "wrn",
    "--epochs",
    "1",
    "--batch-size",
    "32",
    "--no-progress",
    "--val-fraction",
    "0.2",
    "--test-fraction",
    "0.2",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    data = make_dataset(96, n_persons=16, seed=4).save(root / "d.npz")
    assert main(["train", *TRAIN, "--data", str(data), "--out", str(root / "a")]) == 0
    assert (
        main(
            [
                "train",
                *TRAIN,
                "--data",
                str(data),
                "--out",
                str(root / "b"),
                "--regime",
                "adversarial",
                "--seed",
                "1",
            ]
        )
        == 0
    )
    return root, data


def test_train_writes_checkpoints_curves_metrics(runs):
    root, _ = runs
    for name in ("best", "last"):
        assert (root / "a" / name / "model.safetensors").is_file()
    assert (root / "a" / "curves.csv").read_text().startswith("epoch,lr,")
    metrics = json.loads((root / "a" / "metrics.json").read_text())
    assert metrics["test"]["n"] > 0 and 0.0 <= metrics["test"]["accuracy"] <= 1.0
    splits = json.loads((root / "a" / "splits.json").read_text())
    assert not set(splits["train"]) & set(splits["test"])


def test_evaluate_and_attack_print_tables(runs, capsys, tmp_path):
    root, data = runs
    assert main(["evaluate", str(root / "a" / "last"), "--data", str(data)]) == 0
    assert "accuracy" in capsys.readouterr().out
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "attack",
                str(root / "a" / "last"),
                "--data",
                str(data),
                "--eps",
                "0.01,0.1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "SNR dB" in text and "ROC-AUC" in text
    result = json.loads(out.read_text())
    assert [p["eps"] for p in result["points"]] == [0.0, 0.01, 0.1]
    assert (
        main(
            [
                "attack",
                str(root / "a" / "last"),
                "--data",
                str(data),
                "--attack",
                "noise",
                "--snr",
                "30",
            ]
        )
        == 0
    )
    snr_row = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert abs(float(snr_row[1]) - 30.0) < 0.1


def test_transfer_matrix(runs, capsys):
    root, data = runs
    pair = [str(root / "a" / "last"), str(root / "b" / "last")]
    assert main(["transfer", *pair, "--data", str(data), "--eps", "0.01,0.05"]) == 0
    out = capsys.readouterr().out
    assert "crafted on" in out and "[1]" in out and "eps 0.05" in out
    assert main(["transfer", *pair, "--data", str(data), "--snr", "30"]) == 0
    assert "SNR 30.0 dB" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["attack", "{ckpt}", "--data", "{data}", "--eps", "-0.1"], 2, "--eps values"),
        (["attack", "{ckpt}", "--data", "{data}", "--eps", "a,b"], 2, "numbers"),
        (["attack", "{ckpt}", "--data", "{data}"], 2, "--eps LIST or --snr LIST"),
        (["attack", "{ckpt}", "--data", "{data}", "--snr", "-50"], 2, "cannot reach"),
        (["evaluate", "{data}", "--data", "{data}"], 1, "checkpoint"),
        (
            ["train", "--model", "resnet9", "--out", "{tmp}/x", "--data", "{data}"],
            2,
            "unknown model",
        ),
        (["train", *TRAIN, "--out", "{tmp}/x", "--data", "{data}", "--lr", "-1"], 2, "lr"),
    ],
)
def test_cli_user_errors(runs, capsys, tmp_path, args, code, message):
    root, data = runs
    fill = {"ckpt": str(root / "a" / "last"), "data": str(data), "tmp": str(tmp_path)}
    assert main([a.format(**fill) for a in args]) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_split_restricts_to_held_out_persons(runs, capsys, tmp_path):
    root, data = runs
    splits = root / "a" / "splits.json"
    assert (
        main(
            ["evaluate", str(root / "a" / "last"), "--data", str(data), "--split", f"{splits}:test"]
        )
        == 0
    )
    n_test = int(capsys.readouterr().out.split()[0])
    test_persons = json.loads(splits.read_text())["test"]
    from robusteye.data import load_dataset

    persons = load_dataset(data).persons
    assert 0 < n_test < 96 and n_test == sum(p in test_persons for p in persons)
    assert (
        main(
            [
                "evaluate",
                str(root / "a" / "last"),
                "--data",
                str(data),
                "--split",
                f"{splits}:nokey",
            ]
        )
        == 2
    )


def _train_stderr(data, out, *flags, tty):
    """stderr of a real `robusteye train` process, written to a terminal (a pty) or a pipe."""
    args = [sys.executable, "-m", "robusteye", "train", *[a for a in TRAIN if a != "--no-progress"]]
    args += ["--data", str(data), "--out", str(out), *flags]
    if not tty:
        return subprocess.run(args, capture_output=True, text=True, check=True).stderr
    leader, follower = pty.openpty()
    # a terminal of 80 columns: tqdm draws nothing on a pty of 0 x 0
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait() == 0
    return b"".join(chunks).decode(errors="replace")


def test_progress_bars_only_on_a_terminal_by_default(runs, tmp_path):
    _, data = runs
    piped = _train_stderr(data, tmp_path / "p", tty=False)
    assert "epoch   1/1" in piped and "batch/s" not in piped and "\r" not in piped
    assert "batch/s" in _train_stderr(data, tmp_path / "t", tty=True)
    forced = _train_stderr(data, tmp_path / "f", "--progress", tty=False)
    assert "batch/s" in forced
