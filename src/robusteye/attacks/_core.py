"""What every attack shares: input checks, a side-effect-free attack mode, the input gradient,
automatic chunking and the projection onto the eps ball and [0, 1].

Tensor contract for all attacks: `x` float N x C x H x W in [0, 1] on the model's device,
`y` int64 N; the result is a new detached tensor of the same shape, dtype and device.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robusteye.errors import UsageError
from robusteye.norms import check_norm
from robusteye.tensors import check_images, model_device

__all__ = [
    "Eps",
    "attack_mode",
    "check_images",
    "check_labels",
    "chunk_size",
    "chunked",
    "draw",
    "eps_tensor",
    "loss_gradient",
    "model_device",
    "per_example",
    "prepare",
    "project",
    "step_direction",
]

Eps = float | Tensor  # one eps for the batch, or one per example (shape N)

#: Chunk sizes measured fastest for a gradient attack (benchmarks/bench_attacks.py): on CPU,
#: chunks of 32-128 beat one batch of 256 by 24-29% (cache-sized activations); a GPU wants
#: large batches.
_DEFAULT_CHUNK = {"cpu": 64, "cuda": 1024, "mps": 256}


def check_labels(x: Tensor, y: Tensor | None) -> Tensor:
    if y is None:
        raise UsageError("labels are required (attacks never use the model's predictions)")
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.shape != x.shape[:1]:
        raise UsageError(f"labels must be an int64 tensor of shape ({x.shape[0]},)")
    return y.to(x.device)


def eps_tensor(eps: Eps, x: Tensor, name: str = "eps") -> Tensor:
    """eps as an N x 1 x 1 x 1 tensor on x's device; negative or non-finite values refused."""
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if e.ndim == 0:
        e = e.expand(x.shape[0])
    if e.shape != x.shape[:1]:
        raise UsageError(f"{name} must be a number or one value per example ({x.shape[0]})")
    if not bool(torch.isfinite(e).all()) or bool((e < 0).any()):
        raise UsageError(f"{name} must be finite and >= 0, got {float(e.min()):.4g}")
    return e.view(-1, *([1] * (x.ndim - 1)))


@contextmanager
def attack_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode and frozen parameters for the duration; both restored afterwards.

    Freezing parameters is what makes the backward pass input-only: conv and linear backward
    then skip their weight gradients (peer libraries compute them, costing 20-45%), and no
    `.grad` is ever written into the model.
    """
    was_training = model.training
    frozen = [p for p in model.parameters() if p.requires_grad]
    model.eval()
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)
        model.train(was_training)


def loss_gradient(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """d CE(model(x), y) / dx, summed over the batch (so each row is its own example's grad).

    Computed on the model's device and returned on `x`'s (the audit keeps its images on the
    CPU while the model may sit on a GPU)."""
    device = model_device(model)
    with torch.enable_grad():
        xd = x.detach().to(device).requires_grad_(True)
        loss = F.cross_entropy(model(xd), y.to(device), reduction="sum")
        (grad,) = torch.autograd.grad(loss, xd)
    return grad.to(x.device)


def chunk_size(device: torch.device) -> int:
    """The chunk size for gradient attacks on `device` (ROBUSTEYE_ATTACK_CHUNK overrides)."""
    override = os.environ.get("ROBUSTEYE_ATTACK_CHUNK")
    if override:
        return max(1, int(override))
    return _DEFAULT_CHUNK.get(device.type, 256)


def chunked(fn: Callable[..., Tensor], *tensors: Tensor, size: int | None = None) -> Tensor:
    """Apply `fn` to matching chunks of `tensors` along the batch and concatenate the results."""
    n = tensors[0].shape[0]
    size = size or chunk_size(tensors[0].device)
    if n <= size:
        return fn(*tensors)
    return torch.cat([fn(*(t[i : i + size] for t in tensors)) for i in range(0, n, size)])


def draw(
    shape: torch.Size | tuple[int, ...],
    like: Tensor,
    generator: torch.Generator | None,
    *,
    normal: bool = False,
) -> Tensor:
    """U(0, 1) (or N(0, 1)) drawn on the generator's device (CPU by default), then moved to
    `like`'s device, so a seed gives the same numbers whatever device the model is on."""
    dev = generator.device if generator is not None else torch.device("cpu")
    sample = torch.randn if normal else torch.rand
    return sample(shape, generator=generator, device=dev, dtype=like.dtype).to(like.device)


def per_example(values: Tensor, like: Tensor) -> Tensor:
    """A length-N tensor (one value per example) shaped to broadcast against `like`."""
    return values.view(-1, *([1] * (like.ndim - 1)))


def step_direction(grad: Tensor, norm: str) -> Tensor:
    """The steepest-ascent direction for a gradient: its sign (L-inf) or its unit vector per
    example (L2)."""
    if norm == "linf":
        return grad.sign()
    return grad / per_example(grad.flatten(1).norm(dim=1).clamp_min(1e-12), grad)


def project(x_adv: Tensor, x: Tensor, eps: Tensor, norm: str) -> Tensor:
    """Project `x_adv` onto the eps ball around `x` (in `norm`), then onto [0, 1]."""
    delta = x_adv - x
    if norm == "linf":
        delta = torch.maximum(torch.minimum(delta, eps), -eps)
    elif norm == "l2":
        flat = delta.flatten(1).norm(dim=1).view(-1, *([1] * (x.ndim - 1)))
        delta = delta * torch.clamp(eps / flat.clamp_min(1e-12), max=1.0)
    else:
        check_norm(norm)
    return (x + delta).clamp_(0.0, 1.0)


def prepare(
    model: nn.Module, x: Tensor, y: Tensor | None, eps: Eps
) -> tuple[Tensor, Tensor, Tensor]:
    """Check inputs and move them to the model's device; returns (x, y, eps as N x 1 x 1 x 1)."""
    check_images(x)
    device = model_device(model)
    x = x.detach().to(device)
    y = check_labels(x, y)
    return x, y, eps_tensor(eps, x)
