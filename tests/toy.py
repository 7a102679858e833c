"""Toy tasks where the class is which half of the image is brighter: a tiny CNN on a faint
version, and a small 1-Lipschitz model trained for certificates on a clear one."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robusteye.models import EyeModel, create_model
from robusteye.train.config import RegimeConfig
from robusteye.train.regimes import regime_loss


def toy_batch(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 + 0.2 * torch.rand(n, 1, 32, 32, generator=g)
    bright = torch.zeros(n, 1, 32, 32)
    bright[y == 0, :, :16] = 0.06  # class 0: top half brighter
    bright[y == 1, :, 16:] = 0.06  # class 1: bottom half brighter
    return (x + bright).clamp(0, 1), y


def tiny_model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 2),
    )


def train_toy(steps: int = 40) -> nn.Module:
    """`tiny_model` trained to ~100% on `toy_batch`; eval mode, no gradients left."""
    torch.manual_seed(0)
    model = tiny_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = toy_batch(512, seed=1)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.eval()


def halves(n: int, seed: int) -> tuple[Tensor, Tensor]:
    """The class is which half of the image is brighter (by 0.25, on noise)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.3 + 0.2 * torch.rand(n, 1, 32, 32, generator=g)
    x[y == 0, :, :16] += 0.25
    x[y == 1, :, 16:] += 0.25
    return x, y


def train_lipschitz(steps: int = 40) -> tuple[EyeModel, Tensor, Tensor]:
    """A small `lipschitz_cnn` trained for certificates on `halves` (every test point correct,
    most certified at radius 0.5), and 64 test points."""
    torch.manual_seed(0)
    model = create_model("lipschitz_cnn", num_classes=2, width=4, convs=1, hidden=16)
    regime = RegimeConfig(kind="certified", radius=0.5, temperature=0.25)
    x, y = halves(256, seed=1)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        regime_loss(model(x), y, regime).backward()
        opt.step()
    return model.eval(), *halves(64, seed=7)
