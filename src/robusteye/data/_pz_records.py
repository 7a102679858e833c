"""From the records of a `data.pz` (`[{'crop', 'label', 'person'}, ...]`, already unpickled by
`robusteye.data.pz`) to an `EyeDataset`: every record checked, the pixels of each crop and of
all of them counted before any crop is converted, one affine pixel map for the whole set.

Crops are converted one at a time, each into one float32 copy scaled in place, so the memory a
load needs beyond the unpickled records is one crop's float32 copy (at most
`MAX_PZ_CROP_PIXELS`, 256 MB) and the 32 x 32 result."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robusteye.data.dataset import STUDY_CLASSES, EyeDataset
from robusteye.data.imageio import MAX_IMAGE_PIXELS, resize_crop
from robusteye.data.limits import MAX_IMAGES, MAX_NAME_CHARS
from robusteye.errors import DataError

#: Most crop pixels of a data.pz, summed over its records (a crop repeated by reference counts
#: each time): the bound on the work of converting them all.
MAX_PZ_TOTAL_PIXELS = 1 << 28
#: Most pixels of one crop: the bound of one decoded image file, so one float32 copy of a crop
#: (what converting it costs) stays at 256 MB.
MAX_PZ_CROP_PIXELS = MAX_IMAGE_PIXELS


def _name(value: Any, path: Path, i: int, field: str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path}: record {i} {field} is not UTF-8 text") from None
    elif isinstance(value, (int, np.integer)):
        value = str(int(value))
    if not isinstance(value, str):
        raise DataError(
            f"{path}: record {i} {field} must be a string or an integer, got {type(value).__name__}"
        )
    if len(value) > MAX_NAME_CHARS:
        raise DataError(f"{path}: record {i} {field} is longer than {MAX_NAME_CHARS:,} characters")
    return str(value)


def from_records(path: Path, records: Any) -> EyeDataset:
    if not isinstance(records, list) or not records:
        raise DataError(f"{path}: expected a non-empty list of crop records")
    if len(records) > MAX_IMAGES:
        raise DataError(
            f"{path}: {len(records):,} crop records; robusteye reads at most {MAX_IMAGES:,}"
        )
    raw, labels, persons = [], [], []
    pixels = 0
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not {"crop", "label", "person"} <= rec.keys():
            raise DataError(f"{path}: record {i} is not a dict with crop, label and person")
        crop = rec["crop"]
        if not isinstance(crop, np.ndarray):
            raise DataError(
                f"{path}: record {i} crop must be a 2-D numeric array, got {type(crop).__name__}"
            )
        if crop.ndim == 3 and 1 in (crop.shape[0], crop.shape[-1]):
            crop = crop.reshape(crop.shape[1:] if crop.shape[0] == 1 else crop.shape[:2])
        if crop.ndim != 2 or crop.dtype.kind not in "fiu" or crop.size == 0:
            raise DataError(
                f"{path}: record {i} crop must be a 2-D numeric array, got {crop.shape}"
            )
        if crop.size > MAX_PZ_CROP_PIXELS:
            raise DataError(
                f"{path}: record {i} crop is {crop.shape[0]:,} x {crop.shape[1]:,} pixels; "
                f"robusteye converts at most {MAX_PZ_CROP_PIXELS:,} per crop"
            )
        pixels += crop.size  # a crop repeated by reference counts each time it is converted
        if pixels > MAX_PZ_TOTAL_PIXELS:
            raise DataError(
                f"{path}: the crops up to record {i} hold more than {MAX_PZ_TOTAL_PIXELS:,} "
                f"pixels; robusteye converts at most {MAX_PZ_TOTAL_PIXELS:,}"
            )
        raw.append(crop)
        labels.append(_name(rec["label"], path, i, "label"))
        persons.append(_name(rec["person"], path, i, "person"))
    lo, hi = math.inf, -math.inf
    for i, crop in enumerate(raw):
        # min and max read the crop in place (no copy); a NaN makes them NaN, an Inf infinite
        c_lo, c_hi = float(np.float32(crop.min())), float(np.float32(crop.max()))
        if not (math.isfinite(c_lo) and math.isfinite(c_hi)):
            raise DataError(f"{path}: record {i} crop contains NaN or Inf")
        lo, hi = min(lo, c_lo), max(hi, c_hi)
    offset, scale = _pixel_map(lo, hi)
    images = np.empty((len(raw), 1, 32, 32), dtype=np.float32)
    for i, crop in enumerate(raw):
        c = crop.astype(np.float32)  # the one copy, scaled in place
        c -= np.float32(offset)
        c /= np.float32(scale)
        images[i, 0] = resize_crop(c)
    known = [c for c in STUDY_CLASSES if c in set(labels)]
    classes = tuple(known + sorted(set(labels) - set(known)))
    index = {c: i for i, c in enumerate(classes)}
    return EyeDataset(
        images=torch.from_numpy(images),
        labels=torch.tensor([index[lab] for lab in labels], dtype=torch.int64),
        classes=classes,
        persons=tuple(persons),
        sources=tuple(f"{path.name}[{i}]" for i in range(len(raw))),
        meta={
            "origin": "pz",
            "path": str(path),
            "pixel_map": {"kind": "affine", "offset": offset, "scale": scale},
        },
    )


def _pixel_map(lo: float, hi: float) -> tuple[float, float]:
    """(offset, scale) with raw = offset + scale * x, x in [0, 1]: identity, /255, or min-max."""
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 255.0 and hi > 1.0:
        return 0.0, 255.0
    return lo, max(hi - lo, 1e-12)
