"""A search space: its keys (`model`, `model.<option>`, `regime.<field>`, training
settings), lists or distributions as values, the strategy that turns it into points (full
grid, or seeded random draws within a budget), and successive halving's rungs.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import fields
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from robusteye.experiments.base import Strict
from robusteye.experiments.trainspec import TrainSpec
from robusteye.train.config import RegimeConfig, TrainConfig

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform")
_TRAIN_KEYS = tuple(
    f.name for f in fields(TrainConfig) if f.name not in (*TrainSpec.TRAIN_OWNED, "regime")
)
_REGIME_KEYS = tuple(f.name for f in fields(RegimeConfig))


class Halving(Strict):
    """Successive halving: every trial trains `min_epochs`, the best 1/eta go on to eta times
    as many epochs, and so on; the last rung is the full `train.epochs`. A rung is kept only
    while eta times it still fits in the budget (5, 15, 50 for eta 3 and 50 epochs, not 45)."""

    eta: int = Field(default=3, ge=2)
    min_epochs: int = Field(default=1, ge=1)

    def rungs(self, epochs: int) -> list[int]:
        out, e = [], self.min_epochs
        while e * self.eta <= epochs:
            out.append(e)
            e *= self.eta
        return [*out, epochs]


class Search(Strict):
    strategy: Literal["grid", "random"] = "grid"
    #: random search: how many trials to draw
    trials: int | None = Field(default=None, ge=1)
    #: random search: the seed of the draws
    seed: int = 0
    space: dict[str, Any] = Field(min_length=1)
    halving: Halving | None = None

    def size(self) -> int:
        """Points of the space's grid (its lists' lengths multiplied), without building it."""
        return math.prod(len(v) if isinstance(v, list) else 1 for v in self.space.values())

    @field_validator("space")
    @classmethod
    def _keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        for key, value in v.items():
            _check_key(key)
            if isinstance(value, list) and not value:
                raise ValueError(f"{key}: the list of choices is empty")
            if isinstance(value, dict):
                _check_distribution(key, value)
        return v

    def points(self) -> list[dict[str, Any]]:
        """Every point of a grid, or the random search's draws (distinct, seeded)."""
        return _grid(self.space) if self.strategy == "grid" else self._draws()

    def _draws(self) -> list[dict[str, Any]]:
        budget = self.trials or 0
        space = self.space
        finite = all(not isinstance(v, dict) for v in space.values())
        size = self.size()
        if finite and budget > size:
            raise ValueError(
                f"search.trials: {budget} trials asked, but the space has only {size} points; "
                "use strategy grid"
            )
        rng = np.random.default_rng(self.seed)
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        while len(out) < budget:
            for _ in range(1000):
                point = {k: _draw(v, rng) for k, v in space.items()}
                key = repr(sorted((k, repr(v)) for k, v in point.items()))
                if key not in seen:
                    break
            else:
                raise ValueError("search.space: could not draw distinct trials; widen the space")
            seen.add(key)
            out.append(point)
        return out

    @model_validator(mode="after")
    def _strategy(self) -> Search:
        distributions = [k for k, v in self.space.items() if isinstance(v, dict)]
        if self.strategy == "grid":
            if distributions:
                raise ValueError(
                    f"{distributions[0]}: a grid takes lists; distributions need strategy random"
                )
            if self.trials is not None:
                raise ValueError("trials is the budget of a random search; a grid runs them all")
        elif self.trials is None:
            raise ValueError("a random search needs a budget: trials")
        if self.halving is not None and "epochs" in self.space:
            raise ValueError("successive halving sets the epochs; do not search them as well")
        return self


def _check_key(key: str) -> None:
    if key == "model" or key.startswith("model."):
        return
    if key.startswith("regime."):
        name = key.removeprefix("regime.")
        if name not in _REGIME_KEYS:
            raise ValueError(f"{key}: not a regime field (known: {', '.join(_REGIME_KEYS)})")
        return
    if key not in _TRAIN_KEYS:
        raise ValueError(
            f"{key}: not a searchable setting (model, model.<option>, regime.<field>, "
            f"or one of {', '.join(_TRAIN_KEYS)})"
        )


def _check_distribution(key: str, value: dict[str, Any]) -> None:
    if len(value) != 1 or next(iter(value)) not in DISTRIBUTIONS:
        raise ValueError(f"{key}: a distribution is one of {', '.join(DISTRIBUTIONS)}: [low, high]")
    kind, bounds = next(iter(value.items()))
    ok = (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
        and all(math.isfinite(b) for b in bounds)
        and bounds[0] <= bounds[1]
    )
    if not ok:
        raise ValueError(f"{key}: {kind} needs [low, high] with finite low <= high")
    if kind == "log_uniform" and bounds[0] <= 0:
        raise ValueError(f"{key}: log_uniform needs low > 0")
    if kind == "int_uniform" and not all(float(b).is_integer() for b in bounds):
        raise ValueError(f"{key}: int_uniform needs integer bounds")


def _grid(space: dict[str, Any]) -> list[dict[str, Any]]:
    axes = [(k, v if isinstance(v, list) else [v]) for k, v in space.items()]
    return [dict(zip([k for k, _ in axes], values, strict=True))
            for values in itertools.product(*(v for _, v in axes))]  # fmt: skip


def _draw(value: Any, rng: np.random.Generator) -> Any:
    if isinstance(value, list):
        return value[int(rng.integers(len(value)))]
    if not isinstance(value, dict):
        return value
    kind, (low, high) = next(iter(value.items()))
    if kind == "uniform":
        return float(_round(rng.uniform(low, high)))
    if kind == "log_uniform":
        return float(_round(math.exp(rng.uniform(math.log(low), math.log(high)))))
    return int(rng.integers(int(low), int(high) + 1))


def _round(x: float) -> float:
    """Four significant digits: readable trial parameters that survive YAML exactly."""
    return float(f"{x:.4g}")
