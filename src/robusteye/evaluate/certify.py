"""Certified L2 robustness from a sound Lipschitz bound.

A point is certified at radius r when it is classified correctly and its logit margin
`z_y - max_{j != y} z_j` exceeds `sqrt(2) * L * r`, with `L` an upper bound of the model's L2
Lipschitz constant from pixels to logits: no perturbation of L2 norm <= r can then change the
prediction (Tsuzuku et al. 2018). Each point's certified radius is `margin / (sqrt(2) L)`.

The bound is sound, layer by layer, for the models' own topologies (`EyeModel.lipschitz`):

- a convolution's operator norm is bounded by that of the circular convolution on an
  `(H + k - 1) x (W + k - 1)` grid, which holds the zero-padded one as a compression (embed,
  convolve, crop) and whose norm is exactly the largest singular value of the kernel's 2-D
  DFT over all frequencies (Sedghi et al. 2019); a stride only subsamples (norm <= 1);
- a BatchNorm (eval, running statistics) that directly follows a convolution is folded into
  its kernel (`EyeModel.bn_folds`); any other counts `max_c |gamma_c| / sqrt(var_c + eps)`;
- dense layers their exact spectral norm, normalisation `1 / std`, average pooling over
  disjoint windows of k pixels `1 / sqrt(k)`; ReLU, MaxMin, max-pooling over disjoint
  windows, pixel unshuffle and dropout (eval) 1; residual sums and convex merges as the
  models write them down.

Everything is computed in float64 and the product is enlarged by a relative 1e-6, more than
float32's rounding in the logits' margin. `lipschitz_lower_bound` gives the other side: the
largest local Lipschitz constant (the input Jacobian's spectral norm) found around the data,
so a user sees how loose the bound is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks import logit_margin
from robusteye.errors import UsageError
from robusteye.evaluate.predict import predict_logits
from robusteye.models.base import EyeModel, Normalize
from robusteye.models.diagnostics import (
    average_pool_lipschitz,
    batchnorm_scale,
    layer_input_shapes,
)
from robusteye.models.parseval import conv_weight
from robusteye.tensors import model_device

#: relative enlargement of the product bound, against rounding
SAFETY = 1e-6
#: the name of certified accuracy where it sits beside the attacks' curves
CERTIFIED = "certified"


@dataclass(frozen=True)
class CertPoint:
    """Certified accuracy at one radius (or at one SNR: one radius per image)."""

    radius: float  # the radius, or the mean per-image radius for an SNR
    snr_db: float | None  # the SNR asked for (None when a radius was)
    mean_snr_db: float | None  # mean over images of the SNR of a perturbation of that size
    certified_accuracy: float
    certified: Tensor  # bool per example

    def to_dict(self) -> dict[str, Any]:
        return {
            "radius": self.radius,
            "snr_db": self.snr_db,
            "mean_snr_db": self.mean_snr_db,
            "certified_accuracy": self.certified_accuracy,
        }


@dataclass(frozen=True)
class CertResult:
    """The bound `lipschitz`, each point's certified radius (0 when misclassified), clean
    accuracy and certified accuracy at each radius or SNR."""

    lipschitz: float
    radii: Tensor  # float per example
    correct: Tensor  # bool per example
    clean_accuracy: float
    points: tuple[CertPoint, ...]

    @property
    def n(self) -> int:
        return int(self.correct.numel())

    def to_dict(self) -> dict[str, Any]:
        r = self.radii[self.correct]
        return {
            "lipschitz": self.lipschitz,
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "median_certified_radius": float(r.median()) if r.numel() else 0.0,
            "points": [p.to_dict() for p in self.points],
        }


def certify(
    model: EyeModel,
    x: Tensor,
    y: Tensor,
    *,
    radii: Sequence[float] | None = None,
    snr: Sequence[float] | None = None,
    lipschitz: float | None = None,
) -> CertResult:
    """Certified accuracy of `model` on `x` (N x C x H x W in [0, 1]) with labels `y`, at each
    L2 radius of `radii` or at each SNR in dB of `snr` (radius `||x_i|| 10^(-snr/20)` per
    image). `lipschitz` defaults to `lipschitz_bound(model)`."""
    if (radii is None) == (snr is None):
        raise UsageError("give either radii or snr values")
    if x.shape[0] == 0:
        raise UsageError("certification needs at least one image")
    if radii is not None and any(not math.isfinite(r) or r < 0 for r in radii):
        raise UsageError(f"radii must be finite and >= 0, got {list(radii)}")
    if snr is not None and any(not math.isfinite(s) for s in snr):
        raise UsageError(f"SNR values must be finite dB, got {list(snr)}")
    bound = lipschitz_bound(model, size=x.shape[-1]) if lipschitz is None else float(lipschitz)
    logits = predict_logits(model, x).double()
    y = y.to(logits.device)
    correct = logits.argmax(1) == y
    margin = logit_margin(logits, y).clamp_min(0.0)
    radius = torch.where(correct, margin / (math.sqrt(2.0) * bound), torch.zeros_like(margin))
    norms = x.detach().double().flatten(1).norm(dim=1).to(radius.device)
    # per point: the radius per image, the SNR asked for, the mean SNR of that radius
    asked: list[tuple[Tensor, float | None, float | None]]
    if radii is not None:
        asked = [
            (torch.full_like(radius, r), None, _mean_snr(norms, r) if r > 0 else None)
            for r in map(float, radii)
        ]
    else:
        asked = [(norms * 10.0 ** (-s / 20.0), s, s) for s in map(float, snr or ())]
    points = []
    for need, snr_db, mean_snr in asked:
        ok = correct & (radius > need)
        points.append(
            CertPoint(
                radius=float(need.mean()),
                snr_db=snr_db,
                mean_snr_db=mean_snr,
                certified_accuracy=float(ok.double().mean()),
                certified=ok.cpu(),
            )
        )
    return CertResult(
        lipschitz=bound,
        radii=radius.float().cpu(),
        correct=correct.cpu(),
        clean_accuracy=float(correct.double().mean()),
        points=tuple(points),
    )


def _mean_snr(norms: Tensor, radius: float) -> float:
    """The mean over images of the SNR in dB of a perturbation of L2 norm `radius`."""
    return float((20 * torch.log10(norms / radius)).mean())


@torch.no_grad()
def conv_norm_bound(weight: Tensor, input_hw: tuple[int, int]) -> float:
    """A sound upper bound of `||x -> conv2d(x, weight, stride=s, padding=p)||_2` for inputs
    of size H x W, any stride and padding `p < k`: the circular convolution's exact norm on
    the (H + k - 1) x (W + k - 1) grid (see the module docstring)."""
    w = weight.detach().double().cpu()
    kh, kw = w.shape[-2:]
    grid = (input_hw[0] + kh - 1, input_hw[1] + kw - 1)
    spectrum = torch.fft.fft2(w, s=grid)  # cout x cin x Gh x Gw
    blocks = spectrum.permute(2, 3, 0, 1).reshape(-1, w.shape[0], w.shape[1])
    return float(torch.linalg.matrix_norm(blocks, ord=2).max())


@torch.no_grad()
def layer_bounds(model: EyeModel, *, size: int = 32) -> dict[nn.Module, float]:
    """A sound Lipschitz bound for every layer `model.lipschitz` asks about (BatchNorms that
    follow a convolution folded into it, and then 1)."""
    sizes = layer_input_shapes(model, model.config.in_channels, size)
    folded = dict(model.bn_folds())
    bounds: dict[nn.Module, float] = {}
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            if module.groups != 1 or tuple(module.dilation) != (1, 1):
                raise UsageError("certify handles convolutions without groups or dilation")
            if isinstance(module.padding, str):
                raise UsageError("certify needs numeric convolution padding")
            pads = tuple(int(p) for p in module.padding)
            if any(p >= k for p, k in zip(pads, module.kernel_size, strict=True)):
                raise UsageError("certify needs convolution padding below the kernel size")
            kernel = conv_weight(module).detach().double().cpu()
            if module in folded:
                kernel = kernel * batchnorm_scale(folded[module])[:, None, None, None]
            _, h, w = sizes[module]
            bounds[module] = conv_norm_bound(kernel, (h, w))
        elif isinstance(module, nn.Linear):
            matrix = getattr(module, "effective_weight", module.weight).detach().double().cpu()
            bounds[module] = float(torch.linalg.matrix_norm(matrix, ord=2))
        elif isinstance(module, nn.BatchNorm2d):
            followed = module in folded.values()
            bounds[module] = 1.0 if followed else float(batchnorm_scale(module).abs().max())
        elif isinstance(module, Normalize):
            bounds[module] = float((1.0 / module.std.double()).max())
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            _, h, w = sizes[module]
            factor = average_pool_lipschitz(module, h, w)
            if factor is None:
                raise UsageError("certify handles average pooling over disjoint windows only")
            bounds[module] = factor
    return bounds


def lipschitz_bound(model: EyeModel, *, size: int = 32) -> float:
    """A sound upper bound of the model's L2 Lipschitz constant from pixels to logits."""
    bounds = layer_bounds(model, size=size)

    def factor(module: nn.Module) -> float:
        if module not in bounds:
            raise UsageError(f"certify has no Lipschitz bound for {type(module).__name__}")
        return bounds[module]

    return float(model.lipschitz(factor)) * (1.0 + SAFETY)


def lipschitz_lower_bound(model: nn.Module, x: Tensor, *, iters: int = 20, seed: int = 0) -> float:
    """The largest input-Jacobian spectral norm found at the points `x` (power iteration on
    `J^T J` with forward- and reverse-mode products): a lower bound of the Lipschitz
    constant, which the sound bound must never be below."""
    from torch.func import jvp, vjp

    was_training = model.training
    model.eval()
    try:
        device = model_device(model)
        x = x.detach().to(device)
        g = torch.Generator().manual_seed(seed)
        v = torch.randn(x.shape, generator=g).to(device)
        pull = vjp(model, x)[1]  # v -> J^T v at x, built once
        best = 0.0
        for _ in range(iters):
            v = v / v.flatten(1).norm(dim=1).clamp_min(1e-30).view(-1, 1, 1, 1)
            u = jvp(model, (x,), (v,))[1]  # J v
            v = pull(u)[0]  # J^T J v
            # ||J v|| with ||v|| = 1 is a lower bound of ||J|| at every step
            best = max(best, float(u.detach().flatten(1).norm(dim=1).max()))
        return best
    finally:
        model.train(was_training)
