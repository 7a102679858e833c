"""Extra training data: crops from any source robusteye reads (the synthetic generator
included) mixed into every batch, with their own labels or a teacher's (pseudo-labels).

More data was the largest single gain on robust benchmarks: generated images (Gowal et al.
2021, https://arxiv.org/abs/2110.09468; Wang et al. 2023, https://arxiv.org/abs/2302.04638)
or unlabelled ones a standard model labels (Carmon et al. 2019,
https://arxiv.org/abs/1905.13736). `TrainConfig.extra_fraction` of each batch is drawn from
the extra set (with replacement, by the run's seeded `extra` generator); an epoch is still
one pass over the real training crops. Extra crops never enter the person splits: validation,
the robust check and the hold-out persons stay real.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.evaluate import predict_logits

__all__ = ["ExtraData", "extra_data"]


@dataclass(frozen=True)
class ExtraData:
    """The extra crops, labelled in the training data's classes, and what they are."""

    data: EyeDataset
    #: recorded with the run: the source, how many crops were kept, where labels came from
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.data)


def extra_data(
    extra: EyeDataset,
    classes: Sequence[str],
    *,
    source: str,
    teacher: nn.Module | None = None,
    teacher_name: str | None = None,
) -> ExtraData:
    """`extra` labelled in `classes` (the training data's): by `teacher`'s predictions when
    given (pseudo-labels; its classes must be `classes`), else by its own labels, keeping
    the crops of the classes the training data has and dropping the others."""
    classes = tuple(classes)
    info: dict[str, Any] = {"source": source, "n_source": len(extra)}
    if len(extra) == 0:
        raise UsageError(f"the extra data {source} holds no images")
    shared = [c for c in extra.classes if c in classes]
    if teacher is None and not shared:
        raise UsageError(
            f"the extra data's classes {list(extra.classes)} share none with the training "
            f"data's {list(classes)}"
        )
    if shared:  # crops of classes the model lacks (partially open, for a 2-class model) go
        info["dropped_classes"] = sorted(c for c in extra.classes if c not in classes)
        extra = extra.of_classes(classes)
        if not len(extra):
            raise UsageError(f"the extra data {source} holds no crops of {list(classes)}")
    if teacher is not None:
        mine = tuple(getattr(teacher, "classes", ()))
        if mine != classes:
            raise UsageError(
                f"the --pseudo-label model's classes {list(mine)} differ from the data's "
                f"{list(classes)}"
            )
        labels = predict_logits(teacher, extra.images).argmax(1)
        info["labels"] = f"pseudo-labels of {teacher_name or 'a teacher model'}"
        if shared:
            info["teacher_agreement"] = float((labels == extra.labels).float().mean())
        extra = EyeDataset(extra.images, labels, classes, extra.persons)
    else:
        info["labels"] = "the source's own"
    info["n"] = len(extra)
    return ExtraData(extra, info)


def real_per_batch(batch_size: int, extra_fraction: float) -> int:
    """Real training crops per batch: the batch less its extra share."""
    return max(1, batch_size - round(extra_fraction * batch_size))


def mixed_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    idx: torch.Tensor,
    extra: tuple[torch.Tensor, torch.Tensor] | None,
    k: int,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The real rows `idx` of (x, y), and with `extra` (its images and labels, on the
    device of x) `k` of its crops drawn with replacement by `generator` (the run's seeded
    `extra` generator)."""
    if extra is None or k == 0:
        return x[idx], y[idx]
    rows = torch.randint(len(extra[0]), (k,), generator=generator).to(x.device)
    return torch.cat([x[idx], extra[0][rows]]), torch.cat([y[idx], extra[1][rows]])
