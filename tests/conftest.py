"""Shared fixtures: small hand-made data sets and the optional real-data folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from robusteye.data import EyeDataset
from robusteye.experiments import RunResult, load_spec, run_experiment
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


# A tiny experiment (2 folds, 2 epochs, 120 synthetic crops), run once per session and
# shared by the experiment, fault and report tests.
TINY: dict[str, Any] = {
    "name": "tiny",
    "data": "synthetic:n=120",
    "folds": 2,
    "models": ["wrn_16_1"],
    "train": {"epochs": 2, "batch_size": 32},
    "regimes": [{"kind": "standard"}, {"kind": "adversarial"}],
    "evaluation": {
        "attacks": [
            {"name": "fgsm", "eps": [0.01, 0.03, 0.1]},
            {"name": "noise", "snr": [30.0, 20.0]},
        ],
        "transfer": {"attack": "fgsm", "eps": [0.03]},
        "limit": 40,
        "examples": 3,
    },
}


@pytest.fixture(scope="session")
def tiny_spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return run_experiment(load_spec(TINY), out)


def comparable(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows (typed rows as their JSON form) without wall-clock fields, sorted by id
    (completion order varies by backend)."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "seconds"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    dicts = [r.to_dict() if hasattr(r, "to_dict") else r for r in rows]
    return sorted((strip(r) for r in dicts), key=lambda r: r["id"])
