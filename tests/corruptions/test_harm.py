"""Corruptions hurt a tiny model trained on synthetic eye crops more as severity grows."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import nn

from robusteye.data.synthetic import generate_synthetic
from robusteye.evaluate import corruption_benchmark


def _tiny_eye_model() -> nn.Module:
    """A 3-conv CNN trained 8 epochs on 1000 synthetic crops (~75% clean accuracy)."""
    train = generate_synthetic(1000, seed=11, n_persons=24)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
        nn.Flatten(), nn.Linear(64, 4),
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(8):
        order = torch.randperm(len(train), generator=g)
        for i in range(0, len(train), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(train.images[idx]), train.labels[idx]).backward()
            opt.step()
    return model.eval()


@pytest.mark.slow
def test_mean_accuracy_falls_strictly_with_severity():
    test = generate_synthetic(300, seed=12, n_persons=8)
    with torch.random.fork_rng(devices=[]):
        model = _tiny_eye_model()
    result = corruption_benchmark(model, test.images, test.labels, test.classes, seed=0)
    assert result.clean.accuracy > 0.6
    by_severity = [
        sum(result.point(c, s).metrics.accuracy for c in result.corruptions)
        / len(result.corruptions)
        for s in result.severities
    ]
    assert result.severities == (1, 2, 3, 4, 5)
    assert result.clean.accuracy > by_severity[0]
    assert all(a > b for a, b in pairwise(by_severity)), by_severity
    assert by_severity[-1] < result.clean.accuracy - 0.2  # severity 5 clearly harmful
    assert result.mean_corruption_accuracy == pytest.approx(sum(by_severity) / 5)
