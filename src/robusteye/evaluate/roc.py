"""ROC curves on a shared false-positive-rate grid, so curves of several folds average."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

#: the FPR grid every stored curve is interpolated onto
ROC_POINTS = 101


def roc_curve_micro(logits: Tensor, labels: Tensor, *, points: int = ROC_POINTS) -> dict[str, Any]:
    """`{"fpr", "tpr", "auc"}`: the micro-averaged one-vs-rest ROC curve (for two classes, the
    curve of class 1), TPR interpolated onto `points` evenly spaced FPR values in [0, 1].

    `auc` is that of the exact curve; None (and TPR all NaN -> None) when only one class is
    present.
    """
    from sklearn.metrics import auc, roc_curve

    logits = logits.detach().float().cpu()
    y = labels.detach().cpu().numpy()
    probs = torch.softmax(logits, 1).numpy()
    k = probs.shape[1]
    grid = np.linspace(0.0, 1.0, points)
    if k == 2:
        truth, score = y == 1, probs[:, 1]
    else:
        truth, score = np.eye(k, dtype=bool)[y].ravel(), probs.ravel()
    if truth.all() or not truth.any():
        return {"fpr": grid.tolist(), "tpr": [None] * points, "auc": None}
    fpr, tpr, _ = roc_curve(truth, score)
    tpr_grid = np.interp(grid, fpr, tpr)
    tpr_grid[0] = 0.0  # the curve starts at the origin whatever the first threshold gives
    return {"fpr": grid.tolist(), "tpr": tpr_grid.tolist(), "auc": float(auc(fpr, tpr))}
