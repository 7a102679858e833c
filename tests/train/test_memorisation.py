"""The memorisation diagnostic (issue 34, item 2): adversarial training (PGD-10 at eps 0.030)
of a model on a few training crops must reach >= 0.98 robust accuracy on those same crops
under the audit. Where it cannot, robusteye's trainer (or the model) cannot fit the robust
objective even where it trains, and no hold-out figure can be trusted to show the method.

Measured while building it (one-cycle SGD, 120 full-batch epochs): the generated crops fit
at lr 0.05 (at 0.1 one stayed wrong even clean), the real ones at lr 0.1 (at 0.05 APGD-CE
broke 2 of 32, 0.94; 200 epochs at 0.05 fit them too); batches of 8 stayed
noisy (0.78 after 60 epochs of 32 generated crops), and the `cnn`'s dropout 0.5 kept 50
crops at 0.66 after 60 epochs. On 256 real crops (the issue's size) the same trainer at
batch 64, lr 0.05, reached 0.973 after 100 epochs and 0.9805 after 120."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robusteye.data import load_dataset
from robusteye.evaluate.audit import audit
from robusteye.evaluate.ceiling import robust_ceiling
from robusteye.models import create_model
from robusteye.train import RegimeConfig, TrainConfig, Trainer
from robusteye.train.extra import extra_data
from tests.conftest import REAL_A

EPS = 0.03


def _memorise(crops, lr: float, epochs: int = 120):
    cfg = TrainConfig(
        epochs=epochs, batch_size=len(crops), lr=lr, schedule="onecycle", augment=False,
        val_fraction=0, robust_val=0, seed=0,
        regime=RegimeConfig(kind="pgd", eps=EPS, pgd_steps=10),
    )  # fmt: skip
    model = create_model("cnn", crops.num_classes, classes=crops.classes, dropout=0.0, seed=0)
    fit = Trainer(model, cfg).fit(crops)
    assert fit.learned
    result = audit(fit.model.eval(), crops.images, crops.labels, EPS, suite="quick")
    return result


def _check(result) -> None:
    point = result.points[0]
    assert point.clean_accuracy == 1.0
    assert point.worst_accuracy >= 0.98, point.to_dict()
    assert not result.warnings, [w.reason for w in result.warnings]


def test_the_trainer_memorises_generated_crops_robustly():
    """32 generated open/closed crops (their data ceiling at eps 0.03 is 1): every one is
    robust under the whole quick suite after 120 full-batch epochs."""
    crops = extra_data(load_dataset("synthetic:n=200,seed=2"), ("open", "closed"), source="s")
    crops = crops.data.subset(np.arange(32))
    assert robust_ceiling(crops, [EPS])["points"][0]["ceiling"] == 1.0
    _check(_memorise(crops, lr=0.05))


@pytest.mark.skipif(
    not (REAL_A / "manifest.csv").is_file(), reason="the real crops of ../shared are absent"
)
def test_the_trainer_memorises_real_crops_robustly():
    """32 real crops of set a, both classes, drawn with a seed: the same, on the real data."""
    data = load_dataset(str(REAL_A))
    g = torch.Generator().manual_seed(0)
    rows = torch.randperm(len(data), generator=g)[:32].numpy()
    crops = data.subset(np.sort(rows))
    assert len(set(crops.labels.tolist())) == 2
    _check(_memorise(crops, lr=0.1))
