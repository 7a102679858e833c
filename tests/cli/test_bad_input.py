"""Bad input, rows 1-6: paths, empty folders, corrupt and non-image files, image modes and
huge images, label folders. Every row runs the real CLI in-process (see tests/bad_input.py);
rows 7-9 are in test_bad_input_files.py, rows 10-12 in test_bad_input_cli.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli.bad_input import (
    assert_error,
    assert_only,
    blank_png,
    image_folder,
    info_json,
    run_cli,
    write_png,
)

# ---- rows 1-4: paths, empty folders, corrupt and non-image files -----------------------------


def test_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row 1: `data info nope/` and `data convert nope/ --out X` are usage errors."""
    assert_error(run_cli(capsys, "data", "info", tmp_path / "nope/"), 2, r"no such file or folder")
    run = run_cli(capsys, "data", "convert", tmp_path / "nope", "--out", tmp_path / "out.npz")
    assert_error(run, 2, r"no such file or folder: .*nope")
    assert_only(tmp_path)


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row 2: an empty folder, and one whose label folders hold no images."""
    (tmp_path / "empty").mkdir()
    run = run_cli(capsys, "data", "convert", tmp_path / "empty", "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"no images found in .*empty \(expected .*<label>/\*\.png")
    (tmp_path / "empty" / "open").mkdir()
    (tmp_path / "empty" / "open" / "notes.txt").write_text("no images here")
    run = run_cli(capsys, "data", "convert", tmp_path / "empty", "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"no images found")
    assert_only(tmp_path, "empty")


def _cut_png(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _cut_jpeg(path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    jpeg = path.with_suffix(".jpg")
    Image.fromarray(noise).save(jpeg, quality=90)
    path.unlink()
    data = jpeg.read_bytes()
    jpeg.write_bytes(data[: len(data) // 2])


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).bytes(300))


def _empty_file(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        (_cut_png, r"s0000_open\.png: corrupt image \(image file is truncated"),
        (_cut_jpeg, r"s0000_open\.jpg: corrupt image \(image file is truncated"),
        (_random_bytes, r"s0000_open\.png: not a readable image"),
        (_empty_file, r"s0000_open\.png: not a readable image"),
    ],
    ids=["png-cut-in-half", "jpeg-truncated", "random-bytes-as-png", "empty-png"],
)
def test_corrupt_image_in_folder(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: Callable[[Path], None],
    pattern: str,
) -> None:
    """Row 3: a corrupt or truncated image is an error naming the file."""
    root = image_folder(tmp_path / "eyes")
    damage(root / "open" / "s0000_open.png")
    run = run_cli(capsys, "data", "convert", root, "--out", tmp_path / "out.npz")
    assert_error(run, 1, pattern)
    assert_only(tmp_path, "eyes")


@pytest.mark.parametrize("name", ["notes.txt", "crop.png", "labels.csv"])
def test_single_file_is_not_a_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """Row 4: a file that is not .npz or data.pz (even a real image) is not a data source."""
    path = tmp_path / name
    if name.endswith(".png"):
        write_png(path)
    else:
        path.write_text("open,closed\n")
    pattern = rf"unsupported data source .*{re.escape(name)}: expected 'synthetic'"
    assert_error(run_cli(capsys, "data", "info", path), 2, pattern)
    assert_error(
        run_cli(capsys, "data", "convert", path, "--out", tmp_path / "out.npz"), 2, pattern
    )
    assert_only(tmp_path, name)


def test_non_image_files_in_a_folder_are_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Row 4 (success): text files, hidden files and nested folders next to images are skipped."""
    root = image_folder(tmp_path / "eyes")
    (root / "README.md").write_text("about these crops")
    (root / "open" / "notes.txt").write_text("not an image")
    (root / "open" / ".DS_Store").write_bytes(b"\x00\x01")
    (root / "open" / "._s0000_open.png").write_bytes(b"resource fork")
    write_png(root / "open" / "nested" / "s0009_open.png")
    (root / ".cache").mkdir()
    write_png(root / ".cache" / "s0009_x.png")
    info = info_json(capsys, root)
    assert info["n_images"] == 4 and info["class_counts"] == {"open": 2, "closed": 2}


# ---- row 5: image modes are converted; huge images are refused with bounded memory ----------


def _mode_images(root: Path) -> None:
    """Uniform images of many modes: white-ish ones under open/, black ones under closed/."""
    o, c = root / "open", root / "closed"
    o.mkdir(parents=True)
    c.mkdir(parents=True)
    Image.fromarray(np.full((40, 40), 65535, np.uint16)).save(o / "s0001_16bit.png")
    Image.fromarray(np.zeros((40, 40), np.uint16)).save(c / "s0001_16bit.png")
    Image.new("RGBA", (30, 30), (0, 0, 0, 0)).save(o / "s0002_transparent.png")  # onto white
    Image.new("RGBA", (30, 30), (0, 0, 0, 255)).save(c / "s0002_opaque.png")
    Image.new("RGB", (30, 30), (255, 255, 255)).convert("P").save(o / "s0003_palette.png")
    Image.new("RGB", (30, 30), (0, 0, 0)).convert("P").save(c / "s0003_palette.png")
    Image.new("LA", (20, 20), (0, 0)).save(o / "s0004_la.png")
    Image.new("1", (64, 64), 0).save(c / "s0004_bilevel.png")
    Image.new("RGB", (33, 17), (255, 255, 255)).save(o / "s0005_rgb.bmp")
    Image.new("CMYK", (48, 48), (0, 0, 0, 255)).save(c / "s0005_cmyk.jpg", quality=100)
    Image.new("L", (16, 16), 255).save(o / "s0006_small.JPEG", quality=100)
    transparent = Image.new("P", (30, 30), 0)
    transparent.putpalette([0, 0, 0] * 256)
    transparent.save(o / "s0007_palette_alpha.png", transparency=0)


def test_modes_are_converted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row 5 (success): 16-bit, RGBA, LA, palette, 1-bit, CMYK, BMP, any size -> 32 x 32 gray."""
    _mode_images(tmp_path / "eyes")
    info = info_json(capsys, tmp_path / "eyes")
    assert info["class_counts"] == {"open": 7, "closed": 5}
    by_class = info["pixels"]["mean_by_class"]
    assert by_class["open"] == pytest.approx(1.0, abs=0.01)  # alpha composited on white
    assert by_class["closed"] == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize(
    ("size", "pattern"),
    [
        ((20000, 20000), r"s0009_huge\.png: image too large \(Image size \(400000000 pixels\)"),
        ((10000, 10000), r"s0009_huge\.png: image too large \(10000 x 10000 pixels; .*64,000,000"),
    ],
    ids=["20000x20000-pillow-bomb-check", "10000x10000-max-pixels"],
)
def test_huge_image_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    size: tuple[int, int],
    pattern: str,
) -> None:
    """Row 5: a huge 1-bit PNG (kilobytes on disk) is refused before it is decoded."""
    root = image_folder(tmp_path / "eyes")
    blank_png(root / "closed" / "s0009_huge.png", *size)
    run = run_cli(capsys, "data", "convert", root, "--out", tmp_path / "out.npz")
    assert_error(run, 1, pattern)
    assert_only(tmp_path, "eyes")


def test_large_jpeg_is_decoded_at_reduced_scale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row 5: MAX_IMAGE_PIXELS counts decoded pixels, so JPEG draft mode reads what PNG cannot."""
    monkeypatch.setattr("robusteye.data.imageio.MAX_IMAGE_PIXELS", 1_000_000)
    root = image_folder(tmp_path / "eyes")
    Image.new("L", (1600, 1600), 255).save(root / "open" / "s0009_big.jpg", quality=90)
    info = info_json(capsys, root)  # decoded at 1/8 scale: 200 x 200
    assert info["class_counts"] == {"open": 3, "closed": 2}
    Image.new("L", (1600, 1600), 255).save(root / "open" / "s0009_big.png")
    run = run_cli(capsys, "data", "info", root)
    assert_error(run, 1, r"s0009_big\.png: image too large \(1600 x 1600 pixels")


# ---- row 6: label folders ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "code", "pattern"),
    [
        (
            ["--classes", "open,closed"],
            1,
            r"unknown label folder\(s\) sleepy \(expected one of open, closed\)",
        ),
        (["--label-map", "drowsy=closed"], 2, r"label map names folders that do not exist.*drowsy"),
        (["--label-map", "sleepy"], 2, r"--label-map expects FOLDER=CLASS, got 'sleepy'"),
        (["--person-regex", "(unclosed"], 2, r"invalid person regex '\(unclosed'"),
        (["--manifest", "nope.csv"], 2, r"no such manifest: nope\.csv"),
    ],
    ids=[
        "unknown-label-folder",
        "label-map-missing-folder",
        "label-map-syntax",
        "regex",
        "manifest",
    ],
)
def test_label_folder_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    code: int,
    pattern: str,
) -> None:
    """Row 6: a label folder outside --classes, and bad folder options."""
    root = image_folder(tmp_path / "eyes", {"open": 2, "closed": 2, "sleepy": 1})
    run = run_cli(capsys, "data", "convert", root, *options, "--out", tmp_path / "out.npz")
    assert_error(run, code, pattern)
    assert_only(tmp_path, "eyes")


def test_label_folders_without_classes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row 6 (success): without --classes every label folder is a class; --label-map merges."""
    root = image_folder(tmp_path / "eyes", {"open": 2, "closed": 2, "sleepy": 1})
    assert info_json(capsys, root)["classes"] == ["open", "closed", "sleepy"]
    info = info_json(capsys, root, "--label-map", "sleepy=closed")
    assert info["class_counts"] == {"open": 2, "closed": 3}


def test_one_label_folder_is_not_enough(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row 6: a folder with a single class cannot train a classifier."""
    root = image_folder(tmp_path / "eyes", {"open": 3})
    run = run_cli(capsys, "data", "convert", root, "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"need images of at least 2 classes, found only \['open'\]")
    assert_only(tmp_path, "eyes")
