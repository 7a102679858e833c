"""Model-selection specs: a search space over models, model options, training settings and
regime parameters, an objective, and the strategy (full grid or random search with a budget,
either with successive halving of hopeless trials).

Space keys:

- `model`: model names, or `{name, options, key}` entries (options only that model takes);
- `model.<option>`: an architecture option for every model (depth, width, dropout, beta...);
- `regime.<field>`: a regime field (kind, fraction, eps_max, perturbation, percent...);
- any training setting: lr, momentum, batch_size, weight_decay, epochs, schedule, ...

A value is a list (the axis' choices) or, for random search only, a distribution:
`{uniform: [a, b]}`, `{log_uniform: [a, b]}` or `{int_uniform: [a, b]}` (both ends included).
Every trial is built and checked when the spec is read, so a bad point fails before any
training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from robusteye.attacks.registry import ATTACKS
from robusteye.experiments.base import (
    AttackEval,
    AttackName,
    BaseSpec,
    ModelEntry,
    Strict,
    model_entry,
    parse_spec,
)
from robusteye.experiments.selection.space import Search
from robusteye.experiments.trainspec import TrainEvaluation, TrainSpec

#: Most trials a search may ask for (the study's is 32); each is built and checked on load.
MAX_TRIALS = 10_000


class Objective(Strict):
    """What selection maximises, as a mean over the folds.

    `clean`: accuracy on the fold's validation persons; `robust`: accuracy under `attack` at
    one `eps` or `snr`; `weighted`: (1 - weight) * clean + weight * robust.
    """

    metric: Literal["clean", "robust", "weighted"] = "clean"
    attack: AttackName | None = None
    eps: float | None = Field(default=None, ge=0.0, le=1.0)
    snr: float | None = None
    steps: int | None = Field(default=None, ge=1)
    weight: float = Field(default=0.5, ge=0.0, le=1.0)
    #: at most this many validation images are attacked per fold
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _attack(self) -> Objective:
        if self.metric != "clean" and self.attack is None:
            raise ValueError(f"the {self.metric} objective needs an attack ({', '.join(ATTACKS)})")
        if self.attack is not None:
            self.attack_eval()  # one eps or snr, checked like an evaluation attack
        elif self.eps is not None or self.snr is not None or self.steps is not None:
            raise ValueError("eps, snr and steps belong to an attack; name one")
        return self

    def attack_eval(self) -> AttackEval | None:
        if self.attack is None:
            return None
        try:
            return AttackEval(
                name=self.attack,
                eps=None if self.eps is None else [self.eps],
                snr=None if self.snr is None else [self.snr],
                steps=self.steps,
                limit=self.limit,
            )
        except ValidationError as err:
            raise ValueError(err.errors()[0]["msg"].removeprefix("Value error, ")) from None

    def describe(self) -> str:
        if self.attack is None:
            return "clean accuracy"
        at = f"eps {self.eps:g}" if self.eps is not None else f"{self.snr:g} dB"
        robust = f"{self.attack.upper()} accuracy at {at}"
        if self.metric == "robust":
            return robust
        if self.metric == "weighted":
            return f"{1 - self.weight:g} x clean + {self.weight:g} x {robust}"
        return f"clean accuracy (also reported: {robust})"

    def value(self, clean: float, robust: float | None) -> float:
        if self.metric == "clean":
            return clean
        assert robust is not None
        if self.metric == "robust":
            return robust
        return (1.0 - self.weight) * clean + self.weight * robust


class SelectEvaluation(TrainEvaluation):
    """Extra attacks on the hold-out persons for the retrained winner."""


class SelectSpec(BaseSpec):
    """A search: trials over a space, scored by person-grouped k-fold on the persons left
    after the hold-out, which only the retrained winner sees."""

    TRAIN_OWNED_WHY = " (seed is the spec's own)"

    #: persons held out first, never seen during the search, scored once with the winner
    holdout: float = Field(default=0.1, gt=0.0, lt=1.0)
    folds: int = Field(default=5, ge=2, le=100)
    #: the training seed of every trial (and of the winner's retrain)
    seed: int = 0
    model: ModelEntry = Field(default_factory=lambda: ModelEntry(name="wrn_16_1"))
    search: Search
    objective: Objective = Field(default_factory=Objective)
    evaluation: SelectEvaluation = Field(default_factory=SelectEvaluation)

    @field_validator("model", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        return model_entry(v)

    _trials: list[Trial] = PrivateAttr(default_factory=list)

    @model_validator(mode="after")
    def _build_trials(self) -> SelectSpec:
        # every trial must be a valid model and training configuration; built once, after
        # counting them: a space of 1e8 combinations is refused before any is built
        n = self.search.size() if self.search.strategy == "grid" else self.search.trials or 0
        if n > MAX_TRIALS:
            raise ValueError(f"the search has {n:,} trials (at most {MAX_TRIALS:,})")
        points = self.search.points()
        self._trials = [self._trial(i, p) for i, p in enumerate(points)]
        return self

    def trials(self) -> list[Trial]:
        """Every trial of the search, in a stable order (ids t000, t001, ...)."""
        return list(self._trials)

    def rungs(self, trial: Trial) -> list[int]:
        epochs = trial.train_spec.train_config().epochs
        return [epochs] if self.search.halving is None else self.search.halving.rungs(epochs)

    def _trial(self, index: int, params: dict[str, Any]) -> Trial:
        model = self.model
        options: dict[str, Any] = {}
        train = {k: v for k, v in self.train.items() if k != "regime"}
        regime = dict(self.train.get("regime") or {})
        for key, value in params.items():
            if key == "model":
                model = ModelEntry.model_validate(
                    {"name": value} if isinstance(value, str) else value
                )
            elif key.startswith("model."):
                options[key.removeprefix("model.")] = value
            elif key.startswith("regime."):
                regime[key.removeprefix("regime.")] = value
            else:
                train[key] = value
        tid = f"t{index:03d}"
        shown = {k: _show(v) for k, v in params.items()}
        try:
            entry = ModelEntry(name=model.name, options={**model.options, **options})
            spec = TrainSpec(
                name=f"{self.name}.{tid}",
                data=self.data,
                holdout=self.holdout,
                split_seed=self.split_seed,
                seed=self.seed,
                model=entry,
                train={**train, "regime": regime} if regime else train,
                evaluation=TrainEvaluation(
                    attacks=[a for a in (self.objective.attack_eval(),) if a is not None]
                    + list(self.evaluation.attacks),
                    limit=self.evaluation.limit,
                ),
            )
        except ValueError as err:
            where = ", ".join(f"{k}={v}" for k, v in shown.items())
            message = err.errors()[0]["msg"] if isinstance(err, ValidationError) else str(err)
            raise ValueError(
                f"trial {tid} ({where}): {message.removeprefix('Value error, ')}"
            ) from None
        return Trial(tid, index, shown, spec)


@dataclass(frozen=True)
class Trial:
    """One point of the search: its id, its parameters (as shown) and its training spec."""

    id: str
    index: int
    params: dict[str, Any]
    train_spec: TrainSpec


def load_select_spec(
    source: str | os.PathLike[str] | dict[str, Any], *, data: str | None = None
) -> SelectSpec:
    """Read and validate a model-selection spec; `data` overrides its data source."""
    return parse_spec(SelectSpec, source, data=data)


def _show(value: Any) -> Any:
    """A model entry by its key or name; anything else as it is."""
    if isinstance(value, dict) and "name" in value:
        return value.get("key") or value["name"]
    return value
