"""Certificates are sound: the bound is >= every local Lipschitz constant found, no attack
breaks a certified point inside its radius, and a linear model's certificate is its closed
form (the exact distance to its decision boundary)."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from robusteye.attacks import apgd, pgd
from robusteye.errors import UsageError
from robusteye.evaluate import certify, lipschitz_bound, lipschitz_lower_bound
from robusteye.evaluate.certify import conv_norm_bound
from robusteye.models import EyeModel, create_model
from robusteye.models.base import LipschitzOf
from robusteye.models.config import ModelConfig
from tests.toy import train_lipschitz


class LinearEye(EyeModel):
    """A hand-built linear classifier: normalisation (std 1), flatten, one dense layer."""

    def __init__(self, weight: Tensor, bias: Tensor) -> None:
        super().__init__(ModelConfig(name="linear", arch="cnn", num_classes=2, std=1.0))
        self.dense = nn.Linear(weight.shape[1], 2)
        with torch.no_grad():
            self.dense.weight.copy_(weight)
            self.dense.bias.copy_(bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.dense(self.normalize(x).flatten(1))

    def lipschitz(self, factor: LipschitzOf) -> float:
        return factor(self.normalize) * factor(self.dense)


def test_a_linear_models_certificate_is_its_closed_form() -> None:
    # rows w and -w: ||W||_2 = sqrt(2) ||w||, and the certified radius
    # margin / (sqrt(2) ||W||_2) = |w.(x - 0.5) + b| / ||w|| is the distance to the boundary
    g = torch.Generator().manual_seed(3)
    w = torch.randn(1, 1024, generator=g) / 32
    model = LinearEye(torch.cat([w, -w]), torch.tensor([0.05, -0.05])).eval()
    x = torch.rand(16, 1, 32, 32, generator=g)
    score = (x.flatten(1) - 0.5) @ w[0] + 0.05
    y = (score < 0).long()  # every point correct
    result = certify(model, x, y, radii=[0.0])
    assert result.lipschitz == pytest.approx(math.sqrt(2) * float(w.norm()), rel=1e-5)
    exact = score.abs() / w.norm()
    torch.testing.assert_close(result.radii, exact, rtol=1e-4, atol=1e-6)
    # tight: a step of 1.01 radius against the margin crosses the boundary, 0.99 does not
    toward = (-torch.sign(score))[:, None] * (w[0] / w.norm())[None, :]
    for factor, flips in ((0.99, False), (1.01, True)):
        moved = (x.flatten(1) + factor * exact[:, None] * toward).view_as(x)
        pred = model(moved).argmax(1)
        assert bool((pred != y).all()) is flips
    # each radius certifies exactly the points whose exact radius exceeds it
    r = float(exact.median())
    (point,) = certify(model, x, y, radii=[r]).points
    assert point.certified_accuracy == pytest.approx(float((exact > r).double().mean()))


def test_snr_radii_are_per_image() -> None:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(1, 1024, generator=g) / 32
    model = LinearEye(torch.cat([w, -w]), torch.zeros(2)).eval()
    x = torch.rand(8, 1, 32, 32, generator=g)
    y = ((x.flatten(1) - 0.5) @ w[0] < 0).long()
    result = certify(model, x, y, snr=[30.0])
    need = x.flatten(1).norm(dim=1) * 10 ** (-30 / 20)
    (point,) = result.points
    assert point.snr_db == 30.0
    assert point.radius == pytest.approx(float(need.mean()), rel=1e-5)
    assert point.certified.tolist() == (result.radii > need).tolist()


@pytest.fixture(scope="module")
def trained() -> tuple[EyeModel, Tensor, Tensor]:
    return train_lipschitz()


def test_lipschitz_cnn_is_one_lipschitz_and_learns(trained: Any) -> None:
    model, x, y = trained
    assert lipschitz_bound(model) <= 1.0 + 1e-5
    result = certify(model, x, y, radii=[0.0, 0.5])
    assert result.clean_accuracy >= 0.95
    assert result.points[1].certified_accuracy >= 0.8


def test_no_attack_breaks_a_certified_point(trained: Any) -> None:
    model, x, y = trained
    result = certify(model, x, y, radii=[0.0])
    radius = result.radii
    inside = radius > 0
    assert int(inside.sum()) >= 20
    xs, ys, eps = x[inside], y[inside], radius[inside] * 0.999
    g = torch.Generator().manual_seed(0)
    broken = pgd(model, xs, ys, eps, norm="l2", steps=50, restarts=3, generator=g)
    assert bool((model(broken).argmax(1) == ys).all())
    broken = apgd(model, xs, ys, eps, norm="l2", steps=50, loss="margin", generator=g)
    assert bool((model(broken).argmax(1) == ys).all())
    # the same attacks are strong enough to break points beyond the certified radius
    far = apgd(model, xs, ys, eps * 6, norm="l2", steps=50, loss="margin", generator=g)
    assert bool((model(far).argmax(1) != ys).any())


def test_an_unsound_bound_is_caught_by_the_attack(trained: Any) -> None:
    # the check above has teeth: claim a quarter of the true bound and APGD finds
    # adversarial examples inside the radii that claim would certify
    model, x, y = trained
    claimed = certify(model, x, y, radii=[0.0], lipschitz=lipschitz_bound(model) / 4).radii
    inside = claimed > 0
    xs, ys = x[inside], y[inside]
    g = torch.Generator().manual_seed(0)
    broken = apgd(model, xs, ys, claimed[inside], norm="l2", steps=50, loss="margin", generator=g)
    assert bool((model(broken).argmax(1) != ys).any())


def _with_statistics(model: EyeModel) -> EyeModel:
    """Non-trivial BatchNorm statistics and scales, as after training."""
    g = torch.Generator().manual_seed(1)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(32, 1, 32, 32, generator=g))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
    return model.eval()


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("wrn", {"depth": 10, "width": 1}),
        ("parseval_wrn", {"depth": 10, "width": 1}),
        ("cnn", {"hidden": 32}),
        ("lipschitz_cnn", {"width": 4, "convs": 1, "hidden": 16}),
        ("lipschitz_cnn", {"width": 4, "convs": 1, "hidden": 16, "center": True}),
        ("wrn", {"depth": 10, "width": 1, "head_grid": 8}),
    ],
)
def test_the_bound_is_above_the_lower_bound(name: str, options: dict[str, Any]) -> None:
    torch.manual_seed(0)
    model = _with_statistics(create_model(name, num_classes=2, **options))
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    upper = lipschitz_bound(model)
    lower = lipschitz_lower_bound(model, x, iters=15)
    assert 0 < lower <= upper


@pytest.mark.parametrize(("k", "stride", "pad"), [(3, 1, 1), (3, 2, 1), (1, 1, 0), (5, 1, 2)])
def test_conv_bound_holds_and_is_near_the_power_iteration(k: int, stride: int, pad: int) -> None:
    g = torch.Generator().manual_seed(k + stride)
    weight = torch.randn(6, 4, k, k, generator=g)
    bound = conv_norm_bound(weight, (12, 12))

    def conv(v: Tensor) -> Tensor:
        return nn.functional.conv2d(v, weight, stride=stride, padding=pad)

    v = torch.randn(1, 4, 12, 12, generator=g, dtype=torch.float64)
    w64 = weight.double()
    for _ in range(200):
        v = v / v.norm()
        out = nn.functional.conv2d(v, w64, stride=stride, padding=pad)
        v = torch.autograd.functional.vjp(
            lambda t: nn.functional.conv2d(t, w64, stride=stride, padding=pad), v, out
        )[1]
    v = v / v.norm()
    found = float(nn.functional.conv2d(v, w64, stride=stride, padding=pad).norm())
    assert found <= bound * (1 + 1e-9)
    if stride == 1:  # the circular grid is only slightly larger than the zero-padded map
        assert found >= 0.8 * bound
    assert conv(torch.zeros(1, 4, 12, 12)).abs().max() == 0


def test_certify_refuses_bad_arguments(trained: Any) -> None:
    model, x, y = trained
    with pytest.raises(UsageError, match="either radii or snr"):
        certify(model, x, y)
    with pytest.raises(UsageError, match="radii must be finite"):
        certify(model, x, y, radii=[-1.0])
    with pytest.raises(UsageError, match="at least one image"):
        certify(model, x[:0], y[:0], radii=[0.1])


def test_a_centred_lipschitz_cnn_ignores_uniform_brightness_and_stays_one_lipschitz() -> None:
    """`center: true` subtracts each image's mean (an orthogonal projection): a uniform
    brightness change moves no logit, and certify's sound bound stays at most 1."""
    model = create_model("lipschitz_cnn", 2, width=4, hidden=16, center=True).eval()
    plain = create_model("lipschitz_cnn", 2, width=4, hidden=16).eval()
    x = 0.2 + 0.5 * torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.allclose(model(x), model(x + 0.15), atol=1e-5)
        assert not torch.allclose(plain(x), plain(x + 0.15), atol=1e-3)
    assert lipschitz_bound(model) <= 1.0 + 1e-5
