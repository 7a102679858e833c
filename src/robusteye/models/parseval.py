"""Parseval networks: orthogonality retraction, scaled convolution, convex residual merge.

Cisse et al., "Parseval Networks: Improving Robustness to Adversarial Examples", ICML 2017,
https://arxiv.org/abs/1704.08847.

- `retract_` keeps a weight close to a Parseval tight frame with the paper's update
  `W <- (1 + beta) W - beta W W^T W`, run in fp32 without grad after each optimizer step.
- `ParsevalConv2d` keeps its unfolded kernel (out x in*kh*kw) orthonormal and multiplies the
  kernel by 1/sqrt(kh*kw): each input pixel enters at most kh*kw patches, so the convolution's
  operator norm is at most sqrt(kh*kw) * ||W|| / sqrt(kh*kw) = ||W|| = 1.
- `ConvexMerge` aggregates residual branches by a convex combination whose weights stay on the
  probability simplex (exact Euclidean projection), or the study's `a = sigmoid(t)` version.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


class Constrained:
    """Mixin for modules that re-impose a constraint after each optimizer step."""

    def project_(self, generator: torch.Generator | None = None) -> None:
        """Pull the module's parameters back onto their constraint set, in place."""
        raise NotImplementedError


def _retraction_pass(
    a: Tensor, beta: float, row_fraction: float, generator: torch.Generator | None
) -> None:
    """One retraction pass on a wide fp32 matrix `a` (rows <= cols), in place."""
    rows = a.shape[0]
    if row_fraction < 1.0:
        # The paper's cheaper variant: retract a random subset of rows each pass.
        keep = max(1, round(row_fraction * rows))
        idx = torch.randperm(rows, generator=generator, device="cpu")[:keep].to(a.device)
        sub = a[idx]
        a[idx] = (1.0 + beta) * sub - beta * (sub @ sub.T) @ sub
    else:
        # (W W^T) W: the Gram matrix of the short side is the small one.
        a.copy_((1.0 + beta) * a - beta * (a @ a.T) @ a)


@torch.no_grad()
def retract_(
    weight: Tensor,
    *,
    beta: float,
    passes: int = 1,
    row_fraction: float = 1.0,
    generator: torch.Generator | None = None,
) -> None:
    """Apply `W <- (1 + beta) W - beta W W^T W` to `weight` viewed as (dim 0) x (the rest).

    Works on the wide orientation: for a tall matrix (more rows than columns, e.g. a stem conv
    with 16 filters of 1*3*3 inputs) it retracts W^T, which is the same formula
    (`W (W^T W) == (W W^T) W`) with the smaller Gram matrix, and with `row_fraction` samples
    columns instead. Its fixed points have singular values 1 (or 0); the map is monotone and
    converges for singular values in (0, sqrt((1 + beta) / (3 beta))).
    """
    mat = weight.detach().reshape(weight.shape[0], -1).float()
    tall = mat.shape[0] > mat.shape[1]
    a = mat.T.contiguous() if tall else mat.clone()
    for _ in range(passes):
        _retraction_pass(a, beta, row_fraction, generator)
    out = a.T if tall else a
    weight.copy_(out.reshape(weight.shape).to(weight.dtype))


class Retracted(Constrained):
    """Mixin: `project_` is the retraction of `self.weight` with the module's beta, passes and
    row fraction (shared by Parseval convolutions and linear layers)."""

    weight: Tensor
    beta: float
    passes: int
    row_fraction: float

    def project_(self, generator: torch.Generator | None = None) -> None:
        retract_(
            self.weight,
            beta=self.beta,
            passes=self.passes,
            row_fraction=self.row_fraction,
            generator=generator,
        )


class ParsevalConv2d(nn.Conv2d, Retracted):
    """A convolution whose unfolded kernel is kept orthonormal and scaled by 1/sqrt(kh*kw).

    The parameter `weight` is the orthonormal unfolded matrix (orthogonality is measured and
    retracted on it); `effective_weight` (= weight / sqrt(kh*kw)) is what convolves the input.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        beta: float = 3e-4,
        passes: int = 1,
        row_fraction: float = 1.0,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        kh, kw = self.kernel_size
        self.output_scale = 1.0 / math.sqrt(kh * kw)
        self.beta, self.passes, self.row_fraction = beta, passes, row_fraction
        # The retraction's pull near sigma = 1 is weak (rate 1 - 2 beta), so start orthonormal.
        nn.init.orthogonal_(self.weight)

    @property
    def effective_weight(self) -> Tensor:
        return self.weight * self.output_scale

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.effective_weight, self.bias)


class ParsevalLinear(nn.Linear, Retracted):
    """A linear layer kept close to a Parseval tight frame (orthonormal rows or columns)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        beta: float = 3e-4,
        passes: int = 1,
        row_fraction: float = 1.0,
    ) -> None:
        super().__init__(in_features, out_features)
        self.beta, self.passes, self.row_fraction = beta, passes, row_fraction
        nn.init.orthogonal_(self.weight)
        nn.init.zeros_(self.bias)


def project_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of each row of `v` (last dim) onto the probability simplex.

    The sort-based algorithm (Held, Wolfe & Crowder 1974; Duchi et al. 2008):
    w = max(v - theta, 0) with theta chosen so that sum(w) = 1.
    """
    u, _ = torch.sort(v, dim=-1, descending=True)
    css = u.cumsum(dim=-1) - 1.0
    ks = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    # rho = the largest k with u_k - (sum_{j<=k} u_j - 1) / k > 0 (k = 1 always qualifies).
    rho = ((u - css / ks) > 0).to(v.dtype).cumprod(dim=-1).sum(dim=-1, keepdim=True).long()
    theta = css.gather(-1, rho - 1) / rho.to(v.dtype)
    return (v - theta).clamp_min(0.0)


class ConvexMerge(nn.Module, Constrained):
    """`w0 * shortcut + w1 * branch` with (w0, w1) on the simplex, trained.

    `mode="simplex"` (the paper): free weights, projected onto the simplex after each step.
    `mode="sigmoid"` (the study): `a = sigmoid(t)`, `a * shortcut + (1 - a) * branch`.
    Both start at (0.5, 0.5).
    """

    def __init__(self, mode: str = "simplex") -> None:
        super().__init__()
        if mode not in ("simplex", "sigmoid"):
            raise ValueError(f"convex mode must be 'simplex' or 'sigmoid', got {mode!r}")
        self.mode = mode
        if mode == "simplex":
            self.weight = nn.Parameter(torch.full((2,), 0.5))
        else:
            self.weight = nn.Parameter(torch.zeros(1))

    def coefficients(self) -> Tensor:
        """The two merge weights (shortcut, branch)."""
        if self.mode == "simplex":
            return self.weight
        a = torch.sigmoid(self.weight)
        return torch.cat([a, 1.0 - a])

    def forward(self, shortcut: Tensor, branch: Tensor) -> Tensor:
        w = self.coefficients()
        return w[0] * shortcut + w[1] * branch

    def lipschitz(self, shortcut: float, branch: float) -> float:
        """L(w0 a + w1 b) <= w0 L(a) + w1 L(b) for non-negative weights."""
        w0, w1 = (abs(float(c)) for c in self.coefficients().detach())
        return w0 * shortcut + w1 * branch

    @torch.no_grad()
    def project_(self, generator: torch.Generator | None = None) -> None:
        if self.mode == "simplex":
            self.weight.copy_(project_simplex(self.weight.float()).to(self.weight.dtype))


def conv_weight(conv: nn.Conv2d) -> Tensor:
    """The kernel a convolution really applies (the effective weight of Parseval and AOL
    convs, which reparametrise theirs)."""
    weight = getattr(conv, "effective_weight", conv.weight)
    assert isinstance(weight, Tensor)
    return weight
