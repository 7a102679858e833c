"""Person-grouped splits: no person is ever on both sides (the study's K-fold was not).

Like scikit-learn's `GroupKFold`, splitters take an explicit seed and return index arrays.
"""

from __future__ import annotations

import warnings

import numpy as np

from robusteye.data.dataset import EyeDataset
from robusteye.errors import DataError, UsageError

Split = tuple[np.ndarray, np.ndarray]


def person_kfold(ds: EyeDataset, n_splits: int, *, seed: int = 0) -> list[Split]:
    """Class-stratified k-fold grouped by person: `[(train_idx, test_idx), ...]`."""
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


def holdout_split(ds: EyeDataset, *, test_fraction: float = 0.1, seed: int = 0) -> Split:
    """One person-grouped, class-stratified (train_idx, test_idx) split."""
    if not 0.0 < test_fraction < 1.0:
        raise UsageError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n_splits = max(2, round(1.0 / test_fraction))
    return person_kfold(ds, n_splits, seed=seed)[0]


def persons_of(ds: EyeDataset, indices: np.ndarray) -> list[str]:
    """The sorted distinct person ids of the given rows."""
    return sorted({ds.persons[i] for i in indices.tolist()})
