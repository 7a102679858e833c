"""`Trainer.fit(until=k)`: stop after epoch k of the full run's schedule, then resume it (what
successive halving does to a promoted trial)."""

from __future__ import annotations

from pathlib import Path

import torch

from robusteye.evaluate import predict_logits
from robusteye.models import create_model
from robusteye.train import TrainConfig, Trainer
from tests.conftest import make_dataset


def _model() -> torch.nn.Module:
    return create_model("wrn", 4, seed=0, depth=10, width=1, dropout=0.2)


def test_stopping_at_until_then_resuming_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    ds, val = make_dataset(48, seed=1), make_dataset(24, seed=2)
    cfg = TrainConfig(epochs=4, batch_size=16, lr=0.05, schedule="cosine", val_fraction=0.0,
                      seed=3)  # fmt: skip
    straight = Trainer(_model(), cfg, tmp_path / "a").fit(ds, val)
    partial = Trainer(_model(), cfg, tmp_path / "b").fit(ds, val, until=1)
    assert len(partial.history) == 1
    # the schedule is the 4-epoch run's, not a 1-epoch run's
    assert partial.history[0].lr == straight.history[0].lr
    again = Trainer(_model(), cfg, tmp_path / "b").fit(ds, val, resume=True, until=3)
    assert [r.epoch for r in again.history] == [1, 2, 3]
    final = Trainer(_model(), cfg, tmp_path / "b").fit(ds, val, resume=True)
    assert [r.lr for r in final.history] == [r.lr for r in straight.history]
    assert [r.train_loss for r in final.history] == [r.train_loss for r in straight.history]
    assert torch.equal(predict_logits(final.model, val.images),
                       predict_logits(straight.model, val.images))  # fmt: skip


def test_until_beyond_the_budget_trains_the_budget(tmp_path: Path) -> None:
    ds = make_dataset(32, seed=1)
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, val_fraction=0.0, seed=0)
    assert len(Trainer(_model(), cfg, tmp_path).fit(ds, None, until=9).history) == 2
