"""Transferability: adversarial examples crafted on model A, evaluated on model B."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks import run_attack
from robusteye.evaluate.predict import predict_logits


@dataclass(frozen=True)
class TransferMatrix:
    """`accuracy[i][j]`: examples crafted on model i, evaluated on model j (diagonal: white-box)."""

    names: tuple[str, ...]
    attack: str
    eps: float
    clean_accuracy: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "attack": self.attack,
            "eps": self.eps,
            "clean_accuracy": list(self.clean_accuracy),
            "accuracy": [list(r) for r in self.accuracy],
        }


def transfer_matrix(
    models: Mapping[str, nn.Module],
    x: Tensor,
    y: Tensor,
    attack: str,
    eps: float,
    *,
    seed: int = 0,
    **options: Any,
) -> TransferMatrix:
    """Craft once on each source model and score every model on those examples."""
    names = tuple(models)

    def accuracy(model: nn.Module, inputs: Tensor) -> float:
        return float((predict_logits(model, inputs).argmax(1) == y).float().mean())

    rows = []
    for source in names:
        g = torch.Generator().manual_seed(seed)
        x_adv = run_attack(attack, models[source], x, y, eps, generator=g, **options).cpu()
        rows.append(tuple(accuracy(models[target], x_adv) for target in names))
    clean = tuple(accuracy(models[n], x) for n in names)
    return TransferMatrix(names, attack, float(eps), clean, tuple(rows))
