from __future__ import annotations

import numpy as np
import pytest
import torch

from robusteye.data import EyeDataset, load_dataset
from robusteye.errors import DataError, UsageError
from tests.conftest import make_dataset


def _kwargs(**over):
    base = dict(
        images=torch.rand(4, 1, 32, 32),
        labels=torch.tensor([0, 1, 0, 1]),
        classes=("open", "closed"),
        persons=("a", "a", "b", "b"),
    )
    base.update(over)
    return base


def test_valid_dataset_properties(tiny_ds):
    assert len(tiny_ds) == 60
    assert tiny_ds.num_classes == 4
    assert tiny_ds.class_counts() == {
        "open": 15,
        "partiallyOpen": 15,
        "closed": 15,
        "notVisible": 15,
    }
    assert len(tiny_ds.person_ids) == 12
    groups = tiny_ds.person_index()
    assert groups.shape == (60,) and groups.max() == 11


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"images": torch.rand(4, 1, 32, 32, dtype=torch.float64)}, "float32"),
        ({"images": torch.rand(4, 3, 32, 32)}, "N x 1 x 32 x 32"),
        ({"images": torch.rand(4, 1, 24, 24)}, "N x 1 x 32 x 32"),
        ({"images": torch.rand(4, 1, 32, 32) * 2}, r"\[0, 1\]"),
        ({"images": torch.full((4, 1, 32, 32), float("nan"))}, "NaN"),
        ({"labels": torch.tensor([0, 1, 0, 2])}, "labels must lie"),
        ({"labels": torch.tensor([0, 1, 0, -1])}, "labels must lie"),
        ({"labels": torch.tensor([0, 1, 0])}, "lengths differ"),
        ({"labels": torch.tensor([0.0, 1.0, 0.0, 1.0])}, "int64"),
        ({"persons": ("a", "b")}, "lengths differ"),
        ({"persons": ("a", "", "b", "b")}, "person ids"),
        ({"classes": ("open",)}, "at least 2 classes"),
        ({"classes": ("open", "open")}, "repeat"),
        ({"sources": ("x",)}, "source names"),
    ],
)
def test_invalid_dataset_is_refused(over, match):
    with pytest.raises(DataError, match=match):
        EyeDataset(**_kwargs(**over))


def test_subset_keeps_rows_and_classes(tiny_ds):
    sub = tiny_ds.subset([3, 0, 7])
    assert len(sub) == 3
    assert torch.equal(sub.images[1], tiny_ds.images[0])
    assert sub.persons == (tiny_ds.persons[3], tiny_ds.persons[0], tiny_ds.persons[7])
    assert sub.classes == tiny_ds.classes


def test_of_classes_keeps_the_named_classes_relabelled_in_their_order(tiny_ds):
    """tiny_ds labels rows round robin over open, partiallyOpen, closed, notVisible."""
    two = tiny_ds.of_classes(("closed", "open"))
    kept = [i for i in range(len(tiny_ds)) if i % 4 in (0, 2)]
    assert two.classes == ("closed", "open") and len(two) == len(kept)
    assert torch.equal(two.images, tiny_ds.images[kept])
    assert two.labels.tolist() == [1 if i % 4 == 0 else 0 for i in kept]
    assert two.persons == tuple(tiny_ds.persons[i] for i in kept)
    assert len(tiny_ds.of_classes(("squint", "wink"))) == 0


def test_npz_roundtrip_is_exact(tmp_path):
    ds = make_dataset(classes=("open", "closed", "squint"))
    ds = EyeDataset(
        ds.images,
        ds.labels,
        ds.classes,
        ds.persons,
        sources=tuple(f"f{i}.png" for i in range(len(ds))),
        meta={"origin": "test"},
    )
    path = ds.save(tmp_path / "d.npz")
    back = load_dataset(path)
    assert torch.equal(back.images, ds.images)
    assert torch.equal(back.labels, ds.labels)
    assert back.classes == ds.classes
    assert back.persons == ds.persons
    assert back.sources == ds.sources
    assert back.meta == {"origin": "test"}
    assert EyeDataset.load(path).classes == ds.classes


def test_save_needs_npz_suffix_and_existing_folder(tiny_ds, tmp_path):
    with pytest.raises(UsageError, match=r"\.npz"):
        tiny_ds.save(tmp_path / "d.bin")
    with pytest.raises(UsageError, match="does not exist"):
        tiny_ds.save(tmp_path / "missing" / "d.npz")
    assert list(tmp_path.iterdir()) == []


def _write_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_with_nan_is_refused(tmp_path, tiny_ds):
    images = tiny_ds.images.numpy().copy()
    images[0, 0, 0, 0] = np.inf
    path = _write_npz(
        tmp_path / "bad.npz",
        images=images,
        labels=tiny_ds.labels.numpy(),
        classes=np.array(tiny_ds.classes),
        persons=np.array(tiny_ds.persons),
    )
    with pytest.raises(DataError, match="NaN or Inf"):
        load_dataset(path)


def test_npz_wrong_dtype_shape_and_missing_fields(tmp_path, tiny_ds):
    common = dict(
        labels=tiny_ds.labels.numpy(),
        classes=np.array(tiny_ds.classes),
        persons=np.array(tiny_ds.persons),
    )
    p = _write_npz(tmp_path / "u8.npz", images=np.zeros((60, 1, 32, 32), np.uint8), **common)
    with pytest.raises(DataError, match="float32"):
        load_dataset(p)
    p = _write_npz(tmp_path / "shape.npz", images=np.zeros((60, 32, 32), np.float32), **common)
    with pytest.raises(DataError, match="32 x 32"):
        load_dataset(p)
    p = _write_npz(tmp_path / "nolabels.npz", images=np.zeros((60, 1, 32, 32), np.float32))
    with pytest.raises(DataError, match="missing labels"):
        load_dataset(p)


def test_npz_with_object_arrays_is_refused_without_unpickling(tmp_path, tiny_ds):
    p = tmp_path / "obj.npz"
    np.savez(
        p,
        images=tiny_ds.images.numpy(),
        labels=tiny_ds.labels.numpy(),
        classes=np.array(list(tiny_ds.classes), dtype=object),
        persons=np.array(tiny_ds.persons),
    )
    with pytest.raises(DataError, match="refused"):
        load_dataset(p)


def test_corrupt_npz_is_refused(tmp_path, tiny_ds):
    good = tiny_ds.save(tmp_path / "d.npz").read_bytes()
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load_dataset(bad)
