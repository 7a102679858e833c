"""Shared fixtures: small hand-made data sets and the optional real-data folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robusteye.data import EyeDataset
from tests.toy import toy_batch, train_toy

REAL_A = Path(__file__).resolve().parents[2] / "shared" / "data" / "eyes_real_a"


def make_dataset(
    n: int = 60,
    n_persons: int = 12,
    classes: tuple[str, ...] = ("open", "partiallyOpen", "closed", "notVisible"),
    seed: int = 0,
) -> EyeDataset:
    """Random crops; each person has images of every class (round robin)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(classes)
    persons = tuple(f"p{(i // len(classes)) % n_persons:02d}" for i in range(n))
    return EyeDataset(
        images=torch.rand(n, 1, 32, 32, generator=g),
        labels=labels.to(torch.int64),
        classes=classes,
        persons=persons,
    )


@pytest.fixture
def tiny_ds() -> EyeDataset:
    return make_dataset()


@pytest.fixture
def real_a() -> Path:
    if not (REAL_A / "manifest.csv").is_file():
        pytest.skip(f"real data folder not present: {REAL_A}")
    return REAL_A


@pytest.fixture(scope="session")
def trained_toy() -> torch.nn.Module:
    """A tiny CNN with BatchNorm trained on the toy task (class = which half is brighter)."""
    return train_toy()


@pytest.fixture
def toy_data() -> tuple[torch.Tensor, torch.Tensor]:
    return toy_batch(200, seed=2)
