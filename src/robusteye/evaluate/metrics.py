"""Classification metrics from logits: pure functions, scikit-learn where it has them.

Naming follows scikit-learn: `*_score` higher is better, `loss` lower is better.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass(frozen=True)
class Metrics:
    """Metrics of one evaluation; per-class dicts are keyed by class name."""

    n: int
    accuracy: float
    loss: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    roc_auc_macro: float | None
    roc_auc_micro: float | None
    confusion: list[list[int]]
    classes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Metrics:
        return cls(**{**d, "classes": tuple(d["classes"])})


def classification_metrics(logits: Tensor, labels: Tensor, classes: tuple[str, ...]) -> Metrics:
    """Accuracy, cross-entropy, per-class and macro precision / recall / F1, ROC-AUC, confusion.

    ROC-AUC is one-vs-rest: macro averages the classes present with both positives and
    negatives; micro pools every (example, class) decision; binary uses P(class 1). None where
    undefined (a single class present).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    logits = logits.detach().float().cpu()
    labels = labels.detach().cpu()
    k = len(classes)
    if logits.ndim != 2 or logits.shape[1] != k or logits.shape[0] != labels.shape[0]:
        raise ValueError(
            f"logits {tuple(logits.shape)} do not match {labels.shape[0]} labels and {k} classes"
        )
    y = labels.numpy()
    pred = logits.argmax(1).numpy()
    probs = torch.softmax(logits, 1).numpy()
    idx = list(range(k))
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=idx, zero_division=0)
    return Metrics(
        n=int(y.size),
        accuracy=float((pred == y).mean()) if y.size else float("nan"),
        loss=float(F.cross_entropy(logits, labels)) if y.size else float("nan"),
        precision=dict(zip(classes, map(float, p), strict=True)),
        recall=dict(zip(classes, map(float, r), strict=True)),
        f1=dict(zip(classes, map(float, f), strict=True)),
        macro_precision=float(np.mean(p)),
        macro_recall=float(np.mean(r)),
        macro_f1=float(np.mean(f)),
        roc_auc_macro=_auc_macro(y, probs),
        roc_auc_micro=_auc_micro(y, probs),
        confusion=confusion_matrix(y, pred, labels=idx).tolist(),
        classes=tuple(classes),
    )


def _auc_macro(y: np.ndarray, probs: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    k = probs.shape[1]
    if k == 2:
        return float(roc_auc_score(y, probs[:, 1])) if len(np.unique(y)) == 2 else None
    scores = [roc_auc_score(y == c, probs[:, c]) for c in range(k) if 0 < (y == c).sum() < y.size]
    return float(np.mean(scores)) if scores else None


def _auc_micro(y: np.ndarray, probs: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    k = probs.shape[1]
    if k == 2:
        return _auc_macro(y, probs)
    from sklearn.metrics import roc_auc_score

    onehot = np.eye(k, dtype=bool)[y]
    return float(roc_auc_score(onehot.ravel(), probs.ravel()))
