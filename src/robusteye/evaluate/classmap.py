"""Score a model on data whose class list differs: labels are matched by class name."""

from __future__ import annotations

import torch

from robusteye.data import EyeDataset
from robusteye.errors import DataError


def align_to_model(ds: EyeDataset, model_classes: tuple[str, ...]) -> EyeDataset:
    """`ds` relabelled into the model's class indices; data classes the model lacks are an error.

    A 2-class open/closed set scored by a 4-class model keeps its labels (open -> open,
    closed -> closed); metrics are then computed over the model's classes.
    """
    if ds.classes == model_classes:
        return ds
    unknown = [c for c in ds.classes if c not in model_classes]
    if unknown:
        raise DataError(
            f"data classes {', '.join(unknown)} are unknown to the model "
            f"(model classes: {', '.join(model_classes)})"
        )
    lookup = torch.tensor([model_classes.index(c) for c in ds.classes], dtype=torch.int64)
    return EyeDataset(
        ds.images, lookup[ds.labels], model_classes, ds.persons, ds.sources, dict(ds.meta)
    )
