"""The one training route: aim 1's source model (trained, given, or a checkpoint named by the
regime), `until`, resume, and the grid cell that names a source checkpoint."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from robusteye.data import load_dataset
from robusteye.data.splits import person_splits
from robusteye.errors import UsageError
from robusteye.experiments import load_spec, run_experiment
from robusteye.models import save_model
from robusteye.results import CellRow
from robusteye.train import RegimeConfig, TrainConfig
from robusteye.train.split import SOURCE_DIR, SplitFit, SplitRequest, train_on_split

DATA = "synthetic:n=80"
AUGMENT = RegimeConfig(kind="augment", perturbation="fgsm", eps=0.03, percent=50)


def _config(regime: RegimeConfig | None = None, epochs: int = 2) -> TrainConfig:
    regime = regime or RegimeConfig()
    return TrainConfig(epochs=epochs, batch_size=32, augment=False, regime=regime)


def _train(ds: Any, tr: np.ndarray, va: np.ndarray, config: TrainConfig, **kw: Any) -> SplitFit:
    return train_on_split(SplitRequest(ds, tr, va, "cnn", config, **kw))


def _rows() -> tuple[object, np.ndarray, np.ndarray]:
    ds = load_dataset(DATA)
    (fold,) = person_splits(ds, val=0.2, seed=0).folds
    return ds, fold.train, fold.test


def test_aim1_trains_its_source_first_to_the_full_epochs(tmp_path: Path) -> None:
    ds, tr, va = _rows()
    done = train_on_split(
        SplitRequest(ds, tr, va, "cnn", _config(AUGMENT, epochs=3), work_dir=tmp_path, until=1)
    )
    assert len(done.train) == len(tr) + round(len(tr) * 0.5)
    assert len(done.val) == len(va) and len(done.fit.history) == 1
    source = (tmp_path / SOURCE_DIR / "curves.csv").read_text().strip().splitlines()
    assert len(source) == 1 + 3  # header and three epochs: until stops the model only


def test_a_given_source_is_used_and_changes_the_copies(tmp_path: Path) -> None:
    ds, tr, va = _rows()
    own = _train(ds, tr, va, _config(AUGMENT))
    other = _train(ds, tr, va, replace(_config(), seed=5))
    given = _train(ds, tr, va, _config(AUGMENT), source=other.model)
    n = len(tr)
    assert torch.equal(own.train.images[:n], given.train.images[:n])  # the clean part
    assert not torch.equal(own.train.images[n:], given.train.images[n:])  # crafted on another


def test_a_regime_source_checkpoint_is_loaded_and_its_classes_checked(tmp_path: Path) -> None:
    ds, tr, va = _rows()
    std = _train(ds, tr, va, _config())
    ckpt = save_model(std.model, tmp_path / "source")
    named = replace(AUGMENT, source=str(ckpt))
    a = _train(ds, tr, va, _config(named))
    b = _train(ds, tr, va, _config(AUGMENT), source=std.model)
    assert torch.equal(a.train.images, b.train.images)
    missing = replace(AUGMENT, source=str(tmp_path / "nope"))
    with pytest.raises(UsageError, match="no such source checkpoint"):
        _train(ds, tr, va, _config(missing))


def test_a_grid_cell_may_name_a_source_checkpoint(tmp_path: Path) -> None:
    """Once an AssertionError: grid cells ignored the regime's `source` checkpoint."""
    ds, tr, va = _rows()
    ckpt = save_model(_train(ds, tr, va, _config()).model, tmp_path / "source")
    spec = {
        "name": "sourced",
        "data": DATA,
        "folds": 2,
        "models": ["cnn"],
        "train": {"epochs": 1, "batch_size": 32, "augment": False},
        "regimes": [
            {
                "kind": "augment",
                "perturbation": "fgsm",
                "eps": 0.03,
                "percent": 50,
                "source": str(ckpt),
            }
        ],
        "evaluation": {"attacks": [{"name": "fgsm", "eps": [0.03]}], "examples": 0},
    }
    result = run_experiment(load_spec(spec), tmp_path / "run")
    assert result.ran == 2
    for row in result.rows:
        assert isinstance(row, CellRow)
        assert row.n_train > 0 and row.regime["source"] == str(ckpt)
