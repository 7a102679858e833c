"""The WRN families' `activation` parameter: SiLU in place of ReLU, saved, loaded, bounded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from robusteye.errors import UsageError
from robusteye.models import create_model, load_model, save_model
from robusteye.models.config import ACTIVATIONS
from robusteye.models.diagnostics import inspect_model


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_each_activation_is_a_functional_and_its_bound_holds(name: str) -> None:
    x = torch.linspace(-20, 20, 400_001, dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(getattr(F, name)(x).sum(), x)
    assert float(slope.abs().max()) <= ACTIVATIONS[name]
    # the bound is tight enough to matter: within 1% of the steepest slope
    assert float(slope.abs().max()) >= 0.99 * ACTIVATIONS[name]


@pytest.mark.parametrize("arch", ["wrn_16_1", "parseval_wrn_16_1"])
def test_silu_changes_the_function_not_the_weights(arch: str) -> None:
    torch.manual_seed(0)
    relu = create_model(arch).eval()
    silu = create_model(arch, activation="silu").eval()
    assert relu.config.params["activation"] == "relu"
    silu.load_state_dict(relu.state_dict())  # same parameters and buffers
    x = torch.rand(6, 1, 32, 32)
    with torch.no_grad():
        a, b = relu(x), silu(x)
    assert not torch.allclose(a, b, atol=1e-4)
    # the same weights with SiLU written out by hand in the first block's first activation
    block = silu.blocks[0]
    o = silu.stem(silu.normalize(x))
    with torch.no_grad():
        assert torch.equal(block.act(block.bn1(o)), F.silu(block.bn1(o)))


def test_silu_round_trips_and_old_checkpoints_load_as_relu(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("wrn_16_1", activation="silu").eval()
    save_model(model, tmp_path / "silu")
    loaded = load_model(tmp_path / "silu")
    assert loaded.config.params["activation"] == "silu"
    x = torch.rand(4, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    # a checkpoint written before the parameter existed has no "activation": ReLU
    doc = json.loads((tmp_path / "silu" / "config.json").read_text())
    del doc["model"]["params"]["activation"]
    (tmp_path / "silu" / "config.json").write_text(json.dumps(doc))
    old = load_model(tmp_path / "silu")
    assert old.config.params["activation"] == "relu"
    relu = create_model("wrn_16_1").eval()
    relu.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(old(x), relu(x))


def test_unknown_activation_is_refused() -> None:
    with pytest.raises(UsageError, match=r"'activation' must be one of \['relu', 'silu'\]"):
        create_model("wrn_16_1", activation="tanh")
    with pytest.raises(UsageError, match=r"unknown parameter\(s\) \['activation'\]"):
        create_model("cnn", activation="silu")


def test_silu_lipschitz_bound_counts_the_slope_and_still_bounds() -> None:
    torch.manual_seed(0)
    relu = create_model("parseval_wrn_16_1").eval()
    silu = create_model("parseval_wrn_16_1", activation="silu").eval()
    silu.load_state_dict(relu.state_dict())
    torch.manual_seed(1)
    r = inspect_model(relu, iters=30).lipschitz_bound
    torch.manual_seed(1)
    s = inspect_model(silu, iters=30).lipschitz_bound
    # every block has two activations on its branch, one of them also before a projection,
    # and the head one more: SiLU's 1.1 enters the product, so the bound grows by > 1.1
    assert s > 1.1 * r
    x = torch.rand(16, 1, 32, 32)
    d = 1e-3 * torch.randn_like(x)
    with torch.no_grad():
        ratio = (silu(x + d) - silu(x)).norm(dim=1) / d.flatten(1).norm(dim=1)
    assert float(ratio.max()) <= s
