"""Auto-PGD: the eps ball, determinism, best iterate, targets, the DLR fall-back, the trace,
and a gradient-masked model that fools plain PGD-CE but not APGD with a scale-free loss."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from torch import nn

from robusteye.attacks import apgd, effective_loss, pgd
from robusteye.attacks.apgd import checkpoints
from robusteye.errors import UsageError
from tests.toy import toy_batch


def _acc(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


class Scaled(nn.Module):
    """Logits x 1e4: the softmax saturates, so cross-entropy's gradient underflows to zero on
    confidently classified points (gradient masking without any robustness)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) * 1e4


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_within_eps_and_unit_range(trained_toy: nn.Module, norm: str) -> None:
    x, y = toy_batch(64, seed=3)
    eps = 0.03 if norm == "linf" else 0.5
    x_adv = apgd(trained_toy, x, y, eps, norm=norm, steps=20)
    delta = (x_adv - x).flatten(1)
    size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
    assert float(size.max()) <= eps + 1e-5
    assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0


def test_seeded_runs_repeat(trained_toy: nn.Module) -> None:
    x, y = toy_batch(64, seed=3)
    a = apgd(trained_toy, x, y, 0.03, steps=10, generator=torch.Generator().manual_seed(1))
    b = apgd(trained_toy, x, y, 0.03, steps=10, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)


def test_at_least_as_strong_as_pgd(trained_toy: nn.Module) -> None:
    x, y = toy_batch(160, seed=8)
    g = torch.Generator().manual_seed(0)
    clean = _acc(trained_toy, x, y)
    pgd_acc = _acc(trained_toy, pgd(trained_toy, x, y, 0.03, steps=10, generator=g), y)
    apgd_acc = _acc(trained_toy, apgd(trained_toy, x, y, 0.03, steps=25, generator=g), y)
    assert apgd_acc < clean and apgd_acc <= pgd_acc


def test_trace_records_a_rising_best_loss(trained_toy: nn.Module) -> None:
    x, y = toy_batch(64, seed=3)
    trace: list[float] = []
    apgd(trained_toy, x, y, 0.03, steps=30, trace=trace)
    assert len(trace) == 31  # the start and every step
    assert all(b >= a - 1e-6 for a, b in pairwise(trace))
    assert trace[-1] > trace[0]


def test_checkpoints_follow_the_paper() -> None:
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_dlr_on_two_classes_falls_back_to_the_margin(trained_toy: nn.Module) -> None:
    assert effective_loss("dlr", 2) == (
        "margin",
        "DLR needs at least 3 classes; with 2 the logit margin is used",
    )
    assert effective_loss("dlr", 4) == ("dlr", None)
    assert effective_loss("dlr", 3, targeted=True)[0] == "margin"
    x, y = toy_batch(16, seed=3)
    with pytest.warns(UserWarning, match="the logit margin is used"):
        apgd(trained_toy, x, y, 0.03, steps=5, loss="dlr")
    with pytest.raises(UsageError, match="unknown loss 'hinge'"):
        apgd(trained_toy, x, y, 0.03, loss="hinge")


def test_targeted_mode_reaches_a_chosen_class() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4)).eval()
    x = torch.rand(64, 1, 4, 4)
    y = model(x).argmax(1).detach()
    x_adv = apgd(model, x, y, 0.5, steps=20, targeted=True, n_targets=1, loss="ce")
    top_other = model(x).scatter(1, y[:, None], float("-inf")).argmax(1)
    hit = model(x_adv).argmax(1) == top_other
    assert float(hit.float().mean()) > 0.9


def test_leaves_the_model_untouched(trained_toy: nn.Module) -> None:
    trained_toy.train()
    before = {k: v.clone() for k, v in trained_toy.state_dict().items()}
    x, y = toy_batch(32, seed=3)
    apgd(trained_toy, x, y, 0.03, steps=5)
    assert trained_toy.training
    trained_toy.eval()
    for k, v in trained_toy.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(p.grad is None and p.requires_grad for p in trained_toy.parameters())


def test_masked_gradients_fool_pgd_ce_but_not_apgd_margin(trained_toy: nn.Module) -> None:
    masked = Scaled(trained_toy).eval()
    x, y = toy_batch(300, seed=8)
    g = torch.Generator().manual_seed(0)
    true = _acc(trained_toy, apgd(trained_toy, x, y, 0.03, steps=50, generator=g), y)
    pgd_ce = _acc(masked, pgd(masked, x, y, 0.03, steps=10, generator=g), y)
    found = _acc(masked, apgd(masked, x, y, 0.03, steps=50, loss="margin", generator=g), y)
    assert pgd_ce > true + 0.3  # plain PGD-CE over-states robustness by 30+ points
    assert found <= true + 0.02  # the scale-free loss sees through the scaling
