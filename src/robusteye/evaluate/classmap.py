"""Score a model on data whose class list differs.

Two ways: `align_to_model` relabels the data into the model's classes by name (metrics over
the model's classes); a `ClassMap` turns the model's outputs into log-probabilities over the
data's classes (metrics over the data's classes), merging or excluding model classes. A
4-class model (open, partiallyOpen, closed, notVisible) on 2-class open/closed data:

- `partial-as-open` (the default there): P(open) + P(partiallyOpen) vs P(closed), notVisible
  excluded (its probability dropped, the rest renormalised);
- `exclude-partial`: partiallyOpen and notVisible excluded, open vs closed renormalised.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from robusteye.data import EyeDataset
from robusteye.errors import DataError, UsageError

#: `--class-map` choices: auto picks partial-as-open for open/closed data on a model that has
#: partiallyOpen, and otherwise aligns labels by name; none always aligns by name.
CLASS_MAPS = ("auto", "partial-as-open", "exclude-partial", "none")
OPEN, PARTIAL = "open", "partiallyOpen"


def align_to_model(ds: EyeDataset, model_classes: tuple[str, ...]) -> EyeDataset:
    """`ds` relabelled into the model's class indices; data classes the model lacks are an error.

    With `--class-map none`, a 2-class open/closed set scored by a 4-class model keeps its
    labels (open -> open, closed -> closed); metrics are then computed over the model's classes.
    """
    if ds.classes == model_classes:
        return ds
    _check_known(ds.classes, model_classes)
    lookup = torch.tensor([model_classes.index(c) for c in ds.classes], dtype=torch.int64)
    return EyeDataset(
        ds.images, lookup[ds.labels], model_classes, ds.persons, ds.sources, dict(ds.meta)
    )


@dataclass(frozen=True)
class ClassMap:
    """Model outputs -> log-probabilities over the data's `classes`.

    `groups[i]` are the model class indices whose probabilities add up to data class i; model
    classes in no group are excluded and the kept probabilities renormalised.
    """

    name: str
    model_classes: tuple[str, ...]
    classes: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]

    def apply(self, logits: Tensor) -> Tensor:
        """N x len(model_classes) logits -> N x len(classes) normalised log-probabilities."""
        if logits.ndim != 2 or logits.shape[1] != len(self.model_classes):
            raise UsageError(
                f"class map {self.name} expects logits over {len(self.model_classes)} classes, "
                f"got shape {tuple(logits.shape)}"
            )
        logp = torch.log_softmax(logits.float(), dim=1)
        merged = torch.stack([torch.logsumexp(logp[:, list(g)], dim=1) for g in self.groups], 1)
        return merged - torch.logsumexp(merged, dim=1, keepdim=True)

    @property
    def merged(self) -> dict[str, str]:
        """Model class -> the other-named data class it is counted as."""
        return {
            self.model_classes[i]: c
            for c, g in zip(self.classes, self.groups, strict=True)
            for i in g
            if self.model_classes[i] != c
        }

    @property
    def excluded(self) -> tuple[str, ...]:
        kept = {i for g in self.groups for i in g}
        return tuple(c for i, c in enumerate(self.model_classes) if i not in kept)

    def describe(self) -> str:
        """'partiallyOpen -> open, notVisible excluded'."""
        parts = [f"{m} -> {c}" for m, c in self.merged.items()]
        if self.excluded:
            parts.append(f"{', '.join(self.excluded)} excluded")
        return ", ".join(parts) or "identity"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.describe(),
            "model_classes": list(self.model_classes),
            "classes": list(self.classes),
            "merged": self.merged,
            "excluded": list(self.excluded),
        }


def class_map(
    name: str, model_classes: tuple[str, ...], data_classes: tuple[str, ...]
) -> ClassMap | None:
    """The map `name` (one of `CLASS_MAPS`) from the model's to the data's classes, or None
    where scores are kept over the model's classes (`none`, equal classes, or `auto` without
    a partially open class to merge). The explicit maps need data without partiallyOpen."""
    if name not in CLASS_MAPS:
        raise UsageError(f"unknown class map {name!r}; known: {', '.join(CLASS_MAPS)}")
    same = tuple(data_classes) == tuple(model_classes)
    if name == "none" or (name == "auto" and same):
        return None
    _check_known(data_classes, model_classes)
    mergeable = OPEN in data_classes and PARTIAL in model_classes and PARTIAL not in data_classes
    if name == "auto":
        if not mergeable:
            return None
        name = "partial-as-open"
    if PARTIAL in data_classes or (name == "partial-as-open" and not mergeable):
        raise UsageError(
            f"--class-map {name} needs data without {PARTIAL}"
            + (f", with {OPEN}, and a model with {PARTIAL}" if name == "partial-as-open" else "")
            + f" (data: {', '.join(data_classes)}; model: {', '.join(model_classes)})"
        )
    if same:
        return None  # e.g. an open / closed model on open / closed data: nothing to map
    groups = [[model_classes.index(c)] for c in data_classes]
    if name == "partial-as-open":
        groups[data_classes.index(OPEN)].append(model_classes.index(PARTIAL))
    return ClassMap(name, tuple(model_classes), tuple(data_classes), tuple(map(tuple, groups)))


def _check_known(data_classes: tuple[str, ...], model_classes: tuple[str, ...]) -> None:
    unknown = [c for c in data_classes if c not in model_classes]
    if unknown:
        raise DataError(
            f"data classes {', '.join(unknown)} are unknown to the model "
            f"(model classes: {', '.join(model_classes)})"
        )
