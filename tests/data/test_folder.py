from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from robusteye.data import load_dataset, person_kfold
from robusteye.data.imageio import _to_gray, read_image, resize_crop
from robusteye.errors import DataError, UsageError


def _png(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def _folder(root, labels=("Open_Eyes", "Closed_Eyes"), per_label=6, size=24):
    rng = np.random.default_rng(0)
    for li, label in enumerate(labels):
        for i in range(per_label):
            arr = (rng.random((size, size)) * 100 + 60 * li).astype(np.uint8)
            _png(root / label / f"s{i % 3 + 1:04d}_{li}{i:04d}_0_0.png", arr)
    return root


def test_folder_with_label_map_and_mrl_person_ids(tmp_path):
    root = _folder(tmp_path / "eyes")
    (root / "Open_Eyes" / "notes.txt").write_text("not an image, ignored")
    ds = load_dataset(root, label_map={"Open_Eyes": "open", "Closed_Eyes": "closed"})
    assert ds.classes == ("open", "closed")
    assert ds.class_counts() == {"open": 6, "closed": 6}
    assert set(ds.person_ids) == {"s0001", "s0002", "s0003"}
    assert ds.images.shape == (12, 1, 32, 32)  # 24 x 24 upscaled
    assert ds.meta["person_source"] == "regex"
    assert ds.sources[0].startswith("Closed_Eyes/")


def test_manifest_gives_person_ids(tmp_path):
    root = _folder(tmp_path / "eyes", labels=("open", "closed"), per_label=4)
    rows = ["file,label,person_id"] + [
        f"{p.relative_to(root).as_posix()},{p.parent.name},face{i // 2}"
        for i, p in enumerate(sorted(root.glob("*/*.png")))
    ]
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(root)
    assert ds.meta["person_source"] == "manifest"
    assert len(ds.person_ids) == 4


def test_explicit_classes_reject_unknown_label_folder(tmp_path):
    root = _folder(tmp_path / "eyes", labels=("open", "closed", "blink"))
    with pytest.raises(DataError, match=r"unknown label folder.*blink"):
        load_dataset(root, classes=["open", "closed"])


@pytest.mark.parametrize("make", ["missing", "empty", "one_class"])
def test_bad_folders(tmp_path, make):
    root = tmp_path / "eyes"
    if make == "missing":
        with pytest.raises(UsageError, match="no such"):
            load_dataset(root)
        return
    root.mkdir()
    if make == "one_class":
        _folder(root, labels=("open",))
    with pytest.raises(DataError, match="no images" if make == "empty" else "at least 2"):
        load_dataset(root)


def test_corrupt_and_truncated_images_name_the_file(tmp_path):
    root = _folder(tmp_path / "eyes", labels=("open", "closed"))
    good = next((root / "open").glob("*.png")).read_bytes()
    bad = root / "closed" / "zz_truncated.png"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"zz_truncated\.png"):
        load_dataset(root)
    bad.write_bytes(b"this is text pretending to be a png")
    with pytest.raises(DataError, match="not a readable image"):
        load_dataset(root)


@pytest.mark.parametrize("kind", ["rgba", "palette", "i16", "rgb_large"])
def test_image_modes_become_gray_32(tmp_path, kind):
    rng = np.random.default_rng(1)
    if kind == "rgba":
        arr = np.zeros((40, 40, 4), np.uint8)
        arr[..., :3] = 10
        arr[:20, :, 3] = 255  # top half opaque dark, bottom half transparent -> white
        img = Image.fromarray(arr, "RGBA")
    elif kind == "palette":
        img = Image.fromarray(rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)).convert("P")
    elif kind == "i16":
        img = Image.fromarray(np.full((32, 32), 65535 // 2, np.uint16))
    else:
        img = Image.fromarray(rng.integers(0, 255, (1500, 2000, 3), dtype=np.uint8))
    path = tmp_path / f"{kind}.png"
    img.save(path)
    out = read_image(path)
    assert out.shape == (32, 32) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    if kind == "rgba":
        assert out[:10].mean() < 0.1 and out[-10:].mean() > 0.9
    if kind == "i16":
        np.testing.assert_allclose(out, 0.5, atol=1e-3)


def test_float_images_scale_and_tiff_is_refused(tmp_path):
    """Float ("F") pixels keep their [0, 1] scale; a TIFF, the only format that stores them,
    is outside the formats robusteye decodes (PNG, JPEG, BMP) and refused by name."""
    img = Image.fromarray(np.full((20, 20), 0.25, np.float32))
    np.testing.assert_allclose(resize_crop(_to_gray(img)), 0.25, atol=1e-6)
    img.save(tmp_path / "float.tif")
    with pytest.raises(DataError, match=r"float\.tif: not a readable image \(robusteye reads"):
        read_image(tmp_path / "float.tif")


def test_real_folder_with_manifest(real_a):
    ds = load_dataset(real_a)
    assert ds.classes == ("open", "closed")
    assert ds.class_counts() == {"open": 2462, "closed": 2384}
    assert len(ds.person_ids) == 2423
    assert ds.meta["person_source"] == "manifest"
    # both eyes of a face share a person id, so grouped folds keep them together
    assert ds.person_counts()["Aaron_Guiel_0001"] == 2
    for train, test in person_kfold(ds, 5, seed=0):
        assert not {ds.persons[i] for i in train} & {ds.persons[i] for i in test}
