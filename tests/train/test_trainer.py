from __future__ import annotations

import csv
import shutil

import pytest
import torch

from robusteye.data import EyeDataset
from robusteye.evaluate import predict_logits
from robusteye.models import create_model, load_model
from robusteye.train import RegimeConfig, TrainConfig, Trainer, lr_at
from robusteye.train.regimes import adversarial_batch, draw_eps, perturbed_copies
from tests.conftest import make_dataset


def _model(name="wrn", **kw):
    torch.manual_seed(0)
    return (
        create_model(name, 4, depth=10, width=1, **kw)
        if "wrn" in name
        else create_model(name, 4, **kw)
    )


def _cfg(**kw):
    base = dict(epochs=4, batch_size=16, lr=0.05, val_fraction=0.0, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_lr_schedules():
    step = TrainConfig(lr=0.1, step_size=10, gamma=0.1)
    assert [lr_at(step, e) for e in (0, 9, 10, 25)] == pytest.approx([0.1, 0.1, 0.01, 0.001])
    cos = TrainConfig(lr=0.1, epochs=10, schedule="cosine")
    assert lr_at(cos, 0) == pytest.approx(0.1) and lr_at(cos, 5) == pytest.approx(0.05)


def test_same_seed_same_numbers_and_curves(tmp_path):
    ds, val = make_dataset(48, seed=1), make_dataset(24, seed=2)
    runs = []
    for i in range(2):
        res = Trainer(_model(), _cfg(epochs=2), tmp_path / f"r{i}").fit(ds, val)
        runs.append(res)
    for a, b in zip(runs[0].history, runs[1].history, strict=True):
        assert (a.train_loss, a.val_acc, a.val_loss) == (b.train_loss, b.val_acc, b.val_loss)
    rows = list(csv.DictReader((tmp_path / "r0" / "curves.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "val_acc", "lr"} <= set(rows[0])
    assert (tmp_path / "r0" / "best" / "model.safetensors").is_file()
    assert (tmp_path / "r0" / "last" / "training_state.safetensors").is_file()


@pytest.mark.parametrize("regime", ["standard", "adversarial"])
def test_resume_is_exact(tmp_path, regime):
    """4 epochs straight == 2 epochs, stop, resume for 2 more: identical logits."""
    ds, val = make_dataset(48, seed=1), make_dataset(24, seed=2)
    cfg = _cfg(regime=RegimeConfig(kind=regime))
    straight = Trainer(_model("wrn", dropout=0.3), cfg, tmp_path / "a").fit(ds, val)
    Trainer(_model("wrn", dropout=0.3), _cfg(epochs=2, regime=cfg.regime), tmp_path / "b").fit(
        ds, val
    )
    resumed = Trainer(_model("wrn", dropout=0.3), cfg, tmp_path / "b").fit(ds, val, resume=True)
    x = val.images
    assert torch.equal(predict_logits(straight.model, x), predict_logits(resumed.model, x))
    assert [r.train_loss for r in straight.history] == [r.train_loss for r in resumed.history]
    saved = load_model(tmp_path / "b" / "last").state_dict()
    for name, value in straight.model.state_dict().items():  # same weights, bit for bit
        assert torch.equal(saved[name], value), name


def test_resume_of_a_finished_run_trains_no_more(tmp_path):
    ds = make_dataset(32)
    first = Trainer(_model(), _cfg(epochs=1), tmp_path).fit(ds)
    again = Trainer(_model(), _cfg(epochs=1), tmp_path).fit(ds, resume=True)
    assert torch.equal(
        predict_logits(first.model, ds.images), predict_logits(again.model, ds.images)
    )


def test_resume_survives_a_kill_between_swaps(tmp_path):
    ds = make_dataset(32)
    Trainer(_model(), _cfg(epochs=1), tmp_path).fit(ds)
    shutil.move(tmp_path / "last", tmp_path / ".last.old")  # as if killed mid-swap
    res = Trainer(_model(), _cfg(epochs=2), tmp_path).fit(ds, resume=True)
    assert len(res.history) == 2


def test_parseval_constraints_hold_during_training():
    from robusteye.models import inspect_model

    ds = make_dataset(48)
    model = create_model("parseval_wrn", 4, depth=10, width=1)
    Trainer(model, _cfg(epochs=2, lr=0.1)).fit(ds)
    report = inspect_model(model)
    errors = [layer.orthogonality_error for layer in report.layers if layer.constrained]
    norms = [layer.spectral_norm for layer in report.layers if layer.kind == "conv"]
    assert len(errors) >= 5 and max(errors) < 0.05
    assert max(norms) <= 1.05  # after SGD steps at lr 0.1, every conv is still ~1-Lipschitz


def test_adversarial_batch_replaces_the_fraction(trained_toy, toy_data):
    x, y = toy_data
    regime = RegimeConfig(kind="adversarial", fraction=0.5, eps_min=0.01, eps_max=0.03)
    out = adversarial_batch(trained_toy, x, y, regime, torch.Generator().manual_seed(0))
    changed = (out != x).flatten(1).any(1)
    assert int(changed.sum()) == 100
    assert float((out - x).abs().max()) <= 0.03 + 1e-6
    eps = draw_eps(1000, regime, torch.Generator().manual_seed(0))
    assert float(eps.min()) >= 0.01 and float(eps.max()) <= 0.03
    choices = RegimeConfig(kind="adversarial", eps_choices=(0.001, 0.01))
    assert set(draw_eps(50, choices, torch.Generator()).tolist()) <= {0.001, 0.01}


def test_aim1_copies_keep_labels_and_persons():
    ds = make_dataset(40)
    regime = RegimeConfig(kind="augment", perturbation="noise", eps=0.05, percent=25)
    aug = perturbed_copies(ds, regime, None, seed=0)
    assert len(aug) == 50
    assert torch.equal(aug.images[:40], ds.images)
    new_persons = set(aug.persons[40:])
    assert new_persons <= set(ds.persons)
    # every copy is within eps of some original image with the same label
    for img, label in zip(aug.images[40:], aug.labels[40:], strict=True):
        dist = (ds.images - img).abs().flatten(1).max(1).values
        nearest = int(dist.argmin())
        assert float(dist[nearest]) <= 0.05 + 1e-6 and int(ds.labels[nearest]) == int(label)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"schedule": "linear"}, "schedule"),
        ({"val_fraction": 1.0}, "validation"),
    ],
)
def test_bad_training_config(kw, match):
    from robusteye.errors import UsageError

    with pytest.raises(UsageError, match=match):
        TrainConfig(**kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"kind": "mixup"}, "regime"),
        ({"kind": "augment", "eps": -0.1}, "eps"),
        ({"kind": "augment", "percent": 150}, "percent"),
        ({"fraction": 0.0}, "fraction"),
        ({"eps_min": 0.1, "eps_max": 0.01}, "eps_min"),
    ],
)
def test_bad_regime_config(kw, match):
    from robusteye.errors import UsageError

    with pytest.raises(UsageError, match=match):
        RegimeConfig(**kw)


def test_config_roundtrip():
    cfg = TrainConfig(epochs=3, regime=RegimeConfig(kind="adversarial", eps_choices=(0.01,)))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard", reason="tensorboard not installed")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ds = make_dataset(32)
    Trainer(_model(), _cfg(epochs=2, tensorboard=True), tmp_path).fit(ds, make_dataset(16))
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]
    assert "val/acc" in acc.Tags()["scalars"]


def test_random_hflip_mirrors_about_half_and_is_seeded():
    from robusteye.train.augment import random_hflip

    x = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    out = random_hflip(x, generator=torch.Generator().manual_seed(1))
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same ^ mirrored).all())  # each image is itself or its mirror, never a mix
    assert 70 <= int(mirrored.sum()) <= 130
    again = random_hflip(x, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    assert random_hflip(x[:0], generator=torch.Generator()).shape == (0, 1, 8, 8)


def _side_dataset(n: int = 96) -> EyeDataset:
    """Class 0: a bright bar in the left third; class 1: in the right third. Mirroring turns
    one class into the other, so a model trained with hflip cannot tell them apart."""
    images = torch.zeros(n, 1, 32, 32)
    labels = torch.arange(n) % 2
    images[labels == 0, :, :, 2:8] = 1.0
    images[labels == 1, :, :, 24:30] = 1.0
    persons = tuple(f"p{i // 2:02d}" for i in range(n))
    return EyeDataset(images=images, labels=labels, classes=("left", "right"), persons=persons)


def test_hflip_trains_on_mirrored_batches():
    ds = _side_dataset()
    acc = {}
    for hflip in (False, True):
        cfg = _cfg(epochs=4, augment=False, hflip=hflip, lr=0.05)
        torch.manual_seed(0)
        model = create_model("wrn", 2, depth=10, width=1)
        res = Trainer(model, cfg).fit(ds)
        right = predict_logits(res.model, ds.images).argmax(1) == ds.labels
        acc[hflip] = float(right.float().mean())
    assert acc[False] >= 0.95  # the side is easy to learn
    assert acc[True] <= 0.75  # but not from batches where half of each class is mirrored


def test_training_state_is_strict_json_and_resumes_its_nan(tmp_path):
    """training_state.json held a bare NaN (not JSON); non-finite floats are now tagged and
    read back as the same floats, so a resumed history still carries its NaN."""
    import json
    import math

    ds = make_dataset(48, seed=1)
    Trainer(_model(), _cfg(epochs=1), tmp_path / "r").fit(ds, None)
    text = (tmp_path / "r" / "last" / "training_state.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    resumed = Trainer(_model(), _cfg(epochs=2), tmp_path / "r").fit(ds, None, resume=True)
    assert math.isnan(resumed.history[0].val_acc)  # no validation set: NaN, kept across resume
