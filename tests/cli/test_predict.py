"""`robusteye predict`: batched labels and probabilities; bad files reported and skipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robusteye.cli import main
from robusteye.data import load_dataset
from robusteye.data.imageio import read_image
from robusteye.models import create_model, load_model, save_model


@pytest.fixture
def images(tmp_path: Path) -> Path:
    ds = load_dataset("synthetic:n=40")
    folder = tmp_path / "crops" / "nested"
    folder.mkdir(parents=True)
    for i in range(5):
        pixels = (ds.images[i, 0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).resize((64, 48)).save(folder / f"eye{i}.png")
    return tmp_path / "crops"


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    return save_model(create_model("wrn_16_1", 4, seed=3), tmp_path / "ckpt")


def test_folder_json_matches_the_model(
    images: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(checkpoint), str(images), "--json", "--batch-size", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] == [] and len(doc["predictions"]) == 5
    files = sorted(images.rglob("*.png"))
    x = torch.from_numpy(np.stack([read_image(f) for f in files]))[:, None]
    expected = torch.softmax(load_model(checkpoint)(x), 1)
    model = load_model(checkpoint)
    for pred, path, p in zip(doc["predictions"], files, expected, strict=True):
        assert pred["path"] == str(path)
        probs = pred["probabilities"]
        assert list(probs) == list(model.classes)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert list(probs.values()) == pytest.approx(p.tolist(), abs=1e-5)
        assert pred["label"] == model.classes[int(p.argmax())]


def test_bad_files_are_skipped_and_the_exit_code_says_so(
    images: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    good = next(images.rglob("eye0.png"))
    assert main(["predict", str(checkpoint), str(good), str(corrupt), str(text)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{good}\t")
    err = captured.err.strip().splitlines()
    assert err[0].startswith("skipped: ") and "corrupt.png" in err[0]
    assert err[1].startswith("skipped: ") and "notes.txt: not a readable image" in err[1]
    assert err[2] == "error: 2 of 3 file(s) could not be read"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing_ckpt", "IMAGES"], "no such checkpoint folder or exported model: missing_ckpt"),
        (["CKPT", "nowhere.png"], "no such file or folder: nowhere.png"),
        (["CKPT", "EMPTY"], "no image files"),
    ],
)
def test_user_errors_are_one_line(
    images: Path,
    checkpoint: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "empty").mkdir()
    subst = {"IMAGES": str(images), "CKPT": str(checkpoint), "EMPTY": str(tmp_path / "empty")}
    code = main(["predict", *(subst.get(a, a) for a in args)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err and "\n" not in err
