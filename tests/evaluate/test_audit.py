"""The audit: worst case over the suite, per-example masks, and indicators that fire when
the attacks fail (a gradient-masked model) and stay quiet when they work."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from robusteye.attacks import fgsm, pgd
from robusteye.cli import main
from robusteye.errors import UsageError
from robusteye.evaluate import audit
from robusteye.evaluate.predict import predict_logits
from tests.conftest import make_dataset
from tests.toy import toy_batch, train_toy


class Scaled(nn.Module):
    """Logits times `factor`: the same decisions, but a softmax saturated in float32, so the
    cross-entropy gradient is exactly zero at confidently classified points (gradient
    masking without any change in robustness)."""

    def __init__(self, model: nn.Module, factor: float) -> None:
        super().__init__()
        self.model, self.factor = model, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) * self.factor


class FourClass(nn.Module):
    """A hand-made linear 4-class model: the class is which quadrant is brightest."""

    def __init__(self) -> None:
        super().__init__()
        w = torch.zeros(4, 1, 32, 32)
        w[0, :, :16, :16] = w[1, :, :16, 16:] = w[2, :, 16:, :16] = w[3, :, 16:, 16:] = 1 / 256
        self.linear = nn.Linear(1024, 4)
        with torch.no_grad():
            self.linear.weight.copy_(w.flatten(1) * 40)
            self.linear.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


def four_class_batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.3 + 0.2 * torch.rand(n, 1, 32, 32, generator=g)
    for k, (r, c) in enumerate(((0, 0), (0, 16), (16, 0), (16, 16))):
        x[y == k, :, r : r + 16, c : c + 16] += 0.08
    return x.clamp(0, 1), y


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


@pytest.fixture(scope="module")
def toy() -> nn.Module:
    return train_toy()


@pytest.fixture(scope="module")
def toy_audit(toy: nn.Module):
    x, y = toy_batch(120, seed=11)
    return audit(toy, x, y, [0.0, 0.02, 0.03, 0.05], suite="quick"), x, y


def test_worst_case_is_never_above_fgsm_or_pgd(toy: nn.Module, toy_audit) -> None:
    result, x, y = toy_audit
    assert result.attack_names == ("fgsm", "pgd-10", "noise", "apgd-ce", "apgd-t", "square")
    for p in result.points:
        assert p.worst_accuracy <= p.accuracy("fgsm") + 1e-9
        assert p.worst_accuracy <= p.accuracy("pgd-10") + 1e-9
        assert p.worst_accuracy <= p.clean_accuracy
        # the reference figures are the attacks' own accuracy, computed independently here
        if p.eps > 0:
            g = torch.Generator().manual_seed(0)
            own = _acc(toy, pgd(toy, x, y, p.eps, steps=10, generator=g), y)
            correct = predict_logits(toy, x).argmax(1) == y
            assert p.accuracy("pgd-10") <= own + 1e-6  # robust: also correct when clean
            fgsm_own = _acc(toy, fgsm(toy, x, y, p.eps), y)
            assert abs(p.accuracy("fgsm") - fgsm_own) <= float((~correct).float().mean()) + 1e-6
    informative = [p for p in result.points if 0 < p.worst_accuracy < p.clean_accuracy]
    assert informative, "pick eps values where the audit has something to find"


def test_masks_and_first_breaker_agree(toy_audit) -> None:
    result, x, _ = toy_audit
    names = {"clean", *result.attack_names}
    for p in result.points:
        assert p.robust.shape == (x.shape[0],) and p.robust.dtype == torch.bool
        assert math.isclose(float(p.robust.float().mean()), p.worst_accuracy)
        for robust, by in zip(p.robust.tolist(), p.broken_by, strict=True):
            assert robust == (by is None)
            assert by is None or by in names
    assert result.points[0].eps == 0.0
    assert result.points[0].worst_accuracy == result.points[0].clean_accuracy
    accs = [p.worst_accuracy for p in result.points]
    assert accs == sorted(accs, reverse=True)


def test_a_working_audit_raises_no_warning(toy_audit) -> None:
    result, _, _ = toy_audit
    assert [i.name for i in result.indicators] == [
        "gradients", "stability", "white-vs-black", "iterative-vs-single", "monotone",
        "convergence", "unbounded",
    ]  # fmt: skip
    assert not result.warnings, [i.reason for i in result.warnings]
    assert result.notes and "the logit margin is used" in result.notes[0]  # 2 classes: no DLR


def test_audit_is_reproducible(toy: nn.Module) -> None:
    x, y = toy_batch(40, seed=3)
    a = audit(toy, x, y, 0.03, suite="quick", seed=5)
    b = audit(toy, x, y, 0.03, suite="quick", seed=5)

    def timeless(r):
        points = r.to_dict()["points"]
        for p in points:
            for run in p["attacks"]:
                run.pop("seconds")
        return points

    assert timeless(a) == timeless(b)


def test_gradient_masking_is_found_and_flagged(toy: nn.Module) -> None:
    """PGD with cross-entropy over-states a masked model's robustness; the audit does not."""
    x, y = toy_batch(160, seed=12)
    masked = Scaled(toy, 1e4).eval()
    eps = 0.03
    g = torch.Generator().manual_seed(0)
    pgd_acc = _acc(masked, pgd(masked, x, y, eps, steps=10, generator=g), y)
    true = audit(toy, x, y, eps, suite="quick").points[0].worst_accuracy
    found = audit(masked, x, y, eps, suite="quick")
    worst = found.points[0].worst_accuracy
    assert pgd_acc > true + 0.2  # masked: PGD-CE barely moves
    assert worst <= true + 0.05  # the audit finds (nearly) the true figure
    warned = {i.name for i in found.warnings}
    assert "gradients" in warned
    assert warned & {"white-vs-black", "unbounded"}


def test_four_classes_use_targeted_dlr() -> None:
    model = FourClass().eval()
    x, y = four_class_batch(80, seed=2)
    assert _acc(model, x, y) > 0.95
    result = audit(model, x, y, [0.02, 0.05], suite="quick")
    assert result.classes == 4 and result.settings["apgd_t_loss"] == "dlr"
    assert result.settings["apgd_targets"] == 3 and not result.notes
    assert result.points[-1].worst_accuracy < result.points[-1].clean_accuracy


def test_l2_snr_balls_are_per_image() -> None:
    model = FourClass().eval()
    x, y = four_class_batch(40, seed=4)
    result = audit(model, x, y, snr=[30.0], norm="l2", suite="quick")
    p = result.points[0]
    assert p.target_snr_db == 30.0 and abs(p.snr_db - 30.0) < 0.01
    radii = x.flatten(1).norm(dim=1) * 10 ** (-30 / 20)
    assert math.isclose(p.eps, float(radii.mean()), rel_tol=1e-5)


def test_bad_arguments_are_one_line_errors(toy: nn.Module) -> None:
    x, y = toy_batch(8)
    with pytest.raises(UsageError, match="norm must be"):
        audit(toy, x, y, 0.1, norm="l1")
    with pytest.raises(UsageError, match="unknown suite"):
        audit(toy, x, y, 0.1, suite="huge")
    with pytest.raises(UsageError, match="either eps or snr"):
        audit(toy, x, y, 0.1, snr=[30])
    with pytest.raises(UsageError, match="eps must be finite"):
        audit(toy, x, y, [float("nan")])


def test_audit_command_on_a_four_class_checkpoint(tmp_path, capsys) -> None:
    data = make_dataset(64, n_persons=8, seed=1).save(tmp_path / "d.npz")
    train = ["train", "--model", "cnn", "--epochs", "1", "--batch-size", "32", "--no-progress"]
    assert main([*train, "--data", str(data), "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    out = tmp_path / "audit.json"
    argv = ["audit", str(tmp_path / "run" / "best"), "--data", str(data), "--snr", "40,30"]
    assert (
        main([*argv, "--suite", "quick", "--limit", "24", "--no-progress", "--out", str(out)]) == 0
    )
    captured = capsys.readouterr()
    text = captured.out
    assert "worst" in text and "indicators of attack failure" in text
    doc = json.loads(out.read_text())
    assert doc["classes"] == 4 and doc["n"] == 24 and len(doc["points"]) == 2
    assert [p["target_snr_db"] for p in doc["points"]] == [40.0, 30.0]
    for p in doc["points"]:
        assert p["worst_accuracy"] <= min(a["accuracy"] for a in p["attacks"]) + 1e-9
    # without bars, a log still shows each attack as it ends: one line per attack and eps
    lines = [line for line in captured.err.splitlines() if line.startswith("eps ")]
    runs = [(p, a) for p in doc["points"] for a in p["attacks"]]
    assert len(lines) == len(runs) == 12 and "\r" not in captured.err
    for line, (p, a) in zip(lines, runs, strict=True):
        assert line.startswith(f"eps {p['eps']:.4g}: {'+' if a['cascade'] else ''}{a['name']} ")
        assert f"broke {a['broken']} of {a['attacked']}" in line
        assert f" {a['accuracy']:.4f} (" in line
    assert lines[-1].split()[-3] == f"{doc['points'][-1]['worst_accuracy']:.4f}"
    assert {i["status"] for i in doc["indicators"]} <= {"pass", "warn"}
    # the data's own ceiling in the same balls, beside the worst case
    ceiling = doc["ceiling"]["points"]
    assert [c["eps"] for c in ceiling] == pytest.approx([p["eps"] for p in doc["points"]])
    for p, c in zip(doc["points"], ceiling, strict=True):
        assert p["worst_accuracy"] <= c["ceiling"] + 1e-9
    assert "data ceiling" in text


class Rounded(nn.Module):
    """`model` on inputs rounded to 16 grey levels: its input gradient is exactly zero
    everywhere (as an int8 model's would be), while a small change can still flip it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(torch.round(x * 16) / 16)


def test_an_snr_ball_follows_from_the_images_not_the_gradient(toy: nn.Module) -> None:
    """By SNR, a model without gradients is audited like one by eps: the ball is the same,
    the masking is flagged, and the black-box attacks find what the gradients cannot."""
    x, y = toy_batch(60, seed=13)
    blind = Rounded(toy).eval()
    from robusteye.attacks import eps_for_snr

    with pytest.raises(Exception, match="the gradient is zero on this batch"):
        eps_for_snr(blind, x, y, 25.0, attack="fgsm")  # the attack's own SNR needs a gradient
    by_snr = audit(blind, x, y, snr=[25.0], suite="quick")
    point = by_snr.points[0]
    assert point.target_snr_db == 25.0 and abs(point.snr_db - 25.0) < 0.01
    by_eps = audit(blind, x, y, [point.eps], suite="quick")
    assert by_eps.points[0].worst_accuracy == point.worst_accuracy
    assert audit(toy, x, y, snr=[25.0], suite="quick").points[0].eps == point.eps
    warned = {i.name for i in by_snr.warnings}
    assert "gradients" in warned and warned & {"white-vs-black", "unbounded"}
    assert point.worst_accuracy < point.accuracy("fgsm")  # Square or noise broke points
