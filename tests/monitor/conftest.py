"""A two-class (open / closed) CNN trained here on synthetic crops, and the demo clip."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robusteye.data.synthetic import CLOSED, OPEN, generate_synthetic
from robusteye.models import create_model, save_model

pytest.importorskip("cv2", reason="the video extra is not installed")


@pytest.fixture(scope="session")
def eye_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ds = generate_synthetic(2400, seed=5, n_persons=24)
    keep = (ds.labels == OPEN) | (ds.labels == CLOSED)
    x, y = ds.images[keep], (ds.labels[keep] == CLOSED).long()
    torch.manual_seed(0)
    model = create_model("cnn", 2, seed=0, classes=("open", "closed"))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(5):
        for idx in torch.randperm(len(x), generator=g).split(64):
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return save_model(model.eval(), tmp_path_factory.mktemp("model") / "cnn")


@pytest.fixture(scope="session")
def demo_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from robusteye.monitor.demo import render_demo

    path = tmp_path_factory.mktemp("clip") / "demo.mp4"
    render_demo(path, seconds=13.0)
    return path
