"""`load_dataset(source)`: one entry for every data source robusteye reads.

Sources: `"synthetic"` (with optional `n`, `seed`, `n_persons`, also written
`"synthetic:n=500,seed=3"`), the study's `data.pz`, a `.npz` written by `EyeDataset.save`,
or an image folder `<root>/<label>/*.png`.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

from robusteye.data.dataset import EyeDataset
from robusteye.errors import UsageError
from robusteye.readers import open_regular

_SYNTHETIC_KEYS = {"n": int, "seed": int, "n_persons": int}
_FOLDER_KEYS = {"label_map", "classes", "manifest", "person_regex"}


def load_dataset(source: str | os.PathLike[str] | EyeDataset, **options: Any) -> EyeDataset:
    """Load a data set from `source`; options go to the matching loader.

    >>> ds = load_dataset("synthetic", n=200, seed=1)
    """
    if isinstance(source, EyeDataset):
        return source
    text = os.fspath(source)
    if not text.strip():  # Path("") is the current folder: never scan it by accident
        raise UsageError("empty data source: give 'synthetic', a folder, an .npz or a data.pz")
    if text == "synthetic" or text.startswith("synthetic:"):
        return _synthetic(text, options)
    path = Path(text)
    if not path.exists():
        raise UsageError(f"no such file or folder: {path} (or use 'synthetic')")
    if path.is_dir():
        from robusteye.data.folder import load_image_folder

        _check_options(options, _FOLDER_KEYS, f"an image folder ({path})")
        return load_image_folder(path, **options)
    _check_options(options, set(), f"a file ({path})")
    kind = _sniff(path)
    if kind == "npz":
        return EyeDataset.load(path)
    if kind == "pz":
        from robusteye.data.pz import load_pz

        return load_pz(path)
    raise UsageError(
        f"unsupported data source {path}: expected 'synthetic', a folder, .npz or data.pz"
    )


def parse_synthetic(text: str) -> dict[str, int]:
    """Parse `"synthetic:n=500,seed=3"` into keyword arguments."""
    params: dict[str, int] = {}
    _, _, tail = text.partition(":")
    for item in filter(None, (s.strip() for s in tail.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in _SYNTHETIC_KEYS:
            raise UsageError(
                f"bad synthetic option {item!r}: use "
                f"synthetic:{','.join(k + '=INT' for k in _SYNTHETIC_KEYS)}"
            )
        params[key] = _integer(key, value.strip())
    return params


def _integer(key: str, value: str) -> int:
    """`value` as an int; `5e3` (an integer in exponent form) is 5000."""
    try:
        return int(value)
    except ValueError:
        pass
    match = re.fullmatch(r"([+-]?\d{1,18})[eE]\+?(\d{1,2})", value)
    if match is None:
        raise UsageError(f"synthetic option {key} must be an integer, got {value!r}")
    number = int(match[1]) * 10 ** int(match[2])
    if abs(number) >= 1 << 63:
        raise UsageError(f"synthetic option {key} is out of range, got {value!r}")
    return number  # the generator checks the range of each option


def _synthetic(text: str, options: dict[str, Any]) -> EyeDataset:
    from robusteye.data.synthetic import generate_synthetic

    params: dict[str, Any] = parse_synthetic(text)
    _check_options(options, set(_SYNTHETIC_KEYS), "synthetic data")
    params.update(options)
    if isinstance(params.get("n"), int) and "n_persons" not in params:
        # `synthetic:n=40` asks for a small set, not for an error about the 48 default persons
        params["n_persons"] = default_persons(params["n"])
    return generate_synthetic(**params)


def default_persons(n: int) -> int:
    """The generator's default person count, capped at `n` so that small sets just work."""
    from robusteye.data.synthetic import generate_synthetic

    default = inspect.signature(generate_synthetic).parameters["n_persons"].default
    return max(1, min(int(default), n))


def _check_options(options: dict[str, Any], allowed: set[str], what: str) -> None:
    extra = sorted(set(options) - allowed)
    if extra:
        raise UsageError(f"option(s) {', '.join(extra)} do not apply to {what}")


def _sniff(path: Path) -> str:
    """The kind of data file `path` is ("npz", "pz" or "unknown"): by suffix, else by content.

    The file is opened first in every case, through `open_regular`: a FIFO, socket or device
    is refused here with one line (opening a FIFO to read its head would block forever).
    """
    with open_regular(path, error=UsageError) as fh:
        head = fh.read(4)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix in (".pz", ".pkl", ".pickle", ".gz"):
        return "pz"
    if head.startswith(b"PK"):
        return "npz"
    if head.startswith(b"\x1f\x8b") or head.startswith(b"\x80"):
        return "pz"
    return "unknown"
