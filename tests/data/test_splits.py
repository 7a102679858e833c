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
