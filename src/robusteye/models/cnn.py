"""The study's plain CNN and its Parseval twin.

Four conv-BN-ReLU stages of 32, 64, 128, 256 filters (3x3, "same"), each followed by 2x2
max-pooling (the last by adaptive max-pooling to 2 x 2, so 32 x 32 inputs give 256 x 2 x 2),
then flatten, dense(`hidden`)-ReLU-dropout and the classifier. `parseval_cnn` constrains the
four convs and the hidden dense layer; the classifier only with `constrain_classifier=True`.
"""

from __future__ import annotations

from typing import Any, cast

import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.models.base import EyeModel, LipschitzOf, init_weights, make_conv, make_linear
from robusteye.models.config import ModelConfig
from robusteye.models.registry import build_model, model_config, register_arch, register_model

_FILTERS = (32, 64, 128, 256)


class ConvStage(nn.Module):
    """conv3x3 - BN - ReLU - max-pool (max-pooling over disjoint windows is 1-Lipschitz)."""

    def __init__(self, cfg: ModelConfig, cin: int, cout: int, pool: nn.Module) -> None:
        super().__init__()
        self.conv = make_conv(cfg, cin, cout, 3)
        self.bn = nn.BatchNorm2d(cout)
        self.pool = pool

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.relu(self.bn(self.conv(x))))

    def lipschitz(self, factor: LipschitzOf) -> float:
        return factor(self.conv) * factor(self.bn)


@register_arch("cnn", "parseval_cnn")
class EyeCNN(EyeModel):
    """The 4-conv CNN; Parseval convs and hidden dense when `config.arch == 'parseval_cnn'`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        chans = (config.in_channels, *_FILTERS)
        pools = [nn.MaxPool2d(2), nn.MaxPool2d(2), nn.MaxPool2d(2), nn.AdaptiveMaxPool2d(2)]
        self.stages = nn.Sequential(
            *(ConvStage(config, chans[i], chans[i + 1], pools[i]) for i in range(4))
        )
        hidden = config.params["hidden"]
        self.hidden = make_linear(config, _FILTERS[-1] * 4, hidden)
        self.dropout = nn.Dropout(config.params["dropout"])
        self.classifier = make_linear(config, hidden, config.num_classes, classifier=True)
        init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        out = self.stages(self.normalize(x)).flatten(1)
        return self.classifier(self.dropout(F.relu(self.hidden(out))))

    def lipschitz(self, factor: LipschitzOf) -> float:
        bound = factor(self.normalize)
        for stage in self.stages:
            bound *= cast(ConvStage, stage).lipschitz(factor)
        return bound * factor(self.hidden) * factor(self.classifier)

    def bn_folds(self) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
        return [(s.conv, s.bn) for s in cast(list[ConvStage], list(self.stages))]


def _cnn(name: str, arch: str, num_classes: int, overrides: dict[str, Any]) -> EyeModel:
    return build_model(model_config(name, arch, num_classes, overrides))


@register_model
def cnn(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """The study's 4-conv CNN (32-64-128-256 filters, BN, max-pool, dense `hidden`=256)."""
    return _cnn("cnn", "cnn", num_classes, overrides)


@register_model
def parseval_cnn(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """The Parseval CNN: constrained convs and hidden dense layer."""
    return _cnn("parseval_cnn", "parseval_cnn", num_classes, overrides)
