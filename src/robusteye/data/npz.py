"""Read `.npz` files written by `EyeDataset.save` (pickle disabled, every field checked)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from robusteye.data.dataset import _NPZ_FORMAT, EyeDataset
from robusteye.errors import DataError, UsageError

_REQUIRED = ("images", "labels", "classes", "persons")


def load_npz(path: str | os.PathLike[str]) -> EyeDataset:
    """Load an `EyeDataset` from `.npz`; anything malformed raises one-line `DataError`."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array
            raise DataError(f"{path}: not a robusteye dataset (one .npy array, not an .npz)")
        with loaded as npz:
            missing = [k for k in _REQUIRED if k not in npz.files]
            if missing:
                raise DataError(f"{path}: not a robusteye dataset (missing {', '.join(missing)})")
            fields = {k: npz[k] for k in npz.files}
    except DataError:
        raise
    except ValueError as err:
        if "allow_pickle" in str(err):  # object arrays and pickles need pickle: refused
            raise DataError(f"{path}: refused ({err})") from None
        raise DataError(f"{path}: not a readable .npz file ({_reason(err)})") from None
    except Exception as err:  # zip, zlib and numpy's header parser raise many types on garbage
        raise DataError(f"{path}: not a readable .npz file ({_reason(err)})") from None
    if "format" in fields and str(fields["format"]) != _NPZ_FORMAT:
        raise DataError(f"{path}: unknown dataset format {str(fields['format'])!r}")
    return _from_arrays(path, fields)


def _from_arrays(path: Path, f: dict[str, np.ndarray]) -> EyeDataset:
    images, labels = f["images"], f["labels"]
    if images.dtype != np.float32:
        raise DataError(f"{path}: images must be float32, got {images.dtype}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: labels must be integers, got {labels.dtype}")
    for key in ("classes", "persons", "sources"):
        if key in f and f[key].dtype.kind != "U":
            raise DataError(f"{path}: {key} must be strings, got {f[key].dtype}")
    meta = {}
    if "meta" in f:
        try:
            meta = json.loads(str(f["meta"]))
        except (json.JSONDecodeError, RecursionError) as err:
            raise DataError(f"{path}: metadata is not valid JSON ({err})") from None
        if not isinstance(meta, dict):
            raise DataError(f"{path}: metadata must be a JSON object")
    try:
        return EyeDataset(
            images=torch.from_numpy(np.asarray(images, order="C")),  # keeps a 0-d shape
            labels=torch.from_numpy(labels.astype(np.int64, copy=False)),
            classes=tuple(f["classes"].reshape(-1).tolist()),
            persons=tuple(f["persons"].reshape(-1).tolist()),
            sources=tuple(f["sources"].reshape(-1).tolist()) if "sources" in f else None,
            meta=meta,
        )
    except DataError as err:
        raise DataError(f"{path}: {err}") from None


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__
