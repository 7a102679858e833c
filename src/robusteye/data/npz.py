"""The `.npz` file format of `EyeDataset.save` and `EyeDataset.load`: `write_npz` and
`read_npz` turn the container's fields into a file and back (pickle disabled, every field
checked); the container itself is built by `EyeDataset.load`, so this module never imports it.

An .npz is a zip of `.npy` members, and a zip member can expand a thousandfold, so the file is
read member by member through `zipfile`: only the members a data set uses are opened, each
`.npy` header (dtype and shape) is checked before a byte of its data is decompressed, and
then exactly the bytes the header declares are read. A member robusteye does not use is never
decompressed, and no header can make us allocate more than the bounds below.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from robusteye.data.limits import IMAGE_SIZE, MAX_IMAGES, MAX_NAME_CHARS
from robusteye.errors import DataError, UsageError
from robusteye.io import atomic_path
from robusteye.readers import MAX_TEXT_BYTES, open_regular, parse_json

#: The format tag every file `write_npz` writes carries (and `read_npz` checks, when present).
NPZ_FORMAT = "robusteye.EyeDataset/1"

_REQUIRED = ("images", "labels", "classes", "persons")
_OPTIONAL = ("sources", "meta", "format")
#: Most class names in one data set (models have at most 1,000 outputs).
MAX_NPZ_CLASSES = 10_000
#: numpy's own bound on a `.npy` header (`np.load`'s default `max_header_size`).
_MAX_HEADER = 10_000
_CHUNK = 1 << 20  # bytes decompressed at a time

Header = tuple[tuple[int, ...], bool, np.dtype[Any]]


def write_npz(
    path: str | os.PathLike[str],
    *,
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    persons: Sequence[str],
    sources: Sequence[str] | None,
    meta: Mapping[str, Any],
) -> Path:
    """Write a data set's fields as a compressed .npz, atomically; returns the path written.

    An empty data set, or one that breaks a limit of `read_npz` (names longer than
    `MAX_NAME_CHARS`, more than `MAX_NPZ_CLASSES` classes), is refused: `read_npz` would
    refuse the file it makes.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise UsageError(f"dataset file must end in .npz: {path}")
    if len(labels) == 0:
        raise DataError(f"refusing to write {path}: the data set holds no images")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(NPZ_FORMAT),
        "images": images,
        "labels": labels,
        "classes": np.array(classes, dtype=np.str_),
        "persons": np.array(persons, dtype=np.str_),
        "meta": np.array(json.dumps(meta, sort_keys=True)),
    }
    if sources is not None:
        arrays["sources"] = np.array(sources, dtype=np.str_)
    _check_readable(path, arrays)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return path


def _check_readable(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Refuse to write what `read_npz` would refuse to read (names longer than
    `MAX_NAME_CHARS`, more than `MAX_NPZ_CLASSES` classes, ...): the reader's own header
    checks, run on the arrays about to be written."""
    headers = {key: (tuple(a.shape), False, a.dtype) for key, a in arrays.items()}
    try:
        _check_headers(path, headers)
    except DataError as err:
        reason = str(err).removeprefix(f"{path}: ")
        inner = reason.removeprefix("not a readable .npz file (")
        if inner != reason:
            reason = inner.removesuffix(")")
        raise DataError(
            f"refusing to write {path}: {reason} (robusteye could not read the file back)"
        ) from None


def read_npz(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The `EyeDataset` keyword arguments (images, labels, classes, persons, sources, meta) of
    an `.npz`; anything malformed raises one-line `DataError`. The values are checked here as
    far as the file format goes; `EyeDataset` checks the rest when it is built from them."""
    path = Path(path)
    with open_regular(path, error=UsageError) as fh:
        try:
            fields = _read_fields(path, fh)
        except DataError:
            raise
        except Exception as err:  # zip, zlib and numpy's header parser raise many types on garbage
            raise DataError(f"{path}: not a readable .npz file ({_reason(err)})") from None
    return _from_arrays(path, fields)


def _read_fields(path: Path, fh: IO[bytes]) -> dict[str, np.ndarray]:
    head = fh.read(6)
    fh.seek(0)
    if head.startswith(b"\x93NUMPY"):
        raise DataError(f"{path}: not a robusteye dataset (one .npy array, not an .npz)")
    if not head.startswith(b"PK"):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    with zipfile.ZipFile(fh) as zf:
        names = set(zf.namelist())
        missing = [k for k in _REQUIRED if f"{k}.npy" not in names]
        if missing:
            raise DataError(f"{path}: not a robusteye dataset (missing {', '.join(missing)})")
        used = [k for k in (*_REQUIRED, *_OPTIONAL) if f"{k}.npy" in names]
        headers = {key: _header(zf, key) for key in used}  # no data decompressed yet
        _check_headers(path, headers)
        return {key: _read_array(zf, key, headers[key]) for key in used}


def _header(zf: zipfile.ZipFile, key: str) -> Header:
    with zf.open(f"{key}.npy") as fp:
        return _read_header(fp, key)


def _read_header(fp: IO[bytes], key: str) -> Header:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp, max_header_size=_MAX_HEADER)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp, max_header_size=_MAX_HEADER)
    else:
        raise ValueError(f"{key}.npy: unsupported .npy format version {version[0]}.{version[1]}")
    return tuple(int(d) for d in shape), bool(fortran), np.dtype(dtype)


def _check_headers(path: Path, h: dict[str, Header]) -> None:
    """Every check that the headers alone allow, in the order `EyeDataset` makes them."""
    if any(dtype.hasobject for _, _, dtype in h.values()):
        raise DataError(f"{path}: refused (Object arrays cannot be loaded when allow_pickle=False)")
    if any(dtype.fields is not None or dtype.subdtype is not None for _, _, dtype in h.values()):
        raise DataError(f"{path}: not a readable .npz file (structured arrays are not a dataset)")
    shape, _, dtype = h["images"]
    if dtype != np.float32:
        raise DataError(f"{path}: images must be float32, got {dtype}")
    if not np.issubdtype(h["labels"][2], np.integer):
        raise DataError(f"{path}: labels must be integers, got {h['labels'][2]}")
    for key in ("classes", "persons", "sources"):
        if key in h and h[key][2].kind != "U":
            raise DataError(f"{path}: {key} must be strings, got {h[key][2]}")
    if len(shape) != 4 or shape[1:] != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"{path}: images must have shape N x 1 x 32 x 32, got {shape}")
    n = shape[0]
    if n > MAX_IMAGES:
        raise DataError(
            f"{path}: not a readable .npz file (images.npy declares {n:,} images; "
            f"robusteye reads at most {MAX_IMAGES:,})"
        )
    if n == 0:
        raise DataError(f"{path}: holds no images")
    labels = h["labels"][0]
    if len(labels) != 1:
        raise DataError(
            f"{path}: labels must be a 1-D int64 tensor, got torch.int64 with shape {labels}"
        )
    persons = math.prod(h["persons"][0])
    if labels[0] != n or persons != n:
        raise DataError(
            f"{path}: lengths differ: {n} images, {labels[0]} labels, {persons} person ids"
        )
    if "sources" in h and math.prod(h["sources"][0]) != n:
        raise DataError(
            f"{path}: lengths differ: {n} images, {math.prod(h['sources'][0])} source names"
        )
    if math.prod(h["classes"][0]) > MAX_NPZ_CLASSES:
        raise DataError(
            f"{path}: not a readable .npz file (classes.npy declares "
            f"{math.prod(h['classes'][0]):,} classes; at most {MAX_NPZ_CLASSES:,})"
        )
    for key in ("classes", "persons", "sources"):
        if key in h and h[key][2].itemsize > 4 * MAX_NAME_CHARS:
            raise DataError(
                f"{path}: not a readable .npz file ({key}.npy holds names of up to "
                f"{h[key][2].itemsize // 4:,} characters; at most {MAX_NAME_CHARS:,})"
            )
    for key, limit in (("meta", MAX_TEXT_BYTES), ("format", 4 * MAX_NAME_CHARS)):
        if key in h:
            mshape, _, mdtype = h[key]
            if mdtype.kind != "U" or math.prod(mshape) != 1 or mdtype.itemsize > limit:
                what = "metadata" if key == "meta" else "the format name"
                raise DataError(f"{path}: {what} must be one string, got {mdtype} {mshape}")


def _read_array(zf: zipfile.ZipFile, key: str, header: Header) -> np.ndarray:
    """The array of member `key`, reading exactly the bytes its (checked) header declares."""
    shape, fortran, dtype = header
    count = math.prod(shape)
    array = np.empty(count, dtype=dtype)
    with zf.open(f"{key}.npy") as fp:
        _read_header(fp, key)
        per_chunk = max(1, _CHUNK // max(dtype.itemsize, 1))
        for start in range(0, count if dtype.itemsize else 0, per_chunk):
            k = min(per_chunk, count - start)
            data = fp.read(k * dtype.itemsize)
            if len(data) != k * dtype.itemsize:
                raise DataError(f"{key}.npy is truncated (its header declares {shape})")
            array[start : start + k] = np.frombuffer(data, dtype=dtype, count=k)
    if fortran:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def _from_arrays(path: Path, f: dict[str, np.ndarray]) -> dict[str, Any]:
    if "format" in f and str(f["format"].reshape(())) != NPZ_FORMAT:
        raise DataError(f"{path}: unknown dataset format {str(f['format'].reshape(()))!r}")
    images, labels = f["images"], f["labels"]
    meta = {}
    if "meta" in f:
        meta = parse_json(str(f["meta"].reshape(())), f"{path}: metadata is not valid JSON")
        if not isinstance(meta, dict):
            raise DataError(f"{path}: metadata must be a JSON object")
    return {
        "images": torch.from_numpy(np.ascontiguousarray(images)),
        "labels": torch.from_numpy(labels.astype(np.int64, copy=False)),
        "classes": tuple(f["classes"].reshape(-1).tolist()),
        "persons": tuple(f["persons"].reshape(-1).tolist()),
        "sources": tuple(f["sources"].reshape(-1).tolist()) if "sources" in f else None,
        "meta": meta,
    }


def _reason(err: BaseException) -> str:
    return str(err) or type(err).__name__


def read_npz_members(
    path: str | os.PathLike[str], keys: Sequence[str], *, max_bytes: int
) -> dict[str, np.ndarray]:
    """Members `keys` of any `.npz` (those it lacks are left out), read as `read_npz` reads a
    data set: no other member is decompressed, every header is checked (plain numbers or
    strings, at most `max_bytes` declared in all) before a byte of data, then exactly the
    declared bytes are read. Anything malformed raises a one-line `DataError`."""
    path = Path(path)
    with open_regular(path) as fh:
        try:
            return _read_members(path, fh, keys, max_bytes)
        except DataError:
            raise
        except Exception as err:  # zip, zlib and numpy's header parser raise many types on garbage
            raise DataError(f"{path}: not a readable .npz file ({_reason(err)})") from None


def _read_members(
    path: Path, fh: IO[bytes], keys: Sequence[str], max_bytes: int
) -> dict[str, np.ndarray]:
    if not fh.read(2).startswith(b"PK"):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    fh.seek(0)
    with zipfile.ZipFile(fh) as zf:
        names = set(zf.namelist())
        used = [k for k in dict.fromkeys(keys) if f"{k}.npy" in names]
        headers = {key: _header(zf, key) for key in used}  # no data decompressed yet
        for key, (_, _, dtype) in headers.items():
            if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
                raise DataError(f"{path}: {key}.npy holds {dtype}, not plain numbers or strings")
        total = sum(math.prod(shape) * dtype.itemsize for shape, _, dtype in headers.values())
        if total > max_bytes:
            raise DataError(
                f"{path}: not a readable .npz file (its members declare {total:,} bytes; "
                f"robusteye reads at most {max_bytes:,})"
            )
        return {key: _read_array(zf, key, headers[key]) for key in used}
