"""`EyeModel`, the base of every registered model, and the `Normalize` input layer.

Contract: input float32 N x C x H x W in [0, 1] (C = `config.in_channels`, H = W = 32 for the
study); output logits N x `config.num_classes`. Normalization lives inside the model, so
attacks, eps and clipping all work in pixel space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor, nn

from robusteye.errors import DataError
from robusteye.models.config import ModelConfig
from robusteye.models.parseval import Constrained, ParsevalConv2d, ParsevalLinear

#: Maps a module to an upper bound of its Lipschitz constant (see `diagnostics`).
LipschitzOf = Callable[[nn.Module], float]


class Normalize(nn.Module):
    """`(x - mean) / std` with mean and std as (non-persistent) buffers taken from the config."""

    mean: Tensor
    std: Tensor

    def __init__(self, mean: float, std: float, channels: int = 1) -> None:
        super().__init__()
        self.channels = channels
        # Not persistent: the config is the single source of truth for mean and std.
        self.register_buffer("mean", torch.full((1, channels, 1, 1), float(mean)), persistent=False)
        self.register_buffer("std", torch.full((1, channels, 1, 1), float(std)), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise DataError(
                f"model expects images N x {self.channels} x H x W, got shape {tuple(x.shape)}"
            )
        return (x - self.mean) / self.std

    def lipschitz(self) -> float:
        return float((1.0 / self.std).max())


class EyeModel(nn.Module):
    """A classifier of [0, 1] images to logits, built from a `ModelConfig`."""

    #: whether the map from pixels to logits is 1-Lipschitz in L2 by construction, so a logit
    #: margin certifies (the certified regime trains only such models)
    one_lipschitz: ClassVar[bool] = False

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.normalize = Normalize(config.mean, config.std, config.in_channels)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.config.classes

    def apply_constraints(self, generator: torch.Generator | None = None) -> None:
        """Re-impose every layer constraint; call after each optimizer step (no-op if none).

        `generator` drives the optional random row subsampling of the retraction.
        """
        for module in self.modules():
            if isinstance(module, Constrained):
                module.project_(generator)

    def constrained_modules(self) -> list[tuple[str, nn.Module]]:
        """The (name, module) pairs that `apply_constraints` acts on."""
        return [(n, m) for n, m in self.named_modules() if isinstance(m, Constrained)]  # type: ignore[misc]

    def lipschitz(self, factor: LipschitzOf) -> float:
        """Upper bound of the network's Lipschitz constant given each layer's bound `factor`."""
        raise NotImplementedError

    def bn_folds(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        """(conv, BatchNorm) pairs where the BatchNorm directly follows the conv and sees
        nothing else, so a sound bound may fold it into the kernel (none by default)."""
        return []


def init_weights(model: nn.Module) -> None:
    """Kaiming (fan-out) convs, unit BN, zero biases; Parseval layers keep their orthogonal init."""
    for m in model.modules():
        if isinstance(m, (ParsevalConv2d, ParsevalLinear)):
            continue
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


def make_conv(cfg: ModelConfig, cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    """A bias-free k x k "same" conv: `ParsevalConv2d` for Parseval configs (BN follows it)."""
    if cfg.parseval:
        p = cfg.params
        return ParsevalConv2d(
            cin, cout, k, stride=stride, padding=k // 2,
            beta=p["beta"], passes=p["passes"], row_fraction=p["row_fraction"],
        )  # fmt: skip
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def make_linear(cfg: ModelConfig, fin: int, fout: int, *, classifier: bool = False) -> nn.Linear:
    """A linear layer, constrained for Parseval configs (the classifier only on request)."""
    p = cfg.params
    if cfg.parseval and (not classifier or p["constrain_classifier"]):
        return ParsevalLinear(
            fin, fout, beta=p["beta"], passes=p["passes"], row_fraction=p["row_fraction"]
        )
    return nn.Linear(fin, fout)
