"""The robust-training levers of issue 34: extra data (own labels or a teacher's) mixed
into every batch, and adversarial weight perturbation (AWP)."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from robusteye.cli import main
from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.models import create_model, load_model
from robusteye.train import RegimeConfig, TrainConfig, Trainer
from robusteye.train.awp import perturbed_parameters, weight_perturbation, weights_moved
from robusteye.train.extra import ExtraData, extra_data
from tests.conftest import make_dataset
from tests.toy import halves


def _halves(n: int, seed: int, classes=("open", "closed")) -> EyeDataset:
    x, y = halves(n, seed)
    persons = tuple(f"p{seed}-{i % 8}" for i in range(n))
    return EyeDataset(images=x, labels=y, classes=classes, persons=persons)


def _model():
    return create_model("wrn", 2, depth=10, width=1, seed=0)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- adversarial weight perturbation --------------------------------------------------


def test_awp_moves_each_weight_by_gamma_of_its_norm_up_the_loss_and_back():
    model = _model().train()
    x, y = halves(32, 0)
    before, buffers = _weights(model), {n: b.clone() for n, b in model.named_buffers()}
    steps = weight_perturbation(model, lambda: F.cross_entropy(model(x), y), 0.01)
    assert {id(p) for p, _ in steps} == {id(p) for p in perturbed_parameters(model)}
    for p, v in steps:  # ||v_l|| = gamma ||w_l||, per layer
        assert float(v.norm()) == pytest.approx(0.01 * float(p.detach().norm()), rel=1e-4)
    assert all(torch.equal(b, buffers[n]) for n, b in model.named_buffers())  # BN untouched
    model.eval()
    with torch.no_grad():
        clean = float(F.cross_entropy(model(x), y))
        with weights_moved(steps):
            moved = float(F.cross_entropy(model(x), y))
    assert moved > clean  # up the loss
    assert _same(_weights(model), before)  # and exactly back


def test_awp_changes_training_deterministically_and_resumes_exactly(tmp_path):
    ds = make_dataset(48, n_persons=12, classes=("open", "closed"), seed=1)
    base = dict(epochs=2, batch_size=16, lr=0.05, val_fraction=0.0, seed=3)
    regime = RegimeConfig(kind="pgd", eps=0.03, pgd_steps=2)
    plain = Trainer(_model(), TrainConfig(**base, regime=regime)).fit(ds).model
    awp = RegimeConfig(kind="pgd", eps=0.03, pgd_steps=2, awp_gamma=0.005)
    a = Trainer(_model(), TrainConfig(**base, regime=awp), tmp_path / "a").fit(ds).model
    b = Trainer(_model(), TrainConfig(**base, regime=awp)).fit(ds).model
    assert _same(_weights(a), _weights(b)) and not _same(_weights(a), _weights(plain))
    half = TrainConfig(**(base | {"epochs": 1}), regime=awp)
    Trainer(_model(), half, tmp_path / "r").fit(ds)
    resumed = Trainer(_model(), TrainConfig(**base, regime=awp), tmp_path / "r")
    assert _same(_weights(resumed.fit(ds, resume=True).model), _weights(a))
    assert json.loads((tmp_path / "a" / "last" / "config.json").read_text())


@pytest.mark.parametrize("gamma", [-0.1, 0.2, float("nan")])
def test_awp_gamma_is_checked(gamma):
    with pytest.raises(UsageError, match="awp_gamma must lie in"):
        RegimeConfig(kind="pgd", awp_gamma=gamma)


# --- extra data --------------------------------------------------------------------------


def test_extra_data_keeps_the_shared_classes_and_maps_their_labels():
    four = make_dataset(40, classes=("open", "partiallyOpen", "closed", "notVisible"))
    extra = extra_data(four, ("open", "closed"), source="four")
    assert len(extra) == 20 and extra.data.classes == ("open", "closed")
    assert extra.info["dropped_classes"] == ["notVisible", "partiallyOpen"]
    kept = [i for i in range(40) if i % 4 in (0, 2)]  # make_dataset labels round robin
    assert torch.equal(extra.data.images, four.images[kept])
    assert extra.data.labels.tolist() == [0 if i % 4 == 0 else 1 for i in kept]
    with pytest.raises(UsageError, match="share none"):
        extra_data(make_dataset(8, classes=("a", "b")), ("open", "closed"), source="x")


def test_pseudo_labels_come_from_the_teacher_and_its_agreement_is_measured():
    teacher = _model().eval()
    data = _halves(64, 5, classes=teacher.classes)
    extra = extra_data(data, teacher.classes, source="h", teacher=teacher, teacher_name="T")
    with torch.no_grad():
        expected = teacher(data.images).argmax(1)
    assert torch.equal(extra.data.labels, expected)
    agree = float((expected == data.labels).float().mean())
    assert extra.info["teacher_agreement"] == pytest.approx(agree)
    assert extra.info["labels"] == "pseudo-labels of T"
    with pytest.raises(UsageError, match="--pseudo-label model's classes"):
        extra_data(data, ("open", "closed"), source="h", teacher=teacher)


def test_a_batch_holds_the_extra_share_and_a_resume_draws_the_same_extra_crops(tmp_path):
    """With fraction 0.25 of a batch of 16, 4 rows per batch are extra crops (all of one
    marked brightness here) and an epoch is still one pass over the real crops: 48 real
    crops in 12 per batch make 4 steps. Two epochs straight equal one, then a resume."""
    real = make_dataset(48, n_persons=12, classes=("open", "closed"), seed=1)
    marked = EyeDataset(
        torch.full((20, 1, 32, 32), 0.987), torch.ones(20, dtype=torch.int64),
        ("open", "closed"), tuple(f"x{i}" for i in range(20)),
    )  # fmt: skip
    extra = ExtraData(marked, {"source": "marked"})
    cfg = TrainConfig(epochs=2, batch_size=16, lr=0.05, val_fraction=0, seed=3,
                      augment=False, extra_fraction=0.25)  # fmt: skip
    seen: list[torch.Tensor] = []
    model = _model()
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    straight = Trainer(model, cfg, tmp_path / "a").fit(real, extra=extra)
    batches = [b for b in seen if b.shape[0] == 16]
    assert len(batches) == 2 * 4
    for b in batches:
        share = (b.flatten(1) == 0.987).all(1).sum()
        assert share == 4
    Trainer(_model(), TrainConfig(**(cfg.to_dict() | {"epochs": 1})), tmp_path / "b").fit(
        real, extra=extra
    )
    resumed = Trainer(_model(), cfg, tmp_path / "b").fit(real, resume=True, extra=extra)
    assert _same(_weights(straight.model), _weights(resumed.model))
    without = Trainer(_model(), TrainConfig(**(cfg.to_dict() | {"extra_fraction": 0.0})))
    assert not _same(_weights(without.fit(real).model), _weights(straight.model))
    with pytest.raises(UsageError, match="go together"):
        Trainer(_model(), cfg).fit(real)


def test_the_cli_trains_with_generated_extra_crops_and_records_them(tmp_path, capsys):
    data = _halves(96, 2).save(tmp_path / "halves.npz")
    out = tmp_path / "run"
    argv = ["train", "--model", "wrn", "--model-option", "depth=10", "--data", str(data)]
    argv += ["--epochs", "1", "--no-progress", "--test-fraction", "0.25"]
    extra = ["--extra-data", "synthetic:n=200,seed=4", "--extra-fraction", "0.3"]
    assert main([*argv, "--out", str(out), *extra]) == 0
    err = capsys.readouterr().err
    assert "extra data: " in err and "of 200 crops of synthetic:n=200,seed=4" in err
    info = json.loads((out / "last" / "config.json").read_text())["training"]
    assert info["extra"]["labels"] == "the source's own" and 0 < info["extra"]["n"] < 200
    assert info["config"]["extra_fraction"] == 0.3
    teacher = tmp_path / "run" / "last"
    out2 = tmp_path / "run2"
    assert main([*argv, "--out", str(out2), *extra, "--pseudo-label", str(teacher)]) == 0
    assert "pseudo-labels of" in capsys.readouterr().err
    assert load_model(out2 / "last").classes == ("open", "closed")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--extra-data", "synthetic:n=50"], "--extra-data needs --extra-fraction > 0"),
        (["--extra-fraction", "0.3"], "--extra-fraction needs --extra-data SOURCE"),
        (["--pseudo-label", "nowhere"], "--pseudo-label labels the --extra-data crops"),
        (["--extra-data", "synthetic:n=50", "--extra-fraction", "0.3", "--pseudo-label",
          "nowhere"], "no such --pseudo-label model: nowhere"),
        (["--extra-data", "missing.npz", "--extra-fraction", "0.3"], "no such file"),
        (["--extra-fraction", "1.0", "--extra-data", "synthetic:n=50"], "--extra-fraction"),
    ],
)  # fmt: skip
def test_bad_extra_flags_are_one_line_and_write_nothing(tmp_path, capsys, flags, message):
    data = _halves(32, 3).save(tmp_path / "h.npz")
    out = tmp_path / "run"
    argv = ["train", "--model", "cnn", "--data", str(data), "--out", str(out), *flags]
    assert main(argv) != 0
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())
