"""A 1-Lipschitz CNN by construction (`lipschitz_cnn`), trained for certificates.

Layers are almost-orthogonal (AOL, Prach & Lampert 2022, https://arxiv.org/abs/2208.03160):
each conv or dense layer applies `W = P D`, its free parameter `P` rescaled per input channel
by `D_jj = (sum_i |P^T P|_ij)^(-1/2)` (for a conv, `P^T P` is the kernel's
self-correlation). That makes `||W||_2 <= 1` for every `P`, with no projection step and no
power iteration, and `W` is orthogonal wherever `P^T P` is diagonal. Activations are MaxMin
(GroupSort with groups of two: sorting preserves the gradient norm, unlike ReLU), and
downsampling is a 2x2 pixel unshuffle, a permutation, and the last 4 x 4 map is flattened
(also a permutation) into the dense layers. Normalisation keeps the mean but uses
std 1, so the whole map from pixels to logits is 1-Lipschitz in L2 and a logit margin `m`
certifies the L2 radius `m / sqrt(2)`; `robusteye.evaluate.certify` checks this with its own
sound bound rather than trusting the construction.

Parameter `center` subtracts each image's own mean first: an orthogonal projection (norm 1,
so the model stays 1-Lipschitz) that makes the logits blind to a uniform change of
brightness, which a network without BatchNorm and with a fixed normalisation otherwise
sees as an L2 move of 32 times the shift, far beyond its certified radii.

Why our own short implementation, not deel-torchlip: AOL needs no iterative
orthogonalisation (Björck or power iteration in every forward pass), which on the CPUs this
tool runs on makes it several times cheaper to train, and it is about sixty lines.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.models.base import EyeModel, LipschitzOf
from robusteye.models.config import ModelConfig
from robusteye.models.registry import build_model, model_config, register_arch, register_model

#: a floor under the rescaling's denominator: an all-zero input column stays zero, not NaN
_TINY = 1e-12


def aol_scale(weight: Tensor) -> Tensor:
    """AOL's per-input-channel factors `(sum_i |P^T P|_ij)^(-1/2)` of a conv or dense kernel
    (scale-free: `P` and `c P` apply the same kernel)."""
    if weight.ndim == 2:
        sums = (weight.T @ weight).abs().sum(dim=1)
    else:
        k = weight.shape[-1]
        per_input = weight.transpose(0, 1)  # cin x cout x k x k
        gram = F.conv2d(per_input, per_input, padding=k - 1)  # cin x cin x (2k-1) x (2k-1)
        sums = gram.abs().sum(dim=(1, 2, 3))
    return sums.clamp_min(_TINY).rsqrt()


@torch.no_grad()
def isometric_init_(matrix: Tensor) -> Tensor:
    """An `out x in` matrix with orthonormal rows or columns whose `P^T P` has row sums 1,
    so AOL leaves it unscaled: orthogonal when square or tall; when wide, each output
    averages its own disjoint group of inputs (`1 / sqrt(group size)` each)."""
    fout, fin = matrix.shape
    if matrix.is_meta:  # a shape built only to receive saved weights: nothing to draw
        return matrix
    if fout >= fin:
        return nn.init.orthogonal_(matrix)
    matrix.zero_()
    groups = torch.arange(fin) % fout
    sizes = torch.bincount(groups, minlength=fout).to(matrix.dtype)
    matrix[groups, torch.arange(fin)] = sizes[groups].rsqrt()
    return matrix


class AOLConv2d(nn.Conv2d):
    """A stride-1 "same" conv whose applied kernel is `P D` (see `aol_scale`): `||.|| <= 1`."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__(cin, cout, k, padding=k // 2, bias=True)
        # an orthogonal matrix at the centre tap, zero elsewhere: P^T P is then diagonal,
        # so the layer starts orthogonal (AOL's rescaling leaves it as it is)
        with torch.no_grad():
            self.weight.zero_()
            isometric_init_(self.weight[:, :, k // 2, k // 2])
        assert self.bias is not None
        nn.init.zeros_(self.bias)

    @property
    def effective_weight(self) -> Tensor:
        return self.weight * aol_scale(self.weight)[None, :, None, None]

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight, self.bias, padding=self.padding)


class AOLLinear(nn.Linear):
    """A dense layer whose applied matrix is `P D` (see `aol_scale`): `||.|| <= 1`."""

    def __init__(self, fin: int, fout: int) -> None:
        super().__init__(fin, fout, bias=True)
        isometric_init_(self.weight)
        nn.init.zeros_(self.bias)

    @property
    def effective_weight(self) -> Tensor:
        return self.weight * aol_scale(self.weight)[None, :]

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.effective_weight, self.bias)


class CenterImage(nn.Module):
    """Each image minus its own mean over channels and pixels: the orthogonal projection
    onto zero-mean images, 1-Lipschitz in L2."""

    def forward(self, x: Tensor) -> Tensor:
        return x - x.mean(dim=(1, 2, 3), keepdim=True)


class MaxMin(nn.Module):
    """GroupSort of pairs along the channels: `[max(a, b), min(a, b)]`; 1-Lipschitz and
    gradient-norm preserving."""

    def forward(self, x: Tensor) -> Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.cat([torch.maximum(a, b), torch.minimum(a, b)], dim=1)


def _stage(cin: int, cout: int, convs: int) -> list[nn.Module]:
    layers: list[nn.Module] = [AOLConv2d(cin, cout, 1 if cin != cout else 3), MaxMin()]
    for _ in range(convs):
        layers += [AOLConv2d(cout, cout, 3), MaxMin()]
    return layers


@register_arch("lipschitz_cnn")
class LipschitzCNN(EyeModel):
    """AOL convs and MaxMin at 32, 16, 8 and 4 pixels (`width`, 2x, 4x, 8x channels, `convs`
    3x3 convs at each, after a 1x1 conv that halves what the pixel unshuffle quadrupled),
    then the 4 x 4 map flattened (an isometry: where an eye's parts lie is kept, unlike
    pooling, which also shrinks margins), AOL dense `hidden` and the classifier."""

    one_lipschitz = True  # std 1, and every layer's norm is at most 1

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        w, convs = config.params["width"], config.params["convs"]
        layers: list[nn.Module] = [AOLConv2d(config.in_channels, w, 3), MaxMin()]
        layers += _stage(w, w, convs - 1)
        for cin, cout in ((4 * w, 2 * w), (8 * w, 4 * w)):
            layers += [nn.PixelUnshuffle(2), *_stage(cin, cout, convs)]
        layers += [nn.PixelUnshuffle(2), *_stage(16 * w, 8 * w, 1)]
        if config.params["center"]:
            layers.insert(0, CenterImage())
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        hidden = config.params["hidden"]
        self.hidden = AOLLinear(8 * w * 4 * 4, hidden)
        self.act = MaxMin()
        self.classifier = AOLLinear(hidden, config.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        out = self.flatten(self.features(self.normalize(x)))
        return self.classifier(self.act(self.hidden(out)))

    def lipschitz(self, factor: LipschitzOf) -> float:
        bound = factor(self.normalize)
        for layer in self.features:
            if isinstance(layer, AOLConv2d):
                bound *= factor(layer)
        return bound * factor(self.hidden) * factor(self.classifier)


@register_model
def lipschitz_cnn(num_classes: int = 4, **overrides: Any) -> EyeModel:
    """1-Lipschitz AOL CNN for certified robustness (`width` 16, `convs` 1, `hidden` 128,
    `center` false)."""
    overrides.setdefault("std", 1.0)  # a std below 1 would scale the Lipschitz constant up
    return build_model(model_config("lipschitz_cnn", "lipschitz_cnn", num_classes, overrides))
