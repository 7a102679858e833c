"""Diagnostics: orthogonality error, conv operator norm, per-layer report, Lipschitz bound."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from robusteye.models import (
    ConvexMerge,
    conv_operator_norm,
    create_model,
    inspect_model,
    orthogonality_error,
)
from robusteye.models.diagnostics import batchnorm_lipschitz


def test_orthogonality_error_toy_values() -> None:
    assert orthogonality_error(torch.eye(4)) == 0.0
    assert orthogonality_error(torch.eye(4)[:, :2]) == 0.0  # tall: columns orthonormal
    # 2 I: W W^T - I = 3 I, ||3 I||_F / sqrt(3) = 3.
    assert orthogonality_error(2 * torch.eye(3)) == pytest.approx(3.0)
    assert orthogonality_error(torch.zeros(2, 5)) == pytest.approx(1.0)


def test_conv_operator_norm_of_1x1_conv_is_the_matrix_norm() -> None:
    w = torch.randn(8, 4, 1, 1, generator=torch.Generator().manual_seed(0))
    expected = float(torch.linalg.matrix_norm(w[:, :, 0, 0], ord=2))
    assert conv_operator_norm(w, (4, 8, 8)) == pytest.approx(expected, rel=1e-4)


def test_conv_transpose_is_the_adjoint_for_strided_convs() -> None:
    # <A x, y> == <x, A^T y> with the output_padding that conv_operator_norm uses.
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(6, 3, 3, 3, generator=g), torch.randn(1, 3, 32, 32, generator=g)
    ax = F.conv2d(x, w, stride=2, padding=1)
    y = torch.randn(ax.shape, generator=g)
    aty = F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1)
    assert float((ax * y).sum()) == pytest.approx(float((x * aty).sum()), rel=1e-4)


def test_conv_operator_norm_matches_brute_force() -> None:
    # Build the dense matrix of a small conv and compare with its exact spectral norm.
    g = torch.Generator().manual_seed(1)
    w = torch.randn(3, 2, 3, 3, generator=g)
    basis = torch.eye(2 * 6 * 6).reshape(-1, 2, 6, 6)
    dense = F.conv2d(basis, w, stride=2, padding=1).reshape(basis.shape[0], -1).T
    exact = float(torch.linalg.matrix_norm(dense, ord=2))
    est = conv_operator_norm(w, (2, 6, 6), stride=2, padding=1, iters=300, generator=g)
    assert est == pytest.approx(exact, rel=1e-3)


def test_batchnorm_lipschitz_uses_running_statistics() -> None:
    bn = nn.BatchNorm2d(3, eps=0.0)
    bn.weight.data = torch.tensor([1.0, -2.0, 0.5])
    bn.running_var = torch.tensor([1.0, 4.0, 0.01])
    assert batchnorm_lipschitz(bn) == pytest.approx(5.0)


def test_report_of_plain_and_parseval_wrn() -> None:
    torch.manual_seed(0)
    plain = inspect_model(create_model("wrn_16_1"), iters=30)
    parseval = inspect_model(create_model("parseval_wrn_16_1"), iters=30)
    by_name = {r.name: r for r in parseval.layers}
    assert [r.name for r in plain.layers] == list(by_name)
    assert by_name["normalize"].spectral_norm == pytest.approx(4.0)  # 1 / std
    assert by_name["pool"].spectral_norm == pytest.approx(1 / 8)  # global average over 8 x 8
    assert by_name["blocks.0.bn1"].orthogonality_error is None
    convs = [r for r in parseval.layers if r.kind == "conv"]
    assert len(convs) == 15 and all(r.constrained for r in convs)
    assert max(r.spectral_norm for r in convs) <= 1.05
    assert max(r.orthogonality_error for r in convs) < 1e-5
    assert not by_name["classifier"].constrained
    assert min(r.spectral_norm for r in plain.layers if r.kind == "conv") > 1.3
    assert parseval.lipschitz_bound < plain.lipschitz_bound / 1000


def test_lipschitz_bound_follows_the_documented_formula() -> None:
    torch.manual_seed(0)
    model = create_model("parseval_wrn_16_1")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ConvexMerge):
                m.weight.copy_(torch.tensor([0.25, 0.75]))
    report = inspect_model(model, iters=30)
    f = {r.name: r.spectral_norm for r in report.layers}
    bound = f["normalize"] * f["stem"]
    for i, block in enumerate(model.blocks):
        p = f"blocks.{i}."
        branch = f[p + "conv1"] * f[p + "bn2"] * f[p + "conv2"]
        if block.shortcut is None:
            bound *= 0.25 * 1.0 + 0.75 * f[p + "bn1"] * branch
        else:
            bound *= f[p + "bn1"] * (0.25 * f[p + "shortcut"] + 0.75 * branch)
    bound *= f["final_bn"] * f["pool"] * f["classifier"]
    assert report.lipschitz_bound == pytest.approx(bound, rel=1e-9)


def test_lipschitz_bound_really_bounds_the_network() -> None:
    torch.manual_seed(0)
    model = create_model("parseval_cnn").eval()
    report = inspect_model(model, iters=30)
    x = torch.rand(16, 1, 32, 32)
    d = 1e-3 * torch.randn_like(x)
    with torch.no_grad():
        ratio = (model(x + d) - model(x)).norm(dim=1) / d.flatten(1).norm(dim=1)
    assert float(ratio.max()) <= report.lipschitz_bound
    assert math.isfinite(report.lipschitz_bound)


def test_inspect_restores_training_mode_and_serialises() -> None:
    model = create_model("cnn").train()
    report = inspect_model(model, iters=5)
    assert model.training
    d = report.to_dict()
    assert set(d) == {"layers", "lipschitz_bound"}
    assert {"name", "spectral_norm", "orthogonality_error"} <= set(d["layers"][0])


@pytest.mark.parametrize(("grid", "factor"), [(1, 1 / 8), (2, 1 / 4), (4, 1 / 2), (8, 1.0)])
def test_a_spatial_wrn_head_keeps_the_layout_and_a_sound_bound(grid: int, factor: float) -> None:
    """`head_grid` pools the last 8 x 8 map to grid x grid and flattens it: the classifier
    sees 64 grid^2 features, the pooling's L2 factor is 1/sqrt(its window), and the sound
    certify bound stays above the Jacobian's norm at real points."""
    from robusteye.evaluate.certify import lipschitz_bound, lipschitz_lower_bound

    model = create_model("wrn_16_1", num_classes=2, head_grid=grid).eval()
    assert model.classifier.in_features == 64 * grid * grid
    by_name = {layer.name: layer for layer in inspect_model(model).layers}
    assert by_name["pool"].spectral_norm == pytest.approx(factor)
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(grid))
    assert lipschitz_lower_bound(model, x) <= lipschitz_bound(model)


def test_pool_windows_that_overlap_are_refused() -> None:
    """A grid that does not divide the 8 x 8 map would pool overlapping windows, which have
    no exact Lipschitz factor: the model option is refused, and certify refuses such a
    pooling layer in any model."""
    from robusteye.errors import UsageError
    from robusteye.evaluate.certify import lipschitz_bound

    with pytest.raises(UsageError, match="head_grid' must be one of"):
        create_model("wrn_16_1", num_classes=2, head_grid=3)
    model = create_model("wrn_16_1", num_classes=2)
    model.pool = nn.AdaptiveAvgPool2d(3)
    model.classifier = nn.Linear(64 * 9, 2)
    with pytest.raises(UsageError, match="disjoint windows"):
        lipschitz_bound(model)
