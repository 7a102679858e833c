from __future__ import annotations

import gzip
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from robusteye.cli import main
from tests.conftest import make_dataset


def _run(args):
    return subprocess.run(
        [sys.executable, "-m", "robusteye", *args], capture_output=True, text=True, timeout=120
    )


def test_info_and_preview_on_npz(tmp_path, capsys):
    path = make_dataset().save(tmp_path / "d.npz")
    assert main(["data", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "images   60" in out and "partiallyOpen" in out
    assert main(["data", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["class_counts"]["closed"] == 15 and info["n_persons"] == 12
    png = tmp_path / "grid.png"
    assert main(["data", "preview", str(path), "--out", str(png), "--per-class", "4"]) == 0
    with Image.open(png) as img:
        assert img.format == "PNG" and img.width > 200 and img.height > 200


def test_convert_folder_with_label_map(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for label in ("Open_Eyes", "Closed_Eyes"):
        (tmp_path / "eyes" / label).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (24, 24), dtype=np.uint8)).save(
                tmp_path / "eyes" / label / f"s000{i}_x.png"
            )
    out = tmp_path / "eyes.npz"
    rc = main(
        [
            "data",
            "convert",
            str(tmp_path / "eyes"),
            "--label-map",
            "Open_Eyes=open",
            "--label-map",
            "Closed_Eyes=closed",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    assert "6 crops, 2 classes, 3 persons" in capsys.readouterr().out
    assert main(["data", "info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"] == ["open", "closed"]


def test_info_on_pz(tmp_path, capsys):
    recs = [
        {
            "crop": np.random.default_rng(i).normal(size=(32, 32)).astype(np.float32),
            "label": ["open", "closed"][i % 2],
            "person": f"p{i // 2}",
        }
        for i in range(8)
    ]
    with gzip.open(tmp_path / "data.pz", "wb") as fh:
        pickle.dump(recs, fh)
    assert main(["data", "info", str(tmp_path / "data.pz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_images"] == 8 and info["meta"]["origin"] == "pz"


@pytest.mark.parametrize(
    ("setup", "code", "message"),
    [
        ("missing", 2, "no such file or folder"),
        ("empty_dir", 1, "no images found"),
        ("corrupt_npz", 1, "not a readable .npz"),
        ("bad_label_map", 2, "--label-map expects FOLDER=CLASS"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, setup, code, message):
    args = ["data", "info", str(tmp_path / "nothing")]
    if setup == "empty_dir":
        (tmp_path / "nothing").mkdir()
    elif setup == "corrupt_npz":
        (tmp_path / "x.npz").write_bytes(b"PK\x03\x04garbage")
        args = ["data", "info", str(tmp_path / "x.npz")]
    elif setup == "bad_label_map":
        (tmp_path / "nothing").mkdir()
        args += ["--label-map", "novalue"]
    proc = _run(args)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in proc.stderr


def test_debug_shows_traceback(tmp_path):
    proc = _run(["--debug", "data", "info", str(tmp_path / "missing")])
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_preview_refuses_bad_output_and_writes_nothing(tmp_path, capsys):
    path = make_dataset().save(tmp_path / "d.npz")
    assert main(["data", "preview", str(path), "--out", str(tmp_path / "grid.jpg")]) == 2
    assert "must end in .png" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


def test_version_and_help():
    proc = _run(["--version"])
    assert proc.returncode == 0 and "robusteye" in proc.stdout
    proc = _run(["data", "--help"])
    assert proc.returncode == 0 and "synth" in proc.stdout and "preview" in proc.stdout


def test_error_messages_are_one_line_by_construction() -> None:
    from robusteye.errors import DataError

    err = DataError("bad bytes b'F\\x01\n'\n  in   record 3")
    assert str(err) == "bad bytes b'F\\x01 ' in record 3"


def test_convert_keeps_a_seeded_subset_as_audit_limit_draws_it(tmp_path, capsys):
    """`data convert --limit N --seed S` makes the memorisation diagnostic's sets: the same
    N crops `sample_subset` (and so `audit --limit`) draws, in their order."""
    import torch

    from robusteye.data import load_dataset
    from robusteye.data.splits import sample_subset

    src = make_dataset(40, n_persons=10, classes=("open", "closed"), seed=2).save(
        tmp_path / "d.npz"
    )
    out = tmp_path / "sub.npz"
    assert (
        main(["data", "convert", str(src), "--limit", "12", "--seed", "3", "--out", str(out)]) == 0
    )
    assert "12 crops" in capsys.readouterr().out
    got, want = load_dataset(str(out)), sample_subset(load_dataset(str(src)), 12, 3)
    assert torch.equal(got.images, want.images) and got.persons == want.persons
    assert main(["data", "convert", str(src), "--limit", "0", "--out", str(out)]) != 0
