"""A toy task where the class is which half of the image is brighter, and a tiny CNN."""

from __future__ import annotations

import torch
from torch import nn


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
