"""Transferability: adversarial examples crafted on model A, evaluated on model B."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from robusteye.attacks import eps_for_snr, run_attack, snr_db
from robusteye.errors import UsageError
from robusteye.evaluate.predict import predict_logits


@dataclass(frozen=True)
class TransferMatrix:
    """`accuracy[i][j]`: examples crafted on model i, evaluated on model j (diagonal: white-box).

    `eps[i]` and `snr_db[i]` describe the perturbation crafted on model i (one eps for all rows,
    or the eps that gives the requested SNR on each source model).
    """

    names: tuple[str, ...]
    attack: str
    eps: tuple[float, ...]
    snr_db: tuple[float, ...]
    clean_accuracy: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]
    target_snr_db: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "attack": self.attack,
            "eps": list(self.eps),
            "snr_db": [s if math.isfinite(s) else None for s in self.snr_db],
            "target_snr_db": self.target_snr_db,
            "clean_accuracy": list(self.clean_accuracy),
            "accuracy": [list(r) for r in self.accuracy],
        }


def transfer_matrix(
    models: Mapping[str, nn.Module],
    x: Tensor,
    y: Tensor,
    attack: str,
    eps: float | None = None,
    *,
    snr: float | None = None,
    seed: int = 0,
    **options: Any,
) -> TransferMatrix:
    """Craft once on each source model (at `eps`, or at the eps reaching `snr` dB on it) and
    score every model on those examples."""
    if (eps is None) == (snr is None):
        raise UsageError("give either eps or snr, not both")
    names = tuple(models)

    def accuracy(model: nn.Module, inputs: Tensor) -> float:
        return float((predict_logits(model, inputs).argmax(1) == y).float().mean())

    rows, used_eps, used_snr = [], [], []
    for source in names:
        e = eps if eps is not None else _eps_at(models[source], x, y, attack, snr, seed)
        g = torch.Generator().manual_seed(seed)
        x_adv = run_attack(attack, models[source], x, y, e, generator=g, **options).cpu()
        rows.append(tuple(accuracy(models[target], x_adv) for target in names))
        used_eps.append(float(e))
        used_snr.append(snr_db(x, x_adv))
    clean = tuple(accuracy(models[n], x) for n in names)
    return TransferMatrix(names, attack, tuple(used_eps), tuple(used_snr), clean, tuple(rows), snr)


def _eps_at(
    model: nn.Module, x: Tensor, y: Tensor, attack: str, snr: float | None, seed: int
) -> float:
    assert snr is not None
    return eps_for_snr(model, x, y, snr, attack=attack, seed=seed)
