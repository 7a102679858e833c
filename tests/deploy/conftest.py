"""Small models of every family, trained a few steps on the toy task and saved as checkpoints,
and the toy task as a data set with persons (what an export checks parity on)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robusteye.data import EyeDataset
from robusteye.models import create_model, save_model
from tests.toy import toy_batch

pytest.importorskip("onnxruntime", reason="the deploy extra is not installed")

CLASSES = ("open", "closed")
#: every registered architecture family, at a size a test trains in seconds
FAMILIES = {
    "wrn": {"depth": 10, "width": 1},
    "parseval_wrn": {"depth": 10, "width": 1},
    "cnn": {},
    "parseval_cnn": {},
    "lipschitz_cnn": {},
}


def clear_batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The toy task with a contrast of 0.2 instead of 0.06: models trained on it have margins
    that int8 rounding does not erase (on the faint task it may, and the export says so)."""
    x, y = toy_batch(n, seed=seed)
    half = torch.zeros_like(x)
    half[y == 0, :, :16] = 0.14
    half[y == 1, :, 16:] = 0.14
    return (x + half).clamp(0, 1), y


def toy_dataset(n: int, seed: int, persons: int = 8, offset: int = 0) -> EyeDataset:
    x, y = clear_batch(n, seed=seed)
    return EyeDataset(x, y, CLASSES, tuple(f"p{offset + i % persons:02d}" for i in range(n)))


def train_family(name: str, steps: int = 30) -> torch.nn.Module:
    torch.manual_seed(0)  # dropout draws from the global generator
    model = create_model(name, 2, seed=0, classes=CLASSES, **FAMILIES[name])
    # Parseval WRNs (orthonormal convs, convex merges) move slowly: a larger step
    opt = torch.optim.Adam(model.parameters(), lr=3e-2 if name == "parseval_wrn" else 3e-3)
    x, y = clear_batch(512, seed=1)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.apply_constraints(g)
    return model.eval()


@pytest.fixture(scope="session")
def family_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {name: save_model(train_family(name), root / name) for name in FAMILIES}


@pytest.fixture(scope="session")
def toy_npz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy task as an npz file robusteye reads (persons p00 to p07)."""
    return toy_dataset(240, seed=3).save(tmp_path_factory.mktemp("toy") / "toy.npz")
