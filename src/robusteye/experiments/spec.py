"""Experiment specs: a YAML file read once, at the edge, into frozen validated models.

A spec names the data, the models, the regimes with their grids (every list-valued regime
field is a grid axis), the person-grouped folds, the training settings, the evaluation attacks
(eps or SNR lists), the transfer setting and the seeds. Unknown keys and bad values raise one
`UsageError` line naming the file and the field.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import torch
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from robusteye.attacks.registry import ATTACKS
from robusteye.attacks.snr import SNR_MAX_DB
from robusteye.errors import UsageError
from robusteye.models import list_models
from robusteye.readers import parse_yaml, read_text
from robusteye.train.config import RegimeConfig, TrainConfig

#: Most cells a spec may ask for (the study's full aim 1 is 820): a larger grid is a typo,
#: and would not run in a lifetime; counted before anything is expanded.
MAX_CELLS = 100_000


def _known_attack(name: str) -> str:
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r} (known: {', '.join(ATTACKS)})")
    return name


#: An attack named in a spec: one of `robusteye.attacks.ATTACKS`.
AttackName = Annotated[str, AfterValidator(_known_attack)]

#: TrainConfig fields the runner owns: seeds come from `seeds`, validation from the folds.
_RUNNER_OWNED = ("regime", "seed", "device", "val_fraction", "tensorboard")
#: Regime fields that may be grids (a list of values), per regime kind.
GRID_FIELDS = {
    "standard": (),
    "augment": ("perturbation", "eps", "percent"),
    "adversarial": ("fraction", "attack", "eps_min", "eps_max", "pgd_steps"),
}
_SCALAR_FIELDS = {"standard": (), "augment": ("source",), "adversarial": ("eps_choices",)}
#: Training fields any regime may add: training against natural corruptions as well.
NATURAL_FIELDS = ("corruptions", "corruption_p", "corruption_max_severity")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(_Strict):
    """A registered model name with overrides; `key` names it in cell ids (default: name)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    key: str | None = None

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in list_models():
            raise ValueError(f"unknown model {v!r} (known: {', '.join(list_models())})")
        return v

    @model_validator(mode="after")
    def _options(self) -> ModelEntry:
        owned = sorted({"num_classes", "classes"} & set(self.options))
        if owned:
            raise ValueError(f"options cannot set {', '.join(owned)} (they come from the data)")
        if self.options:  # fail at load time, not in the middle of a grid
            from robusteye.models.registry import create_model

            try:
                with torch.device("meta"):
                    create_model(self.name, 2, **self.options)
            except UsageError as err:
                raise ValueError(str(err)) from None
        return self

    @property
    def id(self) -> str:
        return self.key or self.name


class RegimeGrid(_Strict):
    """One regime kind; list-valued fields are grid axes. `models` restricts it to some keys."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["standard", "augment", "adversarial"]
    models: list[str] | None = None

    @model_validator(mode="after")
    def _fields(self) -> RegimeGrid:
        allowed = GRID_FIELDS[self.kind] + _SCALAR_FIELDS[self.kind] + NATURAL_FIELDS
        for key, value in (self.model_extra or {}).items():
            if key not in allowed:
                raise ValueError(
                    f"{key!r} is not an option of the {self.kind} regime "
                    f"(allowed: {', '.join(allowed)})"
                )
            is_grid = key in GRID_FIELDS[self.kind]
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
            TrainConfig(**self.natural())
        except (UsageError, TypeError) as err:
            raise ValueError(str(err)) from None
        return self

    def size(self) -> int:
        """The number of grid points, without building them."""
        return math.prod(
            len(v)
            for k, v in (self.model_extra or {}).items()
            if isinstance(v, list) and k in GRID_FIELDS[self.kind]
        )

    def natural(self) -> dict[str, Any]:
        """The natural-corruption training settings this regime adds ({} for none)."""
        return {k: v for k, v in (self.model_extra or {}).items() if k in NATURAL_FIELDS}

    def expand(self) -> list[RegimeConfig]:
        """Every grid point, in the spec's order (the last axis varies fastest)."""
        points: list[dict[str, Any]] = [{}]
        for key, value in (self.model_extra or {}).items():
            if key in NATURAL_FIELDS:
                continue
            values = value if isinstance(value, list) and key in GRID_FIELDS[self.kind] else [value]
            points = [{**p, key: v} for p in points for v in values]
        try:
            return [RegimeConfig(kind=self.kind, **p) for p in points]
        except UsageError as err:
            raise ValueError(str(err)) from None
        except TypeError as err:
            raise ValueError(str(err)) from None


class AttackEval(_Strict):
    """An evaluation attack at eps values or at the eps reaching each SNR (dB)."""

    name: AttackName
    eps: list[float] | None = None
    snr: list[float] | None = None
    limit: int | None = Field(default=None, ge=1)
    steps: int | None = Field(default=None, ge=1)
    norm: Literal["linf", "l2"] | None = None

    @model_validator(mode="after")
    def _one_axis(self) -> AttackEval:
        _eps_or_snr(self.eps, self.snr)
        try:
            ATTACKS[self.name].check_options(self.options)
        except UsageError as err:
            raise ValueError(str(err)) from None
        return self

    @property
    def options(self) -> dict[str, Any]:
        return {k: v for k, v in (("steps", self.steps), ("norm", self.norm)) if v is not None}


class TransferEval(_Strict):
    """Transferability between the variants of each fold, one matrix per eps or SNR."""

    attack: AttackName = "fgsm"
    eps: list[float] | None = None
    snr: list[float] | None = None
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_axis(self) -> TransferEval:
        _eps_or_snr(self.eps, self.snr)
        return self


class AuditEval(_Strict):
    """The attack audit (`robusteye.evaluate.audit`): the worst case over FGSM, PGD, noise,
    APGD-CE, APGD-T and Square, with the indicators of attack failure."""

    eps: list[float] | None = None
    snr: list[float] | None = None
    norm: Literal["linf", "l2"] = "linf"
    suite: Literal["standard", "quick"] = "standard"
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_axis(self) -> AuditEval:
        if self.norm == "l2" and self.eps is not None:  # an L2 radius may exceed 1
            _eps_or_snr([min(e, 1.0) for e in self.eps], None)
            if any(e < 0 for e in self.eps):
                raise ValueError(f"eps values must be >= 0, got {self.eps}")
        else:
            _eps_or_snr(self.eps, self.snr)
        return self


class CorruptionEval(_Strict):
    """Natural corruptions (robusteye.corruptions) at severities 1-5 on the attacked images."""

    names: str | list[str] = "all"
    severities: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], min_length=1)
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _known(self) -> CorruptionEval:
        from robusteye.corruptions import check_severity, parse_corruptions

        try:
            parse_corruptions(self.names)
            for s in self.severities:
                if check_severity(s) == 0:
                    raise UsageError("severities must lie in 1..5 (0 is the clean image)")
        except UsageError as err:
            raise ValueError(str(err)) from None
        return self

    def names_tuple(self) -> tuple[str, ...]:
        from robusteye.corruptions import parse_corruptions

        return parse_corruptions(self.names)


class Evaluation(_Strict):
    attacks: list[AttackEval] = Field(default_factory=list)
    #: natural corruptions, scored side by side with the attacks
    corruptions: CorruptionEval | None = None
    transfer: TransferEval | None = None
    #: the worst case over a suite of attacks, with indicators of attack failure
    audit: AuditEval | None = None
    #: at most this many evaluation images are attacked (clean metrics use all of them)
    limit: int | None = Field(default=None, ge=1)
    #: crops shown in the report's image grid
    examples: int = Field(default=6, ge=0, le=64)


class ExperimentSpec(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    data: str = "synthetic"
    folds: int = Field(default=10, ge=2, le=100)
    #: fraction of persons held out first; cells are then scored on them, not on their fold
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0)
    split_seed: int = 0
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    models: list[ModelEntry] = Field(min_length=1)
    train: dict[str, Any] = Field(default_factory=dict)
    regimes: list[RegimeGrid] = Field(min_length=1)
    evaluation: Evaluation = Field(default_factory=Evaluation)

    @field_validator("models", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return [{"name": m} if isinstance(m, str) else m for m in v] if isinstance(v, list) else v

    @field_validator("train")
    @classmethod
    def _train(cls, v: dict[str, Any]) -> dict[str, Any]:
        owned = sorted(set(v) & set(_RUNNER_OWNED))
        if owned:
            raise ValueError(f"{', '.join(owned)} cannot be set here (the runner sets them)")
        try:
            TrainConfig.from_dict(v)
        except UsageError as err:
            raise ValueError(str(err)) from None
        except TypeError as err:
            raise ValueError(str(err)) from None
        return v

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
        cells = self.count_cells()
        if cells > MAX_CELLS:
            raise ValueError(f"the spec has {cells:,} cells (at most {MAX_CELLS:,})")
        needs_source = any(
            r.needs_source and r.source is None for g in self.regimes for r in g.expand()
        )
        if needs_source and not any(g.kind == "standard" for g in self.regimes):
            raise ValueError(
                "an augment regime with fgsm needs a standard regime in the same spec "
                "(its model crafts the FGSM examples)"
            )
        return self

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
        """The training config of a cell; `overrides` are its regime's natural fields."""
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

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def _eps_or_snr(eps: list[float] | None, snr: list[float] | None) -> None:
    if (eps is None) == (snr is None):
        raise ValueError("give either eps or snr values")
    values = eps if eps is not None else snr
    if not values:
        raise ValueError("the eps or snr list is empty")
    if eps is not None and any(not 0 <= e <= 1 for e in eps):
        raise ValueError(f"eps values must lie in [0, 1], got {eps}")
    if snr is not None and any(not math.isfinite(s) or s > SNR_MAX_DB for s in snr):
        raise ValueError(f"SNR values must be finite and at most {SNR_MAX_DB:g} dB, got {snr}")


def load_spec(
    source: str | os.PathLike[str] | dict[str, Any], *, data: str | None = None
) -> ExperimentSpec:
    """Read and validate a spec from a YAML file or a dict; `data` overrides its data source."""
    return parse_spec(ExperimentSpec, source, data=data)


S = TypeVar("S", bound=BaseModel)
#: A spec is a page of YAML; a file this large is not one (and YAML costs ~1 KB per value).
MAX_SPEC_BYTES = 1 << 20


def parse_spec(
    kind: type[S], source: str | os.PathLike[str] | dict[str, Any], *, data: str | None = None
) -> S:
    """A YAML file (or dict) validated as `kind`; every mistake is one `UsageError` line
    naming the file and the field. A file's `name` defaults to its stem."""
    where = "spec"
    if isinstance(source, dict):
        raw: Any = dict(source)
    else:
        path = Path(source)
        where = str(path)
        if not path.exists():
            raise UsageError(f"no such spec file: {path}")
        text = read_text(path, limit=MAX_SPEC_BYTES, error=UsageError)
        raw = parse_yaml(text, f"{where}: not valid YAML", error=UsageError)
        if isinstance(raw, dict):
            raw.setdefault("name", path.stem)
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: a spec must be a mapping of keys to values")
    if data is not None:
        raw["data"] = data
    try:
        return kind.model_validate(raw)
    except ValidationError as err:
        raise UsageError(f"{where}: {_first_error(err)}") from None


def _first_error(err: ValidationError) -> str:
    e = err.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in e["loc"])
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{loc}: {msg}" if loc else msg
