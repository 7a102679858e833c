"""Batched inference that leaves the model as it found it."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from robusteye.errors import RobustEyeError
from robusteye.tensors import model_device


def predict_logits(model: nn.Module, x: Tensor, *, batch_size: int = 512) -> Tensor:
    """Logits of `x` in eval mode under `torch.inference_mode`, on the CPU, mode restored."""
    was_training = model.training
    device = model_device(model)
    model.eval()
    try:
        with torch.inference_mode():
            parts = [
                model(x[i : i + batch_size].to(device)).float().cpu()
                for i in range(0, x.shape[0], batch_size)
            ]
    finally:
        model.train(was_training)
    if not parts:
        return torch.empty(0, 0)
    logits = torch.cat(parts)
    bad = int((~torch.isfinite(logits)).any(1).sum())
    if bad:  # every metric, probability and JSON document downstream would be NaN
        raise RobustEyeError(
            f"the model's outputs are not finite (NaN or Inf) on {bad} of {len(logits)} "
            "images: its weights or normalisation overflow"
        )
    return logits
