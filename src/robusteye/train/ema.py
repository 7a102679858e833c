"""An exponential moving average of a model's weights (Polyak averaging as robust training
uses it: Gowal et al. 2020, Rebuffi et al. 2021).

After every optimizer step each floating-point parameter and buffer (BatchNorm's running
statistics included) moves a share `1 - d` towards the model's, with `d = min(decay,
(1 + t) / (10 + t))` at step `t`, so the first steps are not dominated by the random
initial weights; integer buffers are copied. The averaged model is a full `EyeModel`: it is
validated, saved and loaded like any other.
"""

from __future__ import annotations

import copy

import torch

from robusteye.models import EyeModel


class WeightAverage:
    """The moving average of `model`'s weights; `update(model)` after each step."""

    def __init__(self, model: EyeModel, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"ema decay must lie in (0, 1), got {decay}")
        self.decay = decay
        self.steps = 0
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    def rate(self) -> float:
        """The decay of the next update (warmed up over the first steps)."""
        return min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))

    @torch.no_grad()
    def update(self, model: EyeModel) -> None:
        d = self.rate()
        source = model.state_dict()
        for name, avg in self.model.state_dict().items():
            new = source[name].detach()
            if avg.is_floating_point():
                avg.mul_(d).add_(new, alpha=1.0 - d)
            else:
                avg.copy_(new)
        self.steps += 1

    def tensors(self) -> dict[str, torch.Tensor]:
        """The averaged weights and the step count, for the trainer's resume state."""
        out = {
            f"ema.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()
        }
        out["ema_steps"] = torch.tensor(self.steps, dtype=torch.int64)
        return out

    def restore(self, tensors: dict[str, torch.Tensor]) -> None:
        """Take back what `tensors()` gave (KeyError when the state has no average)."""
        state = {k: tensors[f"ema.{k}"] for k in self.model.state_dict()}
        self.model.load_state_dict(state)
        self.steps = int(tensors["ema_steps"])
