"""Experiment specs: a YAML file read once, at the edge, into frozen validated models.

A spec names the data, the models, the regimes with their grids (every list-valued regime
field is a grid axis), the person-grouped folds, the training settings, the evaluation attacks
(eps or SNR lists), the transfer setting and the seeds. Unknown keys and bad values raise one
`UsageError` line naming the file and the field.
"""

from __future__ import annotations

import math
import os
from typing import Any

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from robusteye.errors import UsageError
from robusteye.experiments.base import (
    AttackEval,
    AttackName,
    AuditEval,
    BaseSpec,
    CertifyEval,
    CorruptionEval,
    ModelEntry,
    Strict,
    check_eps_or_snr,
    parse_spec,
)
from robusteye.train.config import RegimeConfig, TrainConfig
from robusteye.train.regimes import REGIMES, Regime

#: Most cells a spec may ask for (the study's full aim 1 is 820): a larger grid is a typo,
#: and would not run in a lifetime; counted before anything is expanded.
MAX_CELLS = 100_000


#: TrainConfig fields the runner owns: seeds come from `seeds`, validation from the folds.
_RUNNER_OWNED = ("regime", "seed", "device", "val_fraction", "tensorboard")
#: Training fields any regime may add: training against natural corruptions as well.
NATURAL_FIELDS = ("corruptions", "corruption_p", "corruption_max_severity")
#: Training fields any regime may set (TrainConfig fields); `ema_decay` may be a grid axis
#: (`ema_decay: [0, 0.999]`: each point with and without weight averaging).
TRAINING_FIELDS = (*NATURAL_FIELDS, "ema_decay", "label_smoothing")
_TRAINING_GRID = ("ema_decay",)


class RegimeGrid(Strict):
    """One regime kind (of `REGIMES`), with the keys the regime takes (`Regime.grid_keys`,
    `Regime.scalar_keys`) and `TRAINING_FIELDS`; list-valued grid keys are grid axes.
    `models` restricts it to some model keys."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str
    models: list[str] | None = None

    @field_validator("kind", mode="before")
    @classmethod
    def _registered(cls, v: Any) -> Any:
        if not isinstance(v, str) or v not in REGIMES:
            names = [repr(name) for name in REGIMES]
            expected = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
            raise PydanticCustomError("literal_error", "Input should be {expected}",
                                      {"expected": expected})  # fmt: skip
        return v

    @property
    def definition(self) -> Regime:
        return REGIMES[self.kind]

    @model_validator(mode="after")
    def _fields(self) -> RegimeGrid:
        allowed = self.definition.spec_keys + TRAINING_FIELDS
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                raise ValueError(
                    f"{key!r} is not an option of the {self.kind} regime "
                    f"(allowed: {', '.join(allowed)})"
                )
            is_grid = key in self._grid_fields()
            if isinstance(value, list) and is_grid and not value:
                raise ValueError(f"{key} must be a value or a non-empty list")
            if (
                isinstance(value, list)
                and not is_grid
                and key not in ("eps_choices", "corruptions")
            ):
                raise ValueError(f"{key} takes one value, not a list")
        if self.size() > MAX_CELLS:  # counted, not expanded: a grid of 1e8 points is refused
            raise ValueError(
                f"the {self.kind} regime's grid has {self.size():,} points (at most {MAX_CELLS:,})"
            )
        self.expand()  # every grid point must be a valid regime
        try:
            for training in self.training():
                TrainConfig(**training)
        except (UsageError, TypeError) as err:
            raise ValueError(str(err)) from None
        return self

    def _grid_fields(self) -> tuple[str, ...]:
        return self.definition.grid_keys + _TRAINING_GRID

    def size(self) -> int:
        """The number of grid points, without building them."""
        return math.prod(
            len(v)
            for k, v in (self.model_extra or {}).items()
            if isinstance(v, list) and k in self._grid_fields()
        )

    def training(self) -> list[dict[str, Any]]:
        """The training settings this regime adds, one dict per point of its training axes
        ([{}] for none)."""
        return _grid_points(
            {k: v for k, v in (self.model_extra or {}).items() if k in TRAINING_FIELDS},
            _TRAINING_GRID,
        )

    def expand(self) -> list[RegimeConfig]:
        """Every regime grid point, in the spec's order (the last axis varies fastest)."""
        points = _grid_points(
            {k: v for k, v in (self.model_extra or {}).items() if k not in TRAINING_FIELDS},
            self.definition.grid_keys,
        )
        try:
            return [RegimeConfig(kind=self.kind, **p) for p in points]
        except UsageError as err:
            raise ValueError(str(err)) from None
        except TypeError as err:
            raise ValueError(str(err)) from None


def _grid_points(fields: dict[str, Any], axes: tuple[str, ...]) -> list[dict[str, Any]]:
    """The product of the list-valued `axes` among `fields` (the others as they are)."""
    points: list[dict[str, Any]] = [{}]
    for key, value in fields.items():
        values = value if isinstance(value, list) and key in axes else [value]
        points = [{**p, key: v} for p in points for v in values]
    return points


class TransferEval(Strict):
    """Transferability between the variants of each fold, one matrix per eps or SNR."""

    attack: AttackName = "fgsm"
    eps: list[float] | None = None
    snr: list[float] | None = None
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_axis(self) -> TransferEval:
        check_eps_or_snr(self.eps, self.snr)
        return self


class Evaluation(Strict):
    attacks: list[AttackEval] = Field(default_factory=list)
    #: natural corruptions, scored side by side with the attacks
    corruptions: CorruptionEval | None = None
    transfer: TransferEval | None = None
    #: the worst case over a suite of attacks, with indicators of attack failure
    audit: AuditEval | None = None
    #: certified L2 accuracy from a sound Lipschitz bound, drawn beside the attacks
    certify: CertifyEval | None = None
    #: at most this many evaluation images are attacked (clean metrics use all of them)
    limit: int | None = Field(default=None, ge=1)
    #: crops shown in the report's image grid
    examples: int = Field(default=6, ge=0, le=64)


class ExperimentSpec(BaseSpec):
    """A grid: models x regime grid points x person-grouped folds x seeds. With a
    `holdout`, every cell is scored on the held-out persons instead of its fold's."""

    TRAIN_OWNED = _RUNNER_OWNED
    TRAIN_OWNED_WHY = " (the runner sets them)"

    folds: int = Field(default=10, ge=2, le=100)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    models: list[ModelEntry] = Field(min_length=1)
    regimes: list[RegimeGrid] = Field(min_length=1)
    evaluation: Evaluation = Field(default_factory=Evaluation)

    @field_validator("models", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return [{"name": m} if isinstance(m, str) else m for m in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        keys = [m.id for m in self.models]
        if len(set(keys)) != len(keys):
            raise ValueError("models repeat; give entries of the same name distinct `key`s")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {self.seeds}")
        for grid in self.regimes:
            unknown = sorted(set(grid.models or ()) - set(keys))
            if unknown:
                raise ValueError(f"regime {grid.kind} names unknown models: {', '.join(unknown)}")
            first = grid.expand()[0]  # a model takes every point of a grid or none
            for m in self.models:
                if grid.models is None or m.id in grid.models:
                    m.check_regime(first)
        cells = self.count_cells()
        if cells > MAX_CELLS:
            raise ValueError(f"the spec has {cells:,} cells (at most {MAX_CELLS:,})")
        self._check_cell_names()
        needs_source = any(
            r.needs_source and r.source is None for g in self.regimes for r in g.expand()
        )
        if needs_source and not any(g.kind == "standard" for g in self.regimes):
            raise ValueError(
                "an augment regime with fgsm needs a standard regime in the same spec "
                "(its model crafts the FGSM examples)"
            )
        return self

    def _check_cell_names(self) -> None:
        """Every cell id names a folder of the run: each must be one safe path component."""
        from robusteye.experiments.grid.tags import regime_tag, training_tag
        from robusteye.folders import MAX_COMPONENT, check_name

        last = f".f{self.folds - 1}.s{max(self.seeds, key=lambda s: len(str(s)))}"
        for grid in self.regimes:
            tags = {
                f"{regime_tag(r)}{training_tag(t)}" for r in grid.expand() for t in grid.training()
            }
            for m in self.models:
                if grid.models is None or m.id in grid.models:
                    for tag in tags:
                        check_name(f"{m.id}.{tag}{last}", "cell id", MAX_COMPONENT)

    def count_cells(self) -> int:
        """Models x regime grid points x folds x seeds, counted without expanding the grid."""
        per_fold = sum(
            grid.size() * sum(grid.models is None or m.id in grid.models for m in self.models)
            for grid in self.regimes
        )
        return per_fold * self.folds * len(self.seeds)

    def train_config(
        self, seed: int, regime: RegimeConfig, device: str = "cpu", **overrides: Any
    ) -> TrainConfig:
        """The training config of a cell; `overrides` are its regime's training fields."""
        return TrainConfig.from_dict(
            {
                **self.train,
                **overrides,
                "seed": seed,
                "regime": regime,
                "device": device,
                "val_fraction": 0.0,
            }
        )


def load_spec(
    source: str | os.PathLike[str] | dict[str, Any], *, data: str | None = None
) -> ExperimentSpec:
    """Read and validate a spec from a YAML file or a dict; `data` overrides its data source."""
    return parse_spec(ExperimentSpec, source, data=data)
