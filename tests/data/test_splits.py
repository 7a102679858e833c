from __future__ import annotations

import numpy as np
import pytest

from robusteye.data import holdout_split, person_kfold, persons_of
from robusteye.errors import DataError, UsageError
from tests.conftest import make_dataset


def _persons(ds, idx):
    return {ds.persons[i] for i in idx}


def test_kfold_is_person_disjoint_and_covers_everything(tiny_ds):
    folds = person_kfold(tiny_ds, 4, seed=3)
    assert len(folds) == 4
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(len(tiny_ds)))
    for train, test in folds:
        assert not _persons(tiny_ds, train) & _persons(tiny_ds, test)
        assert len(train) + len(test) == len(tiny_ds)


def test_kfold_is_deterministic_in_seed(tiny_ds):
    a = person_kfold(tiny_ds, 3, seed=1)
    b = person_kfold(tiny_ds, 3, seed=1)
    c = person_kfold(tiny_ds, 3, seed=2)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_kfold_is_class_stratified():
    ds = make_dataset(n=400, n_persons=40)
    for _, test in person_kfold(ds, 5, seed=0):
        counts = np.bincount(ds.labels.numpy()[test], minlength=4)
        assert counts.min() > 0.8 * counts.max()


def test_holdout_split_is_person_disjoint(tiny_ds):
    train, test = holdout_split(tiny_ds, test_fraction=0.25, seed=0)
    assert len(test) > 0 and len(train) > len(test)
    assert not set(persons_of(tiny_ds, train)) & set(persons_of(tiny_ds, test))


def test_split_errors(tiny_ds):
    with pytest.raises(UsageError, match="n_splits"):
        person_kfold(tiny_ds, 1)
    with pytest.raises(DataError, match="13 person-grouped folds from 12 persons"):
        person_kfold(tiny_ds, 13)
    with pytest.raises(UsageError, match="test_fraction"):
        holdout_split(tiny_ds, test_fraction=1.5)


def test_person_splits_folds_are_the_kfold_of_the_persons_left_after_the_holdout() -> None:
    from robusteye.data.splits import person_splits

    ds = make_dataset(n=96, n_persons=24)
    cut = person_splits(ds, holdout=0.25, folds=3, seed=4)
    rest, held = holdout_split(ds, test_fraction=0.25, seed=4)
    assert np.array_equal(cut.holdout, held)
    inner = person_kfold(ds.subset(rest), 3, seed=4)
    for fold, (tr, te) in zip(cut.folds, inner, strict=True):
        assert np.array_equal(fold.train, rest[tr]) and np.array_equal(fold.test, rest[te])
        assert not _persons(ds, fold.train) & _persons(ds, cut.holdout)
    record = cut.record(ds)
    assert record["holdout"] == persons_of(ds, held) and len(record["folds"]) == 3
    assert "holdout" not in person_splits(ds, folds=3, seed=4).record(ds)


def test_person_splits_with_a_validation_share_is_one_fold() -> None:
    from robusteye.data.splits import person_splits

    ds = make_dataset(n=96, n_persons=24)
    cut = person_splits(ds, holdout=0.2, val=0.25, seed=1)
    (fold,) = cut.folds
    assert not _persons(ds, fold.train) & _persons(ds, fold.test)
    assert not (_persons(ds, fold.train) | _persons(ds, fold.test)) & _persons(ds, cut.holdout)
    covered = np.sort(np.concatenate([fold.train, fold.test, cut.holdout]))
    assert np.array_equal(covered, np.arange(len(ds)))
    (plain,) = person_splits(ds, val=0.0).folds
    assert plain.test.size == 0 and plain.train.size == len(ds)


def test_sample_rows_is_a_fixed_sorted_subset() -> None:
    from robusteye.data.splits import sample_rows

    rows = np.arange(10, 60)
    a, b = sample_rows(rows, 7, seed=3), sample_rows(rows, 7, seed=3)
    assert np.array_equal(a, b) and a.size == 7 and np.all(np.diff(a) > 0)
    assert set(a.tolist()) <= set(rows.tolist())
    assert not np.array_equal(a, sample_rows(rows, 7, seed=4))
    assert sample_rows(rows, None, seed=3) is rows and sample_rows(rows, 99, seed=3) is rows


def test_rows_of_persons_and_the_person_list_of_a_splits_file(tmp_path) -> None:
    import json

    from robusteye.data.splits import read_person_list, rows_of_persons

    ds = make_dataset()
    rows = rows_of_persons(ds, ["p01", "p03"])
    assert _persons(ds, rows) == {"p01", "p03"} and np.all(np.diff(rows) > 0)
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"test": ["p01"], "val": 3}))
    assert read_person_list(path) == ["p01"]
    with pytest.raises(UsageError, match="no person list 'val'"):
        read_person_list(path, "val")


def test_split_subset_keeps_the_listed_persons(tmp_path) -> None:
    import json

    from robusteye.data.splits import split_subset

    ds = make_dataset()
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"test": ["p01", "p03"], "val": ["nobody"]}))
    sub = split_subset(ds, path)
    assert set(sub.persons) == {"p01", "p03"}
    assert len(sub) == sum(p in ("p01", "p03") for p in ds.persons)
    with pytest.raises(UsageError, match=r"^--split x: none of its 1 persons are in the data"):
        split_subset(ds, path, "val", what="--split x")
    with pytest.raises(UsageError, match=r"splits\.json: no person list 'nope'"):
        split_subset(ds, path, "nope")


def test_sample_subset_is_seeded_and_keeps_row_order() -> None:
    import torch

    from robusteye.data.splits import sample_subset

    ds = make_dataset()
    assert sample_subset(ds, None, 0) is ds and sample_subset(ds, len(ds), 0) is ds
    a, b = sample_subset(ds, 7, 3), sample_subset(ds, 7, 3)
    assert len(a) == 7 and torch.equal(a.images, b.images)
    rows = torch.randperm(len(ds), generator=torch.Generator().manual_seed(3))[:7].sort().values
    assert torch.equal(a.images, ds.images[rows])
