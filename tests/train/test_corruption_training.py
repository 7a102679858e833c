"""Training against natural corruptions: config checks, determinism and exact resume."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from robusteye.corruptions import corruption_names
from robusteye.errors import UsageError
from robusteye.evaluate import predict_logits
from robusteye.models import create_model, load_model
from robusteye.train import RegimeConfig, TrainConfig, Trainer
from robusteye.train.state import STATE_TENSORS
from tests.conftest import make_dataset

CORRUPT = {"corruptions": ("rotation", "gaussian_noise", "jpeg", "occlusion"), "corruption_p": 0.5}


def _model():
    return create_model("wrn", 4, depth=10, width=1, dropout=0.3, seed=0)


def _cfg(**kw):
    base = dict(epochs=4, batch_size=16, lr=0.05, val_fraction=0.0, seed=3)
    return TrainConfig(**(base | kw))


def _weights_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_config_normalises_and_round_trips():
    cfg = TrainConfig(corruptions=["jpeg", "glare"], corruption_max_severity=5)
    assert cfg.corruptions == ("jpeg", "glare")
    d = cfg.to_dict()
    assert d["corruptions"] == ["jpeg", "glare"]
    assert TrainConfig.from_dict(json.loads(json.dumps(d))) == cfg
    assert TrainConfig(corruptions="all").corruptions == tuple(corruption_names())
    assert TrainConfig().corruptions == () and TrainConfig().to_dict()["corruptions"] == []


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"corruptions": ("fog",)}, r"^unknown corruption 'fog'; known: all, "),
        ({"corruption_p": 0.0}, r"corruption_p must lie in \(0, 1\], got 0.0"),
        ({"corruption_p": 1.5}, r"corruption_p must lie in \(0, 1\]"),
        ({"corruption_max_severity": 6}, r"corruption_max_severity must be an integer in 1\.\.5"),
        ({"corruption_max_severity": 2.5}, r"corruption_max_severity must be an integer"),
        ({"corruption_max_severity": True}, r"corruption_max_severity must be an integer"),
    ],
)
def test_bad_corruption_config(kw, match):
    with pytest.raises(UsageError, match=match):
        TrainConfig(**kw)


def test_new_generator_leaves_the_others_seeds_alone():
    trainer = Trainer(_model(), _cfg())
    names = ["data", "augment", "adversarial", "constraints", "corrupt", "extra"]
    assert list(trainer.generators) == names
    assert [g.initial_seed() for g in trainer.generators.values()] == [
        3 * 1009 + i for i in range(len(names))
    ]


def test_same_seed_same_weights_and_corruption_changes_training():
    ds = make_dataset(48, seed=1)
    cfg = _cfg(epochs=2, regime=RegimeConfig(kind="adversarial"), **CORRUPT)
    a = Trainer(_model(), cfg).fit(ds).model
    b = Trainer(_model(), cfg).fit(ds).model
    assert _weights_equal(a, b)
    plain = Trainer(_model(), _cfg(epochs=2, regime=cfg.regime)).fit(ds).model
    assert not _weights_equal(a, plain)


def test_resume_is_exact_with_corruptions(tmp_path):
    """4 epochs straight == 2 epochs, stop, resume for 2 more, with corruptions, augmentation
    and the adversarial regime all drawing."""
    ds = make_dataset(48, seed=1)
    cfg = _cfg(regime=RegimeConfig(kind="adversarial"), **CORRUPT)
    straight = Trainer(_model(), cfg, tmp_path / "a").fit(ds)
    Trainer(_model(), _cfg(epochs=2, regime=cfg.regime, **CORRUPT), tmp_path / "b").fit(ds)
    resumed = Trainer(_model(), cfg, tmp_path / "b").fit(ds, resume=True)
    assert [r.train_loss for r in straight.history] == [r.train_loss for r in resumed.history]
    assert _weights_equal(straight.model, load_model(tmp_path / "b" / "last"))
    x = ds.images
    assert torch.equal(predict_logits(straight.model, x), predict_logits(resumed.model, x))


def test_resume_from_a_state_written_before_the_corrupt_generator(tmp_path):
    ds = make_dataset(32, seed=1)
    straight = Trainer(_model(), _cfg(epochs=2), tmp_path / "a").fit(ds)
    Trainer(_model(), _cfg(epochs=1), tmp_path / "b").fit(ds)
    state = tmp_path / "b" / "last" / STATE_TENSORS
    tensors = load_file(state)
    del tensors["rng.corrupt"]  # as saved by a robusteye without corruptions
    save_file(tensors, state)
    resumed = Trainer(_model(), _cfg(epochs=2), tmp_path / "b").fit(ds, resume=True)
    assert _weights_equal(straight.model, resumed.model)
