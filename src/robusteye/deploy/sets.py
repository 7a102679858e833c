"""Which images an export checks parity on and which it calibrates the int8 model on.

The rule: the int8 model's activation ranges are never fitted on a person its figures are
scored on. Parity (and the export's audit) runs on `--data` (its `--split` test persons when
a split is given); without `--data`, on a seeded share of the calibration data's persons set
aside for it; without either, on robusteye's synthetic crops. Calibration then uses the
calibration data's other persons: the scoring persons and the split's test persons are left
out by id.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from robusteye.data import EyeDataset
from robusteye.data.splits import holdout_split, read_person_list, rows_of_persons, sample_subset
from robusteye.data.synthetic import generate_synthetic
from robusteye.errors import RobustEyeError, UsageError
from robusteye.evaluate.classmap import align_to_model

#: Share of the calibration data's persons set aside for parity when no --data is given.
PARITY_SHARE = 0.25
#: Synthetic crops parity runs on when neither --data nor --calibration is given.
SYNTHETIC_PARITY = 256


@dataclass(frozen=True)
class ExportSets:
    """The parity images (in the model's classes), the calibration images (None without
    int8) and how each was chosen, for export.json."""

    parity: EyeDataset
    calibration: EyeDataset | None
    record: dict[str, Any]


def _aligned(ds: EyeDataset, classes: tuple[str, ...], what: str) -> EyeDataset:
    try:
        return align_to_model(ds, classes)
    except RobustEyeError as err:
        raise UsageError(f"{what}: {err}") from None


def _describe(ds: EyeDataset, source: str, how: str) -> dict[str, Any]:
    return {"source": source, "images": len(ds), "persons": len(ds.person_ids), "how": how}


def choose_sets(
    classes: tuple[str, ...],
    *,
    data: tuple[EyeDataset, str] | None,
    calibration: tuple[EyeDataset, str] | None,
    split: str | os.PathLike[str] | None = None,
    parity_limit: int | None = 1000,
    calibration_limit: int = 512,
    seed: int = 0,
) -> ExportSets:
    """Parity and calibration sets for a model with `classes` (see the module docstring).

    `data` and `calibration` are (dataset, name as given); `split` a run's splits.json whose
    test persons are the scoring persons.
    """
    scoring = set(read_person_list(split, "test", what=f"--split {split}") if split else ())
    if data is not None:
        ds, name = data
        if split is not None:
            rows = rows_of_persons(ds, scoring)
            if not rows.size:
                raise UsageError(f"--split {split}: none of its test persons are in {name}")
            ds, how = ds.subset(rows), "the split's test persons"
        else:
            how = "all persons of --data"
        parity = sample_subset(_aligned(ds, classes, f"--data {name}"), parity_limit, seed)
        record = {"parity": _describe(parity, name, how)}
        rest = calibration
    elif calibration is not None:
        ds, name = calibration
        ds = _aligned(ds, classes, f"--calibration {name}")
        if len(ds.person_ids) < 2:
            raise UsageError(
                f"--calibration {name} has one person: give --data to check parity on other "
                "persons than the int8 model is calibrated on"
            )
        train, test = holdout_split(ds, test_fraction=PARITY_SHARE, seed=seed)
        parity = sample_subset(ds.subset(test), parity_limit, seed)
        record = {"parity": _describe(parity, name, f"{PARITY_SHARE:.0%} of the calibration "
                                      "data's persons, set aside (seeded)")}  # fmt: skip
        rest = (ds.subset(train), name)
    else:
        synthetic = generate_synthetic(SYNTHETIC_PARITY, seed=seed, n_persons=8)
        parity = synthetic.of_classes(classes)
        if not len(parity):
            raise UsageError(
                f"the model's classes ({', '.join(classes)}) are none of the synthetic crops': "
                "give --data to check parity on"
            )
        how = "robusteye's generator (seeded): give --data for the persons the model will see"
        record = {"parity": _describe(parity, "synthetic", how)}
        rest = None
    if rest is None:
        return ExportSets(parity, None, {**record, "calibration": None})
    cal, name = rest
    cal = _aligned(cal, classes, f"--calibration {name}")
    excluded = (set(parity.person_ids) | scoring) & set(cal.person_ids)
    rows = np.flatnonzero([p not in excluded for p in cal.persons])
    if not rows.size:
        raise UsageError(
            f"--calibration {name}: no image is left once the {len(excluded)} scoring persons "
            "are left out; calibrate on other persons"
        )
    cal = sample_subset(cal.subset(rows), calibration_limit, seed)
    how = f"scoring persons left out ({len(excluded)})" if excluded else "no scoring person in it"
    return ExportSets(parity, cal, {**record, "calibration": _describe(cal, name, how)})
