"""`EyeDataset`: the one container every stage passes around.

Contract: `images` float32 N x 1 x 32 x 32 in [0, 1]; `labels` int64 in [0, len(classes));
`persons` one id string per image; `sources` optional per-image origin (file name).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robusteye.data.limits import IMAGE_SIZE, MAX_IMAGES, MAX_NAME_CHARS
from robusteye.data.npz import read_npz, write_npz
from robusteye.errors import DataError

#: The study's four classes, ordered by eyelid aperture (open -> closed), then "not visible".
STUDY_CLASSES: tuple[str, ...] = ("open", "partiallyOpen", "closed", "notVisible")

__all__ = ["IMAGE_SIZE", "MAX_IMAGES", "MAX_NAME_CHARS", "STUDY_CLASSES", "EyeDataset"]


@dataclass(frozen=True, eq=False)
class EyeDataset:
    """Eye crops with labels, person ids and optional per-image source names.

    Validated on construction; any violation raises `DataError` with one clear line.
    `meta` holds dataset-level facts as JSON-able values (origin, pixel mapping, generator seed).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    persons: tuple[str, ...]
    sources: tuple[str, ...] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "persons", tuple(str(p) for p in self.persons))
        if self.sources is not None:
            object.__setattr__(self, "sources", tuple(str(s) for s in self.sources))
        _validate(self)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def person_ids(self) -> tuple[str, ...]:
        """Distinct person ids in order of first appearance."""
        return tuple(dict.fromkeys(self.persons))

    def person_index(self) -> np.ndarray:
        """One integer group id per image (for scikit-learn's group splitters)."""
        lookup = {p: i for i, p in enumerate(self.person_ids)}
        return np.fromiter((lookup[p] for p in self.persons), dtype=np.int64, count=len(self))

    def class_counts(self) -> dict[str, int]:
        counts = torch.bincount(self.labels, minlength=self.num_classes).tolist()
        return dict(zip(self.classes, counts, strict=True))

    def person_counts(self) -> dict[str, int]:
        return dict(Counter(self.persons))

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> EyeDataset:
        """A new dataset with the given rows (same classes and meta)."""
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        rows = idx.tolist()
        return EyeDataset(
            images=self.images[idx],
            labels=self.labels[idx],
            classes=self.classes,
            persons=tuple(self.persons[i] for i in rows),
            sources=None if self.sources is None else tuple(self.sources[i] for i in rows),
            meta=dict(self.meta),
        )

    def of_classes(self, classes: Sequence[str]) -> EyeDataset:
        """The rows whose class is among `classes` (which becomes the class list), labelled by
        position in it; empty when none is."""
        classes = tuple(classes)
        lookup = torch.tensor([classes.index(c) if c in classes else -1 for c in self.classes])
        labels = lookup[self.labels]
        kept = self.subset(torch.nonzero(labels >= 0).flatten())
        return replace(kept, labels=labels[labels >= 0], classes=classes)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write a compressed .npz atomically (no pickle inside); returns the path written.

        An empty data set is refused: `load` would refuse the file it makes.
        """
        return write_npz(
            path,
            images=self.images.numpy(),
            labels=self.labels.numpy(),
            classes=self.classes,
            persons=self.persons,
            sources=self.sources,
            meta=self.meta,
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EyeDataset:
        """Read a .npz written by `save` (pickle disabled); malformed files raise `DataError`."""
        fields = read_npz(path)
        try:
            return cls(**fields)
        except DataError as err:
            raise DataError(f"{Path(path)}: {err}") from None


def _validate(ds: EyeDataset) -> None:
    x, y = ds.images, ds.labels
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise DataError("images and labels must be torch tensors")
    if x.dtype != torch.float32:
        raise DataError(f"images must be float32, got {x.dtype}")
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(f"images must have shape N x 1 x 32 x 32, got {tuple(x.shape)}")
    if y.dtype != torch.int64 or y.ndim != 1:
        raise DataError(
            f"labels must be a 1-D int64 tensor, got {y.dtype} with shape {tuple(y.shape)}"
        )
    n = x.shape[0]
    if y.shape[0] != n or len(ds.persons) != n:
        raise DataError(
            f"lengths differ: {n} images, {y.shape[0]} labels, {len(ds.persons)} person ids"
        )
    if ds.sources is not None and len(ds.sources) != n:
        raise DataError(f"lengths differ: {n} images, {len(ds.sources)} source names")
    if len(ds.classes) < 2:
        raise DataError(f"need at least 2 classes, got {list(ds.classes)}")
    if len(set(ds.classes)) != len(ds.classes):
        raise DataError(f"class names repeat: {list(ds.classes)}")
    if n and not bool(torch.isfinite(x).all()):
        raise DataError("images contain NaN or Inf")
    if n and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise DataError(
            f"image values must lie in [0, 1], got [{float(x.min()):.4g}, {float(x.max()):.4g}]"
        )
    if n and (int(y.min()) < 0 or int(y.max()) >= len(ds.classes)):
        raise DataError(
            f"labels must lie in [0, {len(ds.classes) - 1}], got [{int(y.min())}, {int(y.max())}]"
        )
    if any(p == "" for p in ds.persons):
        raise DataError("person ids must not be empty")
