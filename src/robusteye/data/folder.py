"""Image folders laid out as `<root>/<label>/*.{png,jpg,jpeg,bmp}`.

Person ids come from `<root>/manifest.csv` (columns `file,label,person_id`, file relative to
root) when present, else from a file-name regex (default: MRL-style `s0001_...` names), else
each file stem is its own person (and grouped splits then cannot keep a person's images
together: `meta["person_source"]` says which rule was used).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from robusteye.data.dataset import STUDY_CLASSES, EyeDataset
from robusteye.data.imageio import IMAGE_SUFFIXES, read_image
from robusteye.data.limits import MAX_IMAGES
from robusteye.errors import DataError, UsageError
from robusteye.readers import read_text

log = logging.getLogger(__name__)
#: MRL Eye Dataset names look like `s0001_00001_0_0_0_0_0_01.png`: the subject is `s0001`.
DEFAULT_PERSON_REGEX = r"^(?P<person>s\d{4})_"


def load_image_folder(
    root: str | os.PathLike[str],
    *,
    label_map: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
    manifest: str | os.PathLike[str] | None = None,
    person_regex: str = DEFAULT_PERSON_REGEX,
) -> EyeDataset:
    """Load every image under `root/<label>/` into an `EyeDataset`.

    Args:
        label_map: folder name -> class name (e.g. `{"Open_Eyes": "open"}`); unmapped folders
            keep their name.
        classes: the class names, in order; a folder whose label is not among them is an error.
            Default: the study's classes present (in study order), then others sorted.
        manifest: CSV with `file,label,person_id`; default `root/manifest.csv` if it exists.
        person_regex: regex with a group (named `person` or the first) matched on file names.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"no such folder: {root}")
    label_map = dict(label_map or {})
    files = _list_images(root, label_map)
    labels_present = sorted({lab for _, lab in files})
    classes = _resolve_classes(root, labels_present, classes)
    persons, person_source = _persons(root, [f for f, _ in files], manifest, person_regex)
    images = np.empty((len(files), 1, 32, 32), dtype=np.float32)
    for i, (file, _) in enumerate(files):
        images[i, 0] = read_image(file)
    index = {c: i for i, c in enumerate(classes)}
    return EyeDataset(
        images=torch.from_numpy(images),
        labels=torch.tensor([index[lab] for _, lab in files], dtype=torch.int64),
        classes=classes,
        persons=persons,
        sources=tuple(f.relative_to(root).as_posix() for f, _ in files),
        meta={
            "origin": "folder",
            "path": str(root),
            "label_map": label_map,
            "person_source": person_source,
        },
    )


def _list_images(root: Path, label_map: dict[str, str]) -> list[tuple[Path, str]]:
    unknown_keys = set(label_map) - {p.name for p in root.iterdir() if p.is_dir()}
    if unknown_keys:
        raise UsageError(
            f"label map names folders that do not exist in {root}: "
            f"{', '.join(sorted(unknown_keys))}"
        )
    files: list[tuple[Path, str]] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = label_map.get(sub.name, sub.name)
        found = []
        for f in sub.iterdir():  # counted as listed: the check comes before any image is read
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES:
                found.append(f)
                if len(files) + len(found) > MAX_IMAGES:
                    raise DataError(
                        f"{root}: more than {MAX_IMAGES:,} images; robusteye reads at most "
                        f"{MAX_IMAGES:,} into one data set"
                    )
        files.extend((f, label) for f in sorted(found))
    if not files:
        raise DataError(f"no images found in {root} (expected {root}/<label>/*.png|jpg|jpeg|bmp)")
    return files


def _resolve_classes(
    root: Path, present: list[str], classes: Sequence[str] | None
) -> tuple[str, ...]:
    if classes is None:
        known = [c for c in STUDY_CLASSES if c in present]
        resolved = tuple(known + [c for c in present if c not in known])
        if len(resolved) < 2:
            raise DataError(f"{root}: need images of at least 2 classes, found only {present}")
        return resolved
    unknown = [lab for lab in present if lab not in classes]
    if unknown:
        raise DataError(
            f"{root}: unknown label folder(s) {', '.join(unknown)} "
            f"(expected one of {', '.join(classes)})"
        )
    return tuple(classes)


def _persons(
    root: Path, files: list[Path], manifest: str | os.PathLike[str] | None, person_regex: str
) -> tuple[tuple[str, ...], str]:
    table: dict[str, str] = {}
    manifest_path = Path(manifest) if manifest is not None else root / "manifest.csv"
    if manifest is not None and not manifest_path.is_file():
        raise UsageError(f"no such manifest: {manifest_path}")
    if manifest_path.is_file():
        table = _read_manifest(manifest_path)
    try:
        pattern = re.compile(person_regex)
    except re.error as err:
        raise UsageError(f"invalid person regex {person_regex!r}: {err}") from None
    persons, sources = [], set()
    for f in files:
        rel = f.relative_to(root).as_posix()
        match = pattern.search(f.name)
        if rel in table:
            persons.append(table[rel])
            sources.add("manifest")
        elif match:
            group = match.groupdict().get("person") or (match.group(1) if match.groups() else "")
            persons.append(group or match.group(0))
            sources.add("regex")
        else:
            persons.append(f.stem)
            sources.add("file")
    if "file" in sources:
        log.warning("%s: some images have no person id (manifest or regex); using file names", root)
    return tuple(persons), "+".join(sorted(sources))


def _read_manifest(path: Path) -> dict[str, str]:
    # a regular file of bounded size (64 MiB: about a million rows), never a FIFO or a device
    text = read_text(path)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or not {"file", "person_id"} <= set(reader.fieldnames):
            raise DataError(f"{path}: manifest needs the columns file and person_id")
        return {row["file"]: row["person_id"] for row in reader if row.get("person_id")}
    except csv.Error as err:
        raise DataError(f"{path}: unreadable manifest ({err})") from None
