"""A run that never learned is reported as that (`FitResult.learned`, metrics.json, one line
from the CLI), never as catastrophic overfitting; a run that learned is not."""

from __future__ import annotations

import json
import math

import torch

from robusteye.cli import main
from robusteye.data import EyeDataset
from robusteye.models import create_model
from robusteye.train import RegimeConfig, TrainConfig, Trainer
from robusteye.train.guard import did_not_learn, majority_share
from tests.toy import halves


def _halves(n: int, seed: int) -> EyeDataset:
    x, y = halves(n, seed)
    persons = tuple(f"p{i % 8}" for i in range(n))
    return EyeDataset(images=x, labels=y, classes=("open", "closed"), persons=persons)


def test_chance_is_the_largest_class_share():
    assert majority_share(torch.tensor([0, 0, 0, 1])) == 0.75
    assert did_not_learn(0.52, 0.5) and did_not_learn(0.75, 0.75)
    assert not did_not_learn(0.6, 0.5) and not did_not_learn(math.nan, 0.5)
    # one class only (measured: the first 32 crops of a real set were all open): no verdict
    assert not did_not_learn(1.0, 1.0) and not did_not_learn(0.95, 0.95)


def _fit(lr: float, val: EyeDataset | None) -> tuple[bool, float, float]:
    cfg = TrainConfig(
        epochs=2, batch_size=32, lr=lr, schedule="constant", augment=False, robust_val=64,
        val_fraction=0, regime=RegimeConfig(kind="pgd", eps=0.01, pgd_steps=1),
    )  # fmt: skip
    model = create_model("cnn", num_classes=2, hidden=32, seed=0)
    fit = Trainer(model, cfg).fit(_halves(128, 0), val)
    return fit.learned, fit.final_clean, fit.chance


def test_a_learnable_task_is_learned_and_a_diverged_run_is_not():
    """On the halves task a cnn learns in two epochs at lr 0.05; at lr 1 the ReLUs
    die and it ends answering one class, with or without a validation set
    (without one the verdict reads the robust check's images)."""
    learned, clean, chance = _fit(0.05, _halves(64, 1))
    assert learned and clean > 0.9 and 0.4 < chance < 0.6
    learned, clean, chance = _fit(0.05, None)
    assert learned and clean > 0.9  # the check's 64 training images
    learned, clean, chance = _fit(1.0, None)
    assert not learned and clean <= chance + 0.05


def test_the_cli_says_the_run_did_not_learn(tmp_path, capsys):
    data = _halves(96, 2).save(tmp_path / "halves.npz")
    out = tmp_path / "run"
    argv = ["train", "--model", "cnn", "--data", str(data), "--out", str(out), "--no-progress"]
    argv += ["--epochs", "2", "--lr", "1", "--val-fraction", "0", "--test-fraction", "0"]
    assert main([*argv, "--regime", "pgd", "--eps", "0.01", "--pgd-steps", "1"]) == 0
    err = capsys.readouterr().err
    assert "did not learn: final clean accuracy" in err and "catastrophic" not in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["learned"] is False and metrics["final_clean"] <= metrics["chance"] + 0.05
