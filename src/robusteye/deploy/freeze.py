"""A deployment copy of a model: every reparametrised layer replaced by a plain one that holds
the kernel it really applies.

Parseval layers scale their weight (`weight / sqrt(kh kw)`) and AOL layers rescale theirs per
input channel on every forward pass. Exported as they are, the kernel is computed in the graph
from the parameter, so it is no constant: a quantiser cannot quantise it per channel, and the
runtime pays for the rescaling on every call. The frozen copy applies the same function with
the kernels computed once.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from robusteye.models.base import EyeModel


def _plain_conv(conv: nn.Conv2d) -> nn.Conv2d:
    plain = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride, padding=conv.padding, dilation=conv.dilation,  # type: ignore[arg-type]
        groups=conv.groups, bias=conv.bias is not None, padding_mode=conv.padding_mode,
    )  # fmt: skip
    weight = conv.effective_weight
    assert isinstance(weight, torch.Tensor)
    plain.weight.copy_(weight)
    if conv.bias is not None:
        assert plain.bias is not None
        plain.bias.copy_(conv.bias)
    return plain


def _plain_linear(linear: nn.Linear) -> nn.Linear:
    plain = nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
    plain.weight.copy_(getattr(linear, "effective_weight", linear.weight))
    if linear.bias is not None:
        assert plain.bias is not None
        plain.bias.copy_(linear.bias)
    return plain


@torch.no_grad()
def frozen_copy(model: EyeModel) -> EyeModel:
    """A CPU copy of `model` in eval mode whose reparametrised convs and dense layers (any
    module with an `effective_weight`, and Parseval's dense layers) are plain
    `nn.Conv2d` / `nn.Linear` modules; `model` itself is left as it was."""
    frozen = copy.deepcopy(model).to("cpu").eval()
    for tensor in (*frozen.parameters(), *frozen.buffers()):  # NCHW, whatever the model had
        tensor.data = tensor.data.contiguous()
    swaps: list[tuple[nn.Module, str, nn.Module]] = []
    for parent in frozen.modules():
        for name, child in parent.named_children():
            if type(child) in (nn.Conv2d, nn.Linear):
                continue
            if isinstance(child, nn.Conv2d) and hasattr(child, "effective_weight"):
                swaps.append((parent, name, _plain_conv(child)))
            elif isinstance(child, nn.Linear):
                swaps.append((parent, name, _plain_linear(child)))
    for parent, name, plain in swaps:
        setattr(parent, name, plain)
    return frozen.requires_grad_(False)
