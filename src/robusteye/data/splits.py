"""Person-grouped splits: no person is ever on both sides (the study's K-fold was not).

Like scikit-learn's `GroupKFold`, splitters take an explicit seed and return index arrays.
A class that a training side lacks is an error naming the class and the fold: a model cannot
learn a class it never sees, and its per-class scores would be silently meaningless.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from robusteye.data.dataset import EyeDataset
from robusteye.errors import DataError, UsageError
from robusteye.readers import read_json

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Fold:
    """Row indices of one fold: the persons trained on, and the others (its test or
    validation persons)."""

    train: np.ndarray
    test: np.ndarray


@dataclass(frozen=True)
class PersonSplits:
    """The persons held out first (never trained on), then the rest cut into folds."""

    folds: tuple[Fold, ...]
    holdout: np.ndarray

    def record(self, ds: EyeDataset) -> dict[str, Any]:
        """The persons of every side, as a run's splits.json holds them."""
        out: dict[str, Any] = {
            "folds": [
                {"train": persons_of(ds, f.train), "test": persons_of(ds, f.test)}
                for f in self.folds
            ]
        }
        if self.holdout.size:
            out["holdout"] = persons_of(ds, self.holdout)
        return out


def person_splits(
    ds: EyeDataset,
    *,
    holdout: float = 0.0,
    folds: int | None = None,
    val: float = 0.0,
    seed: int = 0,
) -> PersonSplits:
    """The one way robusteye splits persons, for training runs, grids and searches alike.

    A `holdout` share of persons first (none for 0); the others then make `folds`
    person-grouped folds, or with `folds=None` one fold whose test side is a `val` share of
    them (drawn with `seed + 1`, an empty side for 0). All row indices, ascending.
    """
    empty = np.array([], dtype=np.int64)
    rest, held = (
        (np.arange(len(ds)), empty)
        if holdout == 0
        else holdout_split(ds, test_fraction=holdout, seed=seed)
    )
    inner = ds.subset(rest)
    if folds is not None:
        cuts = person_kfold(inner, folds, seed=seed)
    elif val == 0:
        cuts = [(np.arange(len(inner)), empty)]
    else:
        cuts = [holdout_split(inner, test_fraction=val, seed=seed + 1)]
    return PersonSplits(tuple(Fold(rest[tr], rest[te]) for tr, te in cuts), held)


def sample_rows(rows: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    """At most `limit` of `rows`, a fixed random subset (ascending), so that every model
    scored on a fold sees the same images; all of them without a limit."""
    if not limit or rows.size <= limit:
        return rows
    order = torch.randperm(rows.size, generator=torch.Generator().manual_seed(seed)).numpy()
    return np.sort(rows[order[:limit]])


def person_kfold(ds: EyeDataset, n_splits: int, *, seed: int = 0) -> list[Split]:
    """Class-stratified k-fold grouped by person: `[(train_idx, test_idx), ...]`.

    Every class of `ds` must have images on both sides of every fold (so it needs images of
    at least `n_splits` persons); otherwise `DataError` names the class and the fold.
    """
    folds = _grouped_folds(ds, n_splits, seed)
    for i, (train, test) in enumerate(folds):
        where = f"persons of fold {i} (of {n_splits})"
        _require_classes(ds, train, f"the training {where}", n_splits, "use fewer folds")
        _require_classes(ds, test, f"the test {where}", n_splits, "use fewer folds")
    return folds


def holdout_split(ds: EyeDataset, *, test_fraction: float = 0.1, seed: int = 0) -> Split:
    """One person-grouped, class-stratified (train_idx, test_idx) split.

    The held-out share of persons is the nearest 1/k (or 1 - 1/k above one half), and at
    least one person. The training side must hold every class; the held-out side (a
    validation or hold-out sample) may miss a rare one.
    """
    if not 0.0 < test_fraction < 1.0:
        raise UsageError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    small = min(test_fraction, 1.0 - test_fraction)  # one fold is the smaller side
    n_splits = max(2, min(round(1.0 / small), len(ds.person_ids)))
    fold, rest = _grouped_folds(ds, n_splits, seed)[0][::-1]
    train, test = (rest, fold) if test_fraction <= 0.5 else (fold, rest)
    where = f"the training persons of a {test_fraction:g} hold-out split"
    _require_classes(ds, train, where, 2, "hold out a smaller fraction")
    return train, test


def persons_of(ds: EyeDataset, indices: np.ndarray) -> list[str]:
    """The sorted distinct person ids of the given rows."""
    return sorted({ds.persons[i] for i in indices.tolist()})


def rows_of_persons(ds: EyeDataset, persons: Iterable[str]) -> np.ndarray:
    """Row indices (ascending) of the images of the given persons."""
    return np.flatnonzero(np.isin(np.array(ds.persons), list(persons)))


def read_person_list(
    path: str | os.PathLike[str], key: str = "test", *, what: str | None = None
) -> list[str]:
    """The person ids listed under `key` of a run's splits.json; `UsageError` otherwise
    (its message starts with `what`, by default the path)."""
    doc = read_json(path, error=UsageError)
    listed = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(listed, list) or not all(isinstance(p, str) for p in listed):
        raise UsageError(f"{what or path}: no person list {key!r} (a list of person ids)")
    return listed


def split_subset(
    ds: EyeDataset, path: str | os.PathLike[str], key: str = "test", *, what: str | None = None
) -> EyeDataset:
    """The images of `ds` whose persons a run's splits.json lists under `key` (by default its
    test persons, which no model of the run trained on); `UsageError` when the file has no
    such list or none of its persons are in `ds` (the message starts with `what`)."""
    persons = set(read_person_list(path, key, what=what))
    rows = rows_of_persons(ds, persons)
    if not rows.size:
        raise UsageError(f"{what or path}: none of its {len(persons)} persons are in the data")
    return ds.subset(rows)


def sample_subset(ds: EyeDataset, limit: int | None, seed: int) -> EyeDataset:
    """A fixed random subset of at most `limit` images of `ds` (rows in their order, drawn
    as `sample_rows` draws them); `ds` itself without a limit or when it is no larger."""
    if limit is None or limit >= len(ds):
        return ds
    return ds.subset(sample_rows(np.arange(len(ds)), limit, seed))


def _grouped_folds(ds: EyeDataset, n_splits: int, seed: int) -> list[Split]:
    if n_splits < 2:
        raise UsageError(f"n_splits must be >= 2, got {n_splits}")
    groups = ds.person_index()
    n_persons = len(ds.person_ids)
    if n_persons < n_splits:
        raise DataError(f"cannot make {n_splits} person-grouped folds from {n_persons} persons")
    from sklearn.model_selection import StratifiedGroupKFold  # slow import: only when used

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # "least populated class has fewer members" is expected
        warnings.simplefilter("ignore", UserWarning)
        folds = splitter.split(np.zeros(len(ds)), ds.labels.numpy(), groups)
        return [(np.sort(tr), np.sort(te)) for tr, te in folds]


def _require_classes(ds: EyeDataset, rows: np.ndarray, where: str, need: int, fix: str) -> None:
    """Raise `DataError` naming the first class of `ds` that has images but none in `rows`."""
    labels = ds.labels.numpy()
    present = np.bincount(labels, minlength=ds.num_classes)
    here = np.bincount(labels[rows], minlength=ds.num_classes)
    for k in np.flatnonzero((present > 0) & (here == 0)).tolist():
        n_persons = len({ds.persons[i] for i in np.flatnonzero(labels == k).tolist()})
        if n_persons < need:
            fix = "add persons with that class or leave it out"
        raise DataError(
            f"class {ds.classes[k]!r} has no images in {where}: its {present[k]} image(s) come "
            f"from {n_persons} person(s), the split needs at least {need}; {fix}"
        )
