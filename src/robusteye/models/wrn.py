"""Wide Residual Networks (Zagoruyko & Komodakis 2016, https://arxiv.org/abs/1605.07146).

The CIFAR pre-activation variant: conv3x3(16) stem, 3 groups of N = (depth - 4) / 6 blocks of
16k, 32k, 64k channels with strides 1, 2, 2, blocks BN-ReLU-conv-BN-ReLU-(dropout)-conv with a
1x1 projection shortcut when the shape changes, then BN-ReLU, global average pooling, linear.
Parameter `head_grid` > 1 pools the last map to a grid x grid map instead and flattens it
into the linear classifier, so the head keeps where things are (8: the whole 8 x 8 map of a
32 x 32 crop). The flattened features are divided by the grid, which keeps their norm that of
the globally pooled ones: unscaled, the 64x larger feature norm of grid 8 made the head's
steps 64x larger, and WRN-16-1 at lr 0.1 stayed at chance on the real crops.
Parameter `activation` swaps every ReLU for another activation (`"silu"`; see
`config.ACTIVATIONS`, which also gives each one's Lipschitz constant for the bound).
The Parseval twin (`parseval_wrn`) swaps every conv for `ParsevalConv2d` (orthonormal,
scaled, retracted) and the residual sum for a trained `ConvexMerge`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.models.base import EyeModel, LipschitzOf, init_weights, make_conv, make_linear
from robusteye.models.config import ACTIVATIONS, ModelConfig
from robusteye.models.parseval import ConvexMerge
from robusteye.models.registry import build_model, model_config, register_arch, register_model


class AddMerge(nn.Module):
    """The plain residual sum `shortcut + branch`."""

    def forward(self, shortcut: Tensor, branch: Tensor) -> Tensor:
        return shortcut + branch

    def lipschitz(self, shortcut: float, branch: float) -> float:
        return shortcut + branch


def activation(cfg: ModelConfig) -> tuple[Callable[[Tensor], Tensor], float]:
    """The config's activation (a `torch.nn.functional` function) and its Lipschitz constant."""
    name = cfg.params["activation"]
    return getattr(F, name), ACTIVATIONS[name]


class WideBlock(nn.Module):
    """Pre-activation basic block; the shortcut is a 1x1 conv when channels or stride change."""

    def __init__(self, cfg: ModelConfig, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.act, self.act_lipschitz = activation(cfg)
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = make_conv(cfg, cin, cout, 3, stride)
        self.bn2 = nn.BatchNorm2d(cout)
        self.dropout = nn.Dropout(cfg.params["dropout"])
        self.conv2 = make_conv(cfg, cout, cout, 3, 1)
        projection = cin != cout or stride != 1
        self.shortcut = make_conv(cfg, cin, cout, 1, stride) if projection else None
        self.merge = ConvexMerge(cfg.params["convex"]) if cfg.parseval else AddMerge()

    def forward(self, x: Tensor) -> Tensor:
        o = self.act(self.bn1(x))
        branch = self.conv2(self.dropout(self.act(self.bn2(self.conv1(o)))))
        # As in the reference code, the projection sees the pre-activated input.
        shortcut = x if self.shortcut is None else self.shortcut(o)
        return self.merge(shortcut, branch)

    def lipschitz(self, factor: LipschitzOf) -> float:
        a = self.act_lipschitz
        branch = factor(self.conv1) * factor(self.bn2) * a * factor(self.conv2)
        if self.shortcut is None:
            return self.merge.lipschitz(1.0, factor(self.bn1) * a * branch)
        return factor(self.bn1) * a * self.merge.lipschitz(factor(self.shortcut), branch)


@register_arch("wrn", "parseval_wrn")
class WideResNet(EyeModel):
    """WRN-depth-width; Parseval layers and convex merges when `config.arch == 'parseval_wrn'`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        depth, width = config.params["depth"], config.params["width"]
        n = (depth - 4) // 6
        channels = [16, 16 * width, 32 * width, 64 * width]
        self.stem = make_conv(config, config.in_channels, channels[0], 3, 1)
        blocks = []
        for group, stride in enumerate((1, 2, 2)):
            for i in range(n):
                cin = channels[group] if i == 0 else channels[group + 1]
                blocks.append(WideBlock(config, cin, channels[group + 1], stride if i == 0 else 1))
        self.blocks = nn.Sequential(*blocks)
        self.final_bn = nn.BatchNorm2d(channels[3])
        self.act, self.act_lipschitz = activation(config)
        grid = config.params["head_grid"]
        self.pool = nn.AdaptiveAvgPool2d(grid)
        features = channels[3] * grid * grid
        self.head_scale = 1.0 / grid
        self.classifier = make_linear(config, features, config.num_classes, classifier=True)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.blocks(self.stem(self.normalize(x)))
        out = self.pool(self.act(self.final_bn(out))).flatten(1)
        if self.head_scale != 1.0:
            out = out * self.head_scale
        return self.classifier(out)

    def lipschitz(self, factor: LipschitzOf) -> float:
        bound = factor(self.normalize) * factor(self.stem)
        for block in self.blocks:
            bound *= cast(WideBlock, block).lipschitz(factor)
        tail = factor(self.final_bn) * self.act_lipschitz * factor(self.pool) * self.head_scale
        return bound * tail * factor(self.classifier)

    def bn_folds(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        return [(b.conv1, b.bn2) for b in cast(list[WideBlock], list(self.blocks))]


def _wrn(
    name: str, arch: str, num_classes: int, overrides: dict[str, Any], **defaults: Any
) -> EyeModel:
    return build_model(model_config(name, arch, num_classes, overrides, **defaults))


@register_model
def wrn(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """Generic WRN: set `depth`, `width`, `dropout`, `activation`, `head_grid` (defaults 16,
    1, 0, relu, 1)."""
    return _wrn("wrn", "wrn", num_classes, overrides)


@register_model
def wrn_16_1(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """WRN-16-1, the study's baseline (about 0.17M parameters)."""
    return _wrn("wrn_16_1", "wrn", num_classes, overrides, depth=16, width=1)


@register_model
def wrn_28_10(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """WRN-28-10, the Parseval paper's CIFAR model (about 36.5M parameters)."""
    return _wrn("wrn_28_10", "wrn", num_classes, overrides, depth=28, width=10)


@register_model
def parseval_wrn(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """Generic Parseval WRN: `depth`, `width`, `dropout`, `beta`, `passes`, `convex`, ..."""
    return _wrn("parseval_wrn", "parseval_wrn", num_classes, overrides)


@register_model
def parseval_wrn_16_1(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """Parseval WRN-16-1, the study's Parseval network."""
    return _wrn("parseval_wrn_16_1", "parseval_wrn", num_classes, overrides, depth=16, width=1)


@register_model
def parseval_wrn_28_10(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """Parseval WRN-28-10, the Parseval paper's CIFAR model."""
    return _wrn("parseval_wrn_28_10", "parseval_wrn", num_classes, overrides, depth=28, width=10)
