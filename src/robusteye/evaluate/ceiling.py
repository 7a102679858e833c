"""The data's own limit on robust accuracy: how well any classifier could do in the balls.

Two crops of different labels closer than 2 eps (their balls meet) cannot both be classified
robustly: a point in both balls has one label. A matching in the graph of such pairs is a set
of disjoint pairs, each costing at least one error, so robust accuracy is at most
1 - |M| / N for a maximum matching M (Bhagoji et al. 2019; Pydi & Jog 2020). With two classes
the graph is bipartite and the bound is exact for the empirical distribution. With more, the
graph is not bipartite; the bound uses the best matching across any split of the classes into
two groups, which is a matching of the whole graph, so the bound stays valid (it may be
loose). Distances are computed in chunks (`torch.cdist`), never as an N x N x D tensor.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from robusteye.attacks import linf_ball_eps_for_snr
from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.norms import check_norm

#: the name of the ceiling as a curve of a result row, beside the audit's worst case
CEILING = "data ceiling"

#: rows of the distance matrix computed at once
CHUNK = 512
QUANTILES = (0.0, 0.01, 0.05, 0.5)


@dataclass(frozen=True)
class CeilingPoint:
    """The bound at one ball size: eps (a mean for per-image L2 radii), its SNR if one was
    asked, the pairs whose balls meet, the matching's size and the bound."""

    eps: float
    snr_db: float | None
    conflicting_pairs: int
    matched_pairs: int
    ceiling: float

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def _distances(a: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    p = math.inf if norm == "linf" else 2.0
    return torch.cdist(a.double(), b.double(), p=p)


def _other_label_distances(
    a: torch.Tensor, la: np.ndarray, b: torch.Tensor, lb: np.ndarray, norm: str
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first row, distances, the same with same-label pairs at +inf) for chunks of `CHUNK`
    rows of `a` against all of `b`: never an N x N x D tensor."""
    flat_a, flat_b = a.flatten(1), b.flatten(1)
    for start in range(0, len(flat_a), CHUNK):
        rows = slice(start, min(len(flat_a), start + CHUNK))
        d = _distances(flat_a[rows], flat_b, norm).numpy()
        yield start, d, np.where(la[rows, None] != lb[None, :], d, np.inf)


def _quantiles(nearest: np.ndarray, labels: np.ndarray, classes: Sequence[str]) -> dict[str, Any]:
    """Quantiles of `nearest` per class (classes with no crop or no other label left out)."""
    return {
        c: {f"q{q:g}": float(np.quantile(nearest[labels == k], q)) for q in QUANTILES}
        for k, c in enumerate(classes)
        if (labels == k).any() and np.isfinite(nearest[labels == k]).all()
    }


def _pairs(
    x: torch.Tensor, labels: np.ndarray, reach: float, norm: str
) -> tuple[list[tuple[int, int, float]], np.ndarray]:
    """Different-label pairs (i < j) at most `reach` apart, with their distances, and each
    crop's distance to its nearest crop of another label."""
    nearest = np.full(len(x), np.inf)
    pairs: list[tuple[int, int, float]] = []
    for start, d, d_other in _other_label_distances(x, labels, x, labels, norm):
        nearest[start : start + len(d)] = d_other.min(1)
        for i, j in zip(*np.nonzero(d_other <= reach), strict=True):
            if start + i < j:
                pairs.append((start + int(i), int(j), float(d[i, j])))
    return pairs, nearest


def _matching(pairs: list[tuple[int, int]], labels: np.ndarray, classes: int) -> int:
    """The largest matching found across every split of the classes into two groups."""
    best = 0
    groups = [set(c) for k in range(1, classes) for c in itertools.combinations(range(classes), k)]
    seen: set[frozenset[int]] = set()
    for left in groups:
        key = frozenset(left)
        if key in seen or frozenset(set(range(classes)) - left) in seen:
            continue
        seen.add(key)
        edges = [(i, j) if labels[i] in left else (j, i) for i, j in pairs
                 if (labels[i] in left) != (labels[j] in left)]  # fmt: skip
        if not edges:
            continue
        rows = np.array([e[0] for e in edges])
        cols = np.array([e[1] for e in edges])
        n = len(labels)
        graph = csr_matrix((np.ones(len(edges)), (rows, cols)), shape=(n, n))
        match = maximum_bipartite_matching(graph, perm_type="column")
        best = max(best, int((match >= 0).sum()))
    return best


def robust_ceiling(
    ds: EyeDataset,
    eps: Sequence[float] | None = None,
    *,
    snr: Sequence[float] | None = None,
    norm: str = "linf",
    holdout: EyeDataset | None = None,
) -> dict[str, Any]:
    """The robust-accuracy ceiling of `ds` at each eps (or the ball each SNR names, from the
    images alone as in the audit), the nearest different-label distance per class, and with
    `holdout` the distance of each hold-out crop to the nearest different-label crop of `ds`."""
    check_norm(norm)
    if (eps is None) == (snr is None):
        raise UsageError("give --eps LIST or --snr LIST (one of them)")
    x = ds.images
    labels = ds.labels.numpy()
    n = len(ds)
    sizes: list[tuple[float | np.ndarray, float | None]]
    if snr is not None:
        if norm == "linf":
            sizes = [(linf_ball_eps_for_snr(x, s), s) for s in snr]
        else:
            norms = x.double().flatten(1).norm(dim=1).numpy()
            sizes = [(norms * 10.0 ** (-s / 20.0), s) for s in snr]
    else:
        sizes = [(float(e), None) for e in eps or []]
    per_image = any(isinstance(e, np.ndarray) for e, _ in sizes)
    reach = max(2 * float(np.max(e)) for e, _ in sizes) if sizes else 0.0
    pairs, nearest = _pairs(x, labels, reach, norm)
    points = []
    for e, s in sizes:
        radius = np.broadcast_to(np.asarray(e, dtype=np.float64), (n,))
        meet = [(i, j) for i, j, d in pairs if d <= radius[i] + radius[j] + 1e-12]
        matched = _matching(meet, labels, len(ds.classes)) if meet else 0
        points.append(CeilingPoint(float(np.mean(e)), s, len(meet), matched, 1.0 - matched / n))
    doc: dict[str, Any] = {
        "norm": norm,
        "images": n,
        "classes": list(ds.classes),
        "bound": "exact (two classes)" if len(ds.classes) == 2 else "valid, may be loose",
        "per_image_radii": per_image,
        "points": [p.to_dict() for p in points],
        "nearest_other_label": _quantiles(nearest, labels, ds.classes),
    }
    if holdout is not None:
        doc["holdout"] = holdout_distances(ds, holdout, norm)
    return doc


def holdout_distances(train: EyeDataset, holdout: EyeDataset, norm: str) -> dict[str, Any]:
    """Quantiles of each hold-out crop's distance to the nearest training crop of another
    label, per class of the hold-out crop."""
    if holdout.classes != train.classes:
        raise UsageError("the hold-out crops have other classes than the training crops")
    la, lb = holdout.labels.numpy(), train.labels.numpy()
    nearest = np.full(len(holdout), np.inf)
    for start, _, d_other in _other_label_distances(holdout.images, la, train.images, lb, norm):
        nearest[start : start + len(d_other)] = d_other.min(1)
    return {
        "images": len(holdout),
        "nearest_other_label_training_crop": _quantiles(nearest, la, holdout.classes),
    }


class _AuditedBall(Protocol):
    """An audit's point (`AuditPoint`, or the stored `AuditPointSummary`): its ball."""

    @property
    def eps(self) -> float | None: ...

    @property
    def target_snr_db(self) -> float | None: ...


def audit_ceiling(ds: EyeDataset, points: Sequence[_AuditedBall], norm: str) -> dict[str, Any]:
    """The robust-accuracy ceiling of audited images in the audit's own balls (its points'
    eps, or for L2 the SNRs that set one radius per image), so the gap between the worst case
    and 1 splits into the data's share and the model's."""
    if norm == "l2" and points and points[0].target_snr_db is not None:
        snr = [p.target_snr_db for p in points if p.target_snr_db is not None]
        return robust_ceiling(ds, snr=snr, norm="l2")
    return robust_ceiling(ds, [float(p.eps or 0.0) for p in points], norm=norm)
