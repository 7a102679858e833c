from __future__ import annotations

import copy
import itertools
import json
import math

import pytest
import torch

from robusteye.attacks import fgsm
from robusteye.errors import UsageError
from robusteye.evaluate import predict_logits, robustness_curve, transfer_matrix
from tests.toy import toy_batch

CLASSES = ("top", "bottom")


def test_curve_has_clean_point_and_falls(trained_toy):
    x, y = toy_batch(120, seed=3)
    curve = robustness_curve(trained_toy, x, y, CLASSES, "fgsm", eps=[0.005, 0.02, 0.05])
    accs = [p.metrics.accuracy for p in curve.points]
    assert curve.clean.eps == 0.0 and math.isinf(curve.clean.snr_db)
    assert accs[0] > 0.95 and accs[-1] < 0.2
    assert all(a >= b for a, b in itertools.pairwise(accs))
    snrs = [p.snr_db for p in curve.points[1:]]
    assert snrs == sorted(snrs, reverse=True)
    # the shared-gradient fast path equals crafting at each eps
    x_adv = fgsm(trained_toy, x, y, 0.02)
    acc = float((predict_logits(trained_toy, x_adv).argmax(1) == y).float().mean())
    assert curve.points[2].metrics.accuracy == acc
    data = json.loads(curve.to_json())
    assert data["points"][0]["snr_db"] is None and len(data["points"]) == 4


def test_curve_by_snr(trained_toy):
    x, y = toy_batch(100, seed=4)
    curve = robustness_curve(trained_toy, x, y, CLASSES, "noise", snr=[40.0, 20.0], seed=1)
    for p, target in zip(curve.points[1:], [40.0, 20.0], strict=True):
        assert p.snr_db == pytest.approx(target, abs=0.1) and p.target_snr_db == target
    with pytest.raises(UsageError, match="either eps or snr"):
        robustness_curve(trained_toy, x, y, CLASSES, "fgsm", eps=[0.1], snr=[30.0])


def test_transfer_matrix_diagonal_is_white_box(trained_toy):
    other = copy.deepcopy(trained_toy)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    x, y = toy_batch(100, seed=5)
    tm = transfer_matrix({"a": trained_toy, "b": other}, x, y, "fgsm", 0.03)
    by_snr = transfer_matrix({"a": trained_toy, "b": other}, x, y, "fgsm", snr=35.0)
    assert all(abs(s - 35.0) < 0.1 for s in by_snr.snr_db)
    white = float(
        (predict_logits(trained_toy, fgsm(trained_toy, x, y, 0.03)).argmax(1) == y).float().mean()
    )
    assert tm.accuracy[0][0] == white
    assert len(tm.accuracy) == 2 and all(len(r) == 2 for r in tm.accuracy)
    assert tm.clean_accuracy[0] > 0.95
    assert tm.to_dict()["names"] == ["a", "b"]
