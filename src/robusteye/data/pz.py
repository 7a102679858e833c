"""The study's `data.pz`: a gzip-compressed pickle of `[{'crop', 'label', 'person'}, ...]`.

Pickles can run code on load, and data sets come from strangers, so we read them through an
unpickler that resolves only the handful of globals this format needs (numpy's array and
scalar reconstructors, `numpy.dtype`, `_codecs.encode` for protocol-2 byte strings). Anything
else is refused before it is imported or called.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robusteye.data.dataset import STUDY_CLASSES, EyeDataset
from robusteye.data.imageio import resize_crop
from robusteye.errors import DataError, UnsafeFileError, UsageError

_ARRAY_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's _reconstruct, wherever it lives
_SCALAR_RECONSTRUCT = np.float32(0).__reduce__()[0]
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5 rebuilds arrays from raw bytes
_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): __import__("codecs").encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "_reconstruct")] = _ARRAY_RECONSTRUCT
    _ALLOWED[(_mod, "scalar")] = _SCALAR_RECONSTRUCT
for _mod in ("numpy.core.numeric", "numpy._core.numeric"):
    _ALLOWED[(_mod, "_frombuffer")] = _FROMBUFFER
_MAX_BYTES = 4 << 30  # a decompressed pickle larger than 4 GiB is not an eye-crop set


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that admits only numpy arrays, dtypes, scalars and builtin containers."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"refused to load: the pickle asks for {module}.{name}, which a data.pz never needs"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError("refused to load: the pickle uses persistent ids")


def restricted_loads(payload: bytes) -> Any:
    """Unpickle `payload` with `RestrictedUnpickler`; malformed data raises `DataError`."""
    try:
        return RestrictedUnpickler(io.BytesIO(payload)).load()
    except UnsafeFileError:
        raise
    except Exception as err:  # pickle raises many types on garbage input
        raise DataError(f"not a valid pickle ({type(err).__name__}: {err})") from None


def load_pz(path: str | os.PathLike[str]) -> EyeDataset:
    """Load the study's `data.pz` (gzip or plain pickle) into an `EyeDataset`.

    Crops are mapped to [0, 1] by one affine map for the whole set (so eps values stay
    comparable across images); `meta["pixel_map"]` records it as raw = offset + scale * x.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
                raw = gz.read(_MAX_BYTES + 1)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(f"{path}: corrupt gzip data ({err})") from None
        if len(raw) > _MAX_BYTES:
            raise DataError(f"{path}: decompressed data exceeds {_MAX_BYTES >> 30} GiB")
    try:
        records = restricted_loads(raw)
    except DataError as err:
        raise type(err)(f"{path}: {err}") from None
    return _from_records(path, records)


def _from_records(path: Path, records: Any) -> EyeDataset:
    if not isinstance(records, list) or not records:
        raise DataError(f"{path}: expected a non-empty list of crop records")
    crops, labels, persons = [], [], []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not {"crop", "label", "person"} <= rec.keys():
            raise DataError(f"{path}: record {i} is not a dict with crop, label and person")
        crop = np.asarray(rec["crop"])
        if crop.ndim == 3 and 1 in (crop.shape[0], crop.shape[-1]):
            crop = crop.reshape(crop.shape[1:] if crop.shape[0] == 1 else crop.shape[:2])
        if crop.ndim != 2 or crop.dtype.kind not in "fiu" or crop.size == 0:
            raise DataError(
                f"{path}: record {i} crop must be a 2-D numeric array, got {crop.shape}"
            )
        crop = crop.astype(np.float32)
        if not np.isfinite(crop).all():
            raise DataError(f"{path}: record {i} crop contains NaN or Inf")
        crops.append(crop)
        labels.append(str(rec["label"]))
        persons.append(str(rec["person"]))
    offset, scale = _pixel_map(crops)
    images = np.stack([resize_crop((c - offset) / scale) for c in crops])[:, None]
    known = [c for c in STUDY_CLASSES if c in set(labels)]
    classes = tuple(known + sorted(set(labels) - set(known)))
    index = {c: i for i, c in enumerate(classes)}
    return EyeDataset(
        images=torch.from_numpy(images),
        labels=torch.tensor([index[lab] for lab in labels], dtype=torch.int64),
        classes=classes,
        persons=tuple(persons),
        sources=tuple(f"{path.name}[{i}]" for i in range(len(crops))),
        meta={
            "origin": "pz",
            "path": str(path),
            "pixel_map": {"kind": "affine", "offset": offset, "scale": scale},
        },
    )


def _pixel_map(crops: list[np.ndarray]) -> tuple[float, float]:
    """(offset, scale) with raw = offset + scale * x, x in [0, 1]: identity, /255, or min-max."""
    lo = float(min(c.min() for c in crops))
    hi = float(max(c.max() for c in crops))
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 255.0 and hi > 1.0:
        return 0.0, 255.0
    return lo, max(hi - lo, 1e-12)
