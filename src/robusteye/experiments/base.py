"""What every spec is made of: the strict base model, the fields grid experiments, searches
and training specs share (name, data, the hold-out persons, the training settings), the
entries they name (models, evaluation attacks, the audit, certificates, corruptions) and the
one YAML reader that turns every mistake into one `UsageError` line naming the file and the field.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

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
from robusteye.norms import Norm
from robusteye.readers import parse_yaml, read_text
from robusteye.train.config import RegimeConfig, TrainConfig


def _known_attack(name: str) -> str:
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r} (known: {', '.join(ATTACKS)})")
    return name


#: An attack named in a spec: one of `robusteye.attacks.ATTACKS`.
AttackName = Annotated[str, AfterValidator(_known_attack)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(Strict):
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

    @field_validator("key")
    @classmethod
    def _safe_key(cls, v: str | None) -> str | None:
        from robusteye.folders import check_name

        return None if v is None else check_name(v, "key")  # it names cell folders

    @model_validator(mode="after")
    def _options(self) -> ModelEntry:
        from robusteye.models.registry import check_model_options

        try:  # fail at load time, not in the middle of a grid
            check_model_options(self.name, self.options)
        except UsageError as err:
            raise ValueError(str(err)) from None
        return self

    @property
    def id(self) -> str:
        return self.key or self.name

    def check_regime(self, regime: RegimeConfig) -> None:
        """Refuse, at load time, a regime this model cannot take (a `ValueError` for pydantic)."""
        from robusteye.models.registry import create_model
        from robusteye.train.regimes import check_regime_model

        with torch.device("meta"):
            model = create_model(self.name, 2, **self.options)
        try:
            check_regime_model(regime, model)
        except UsageError as err:
            raise ValueError(str(err)) from None


def model_entry(v: Any) -> Any:
    """A bare model name as a `ModelEntry` mapping (for `mode="before"` validators)."""
    return {"name": v} if isinstance(v, str) else v


class BaseSpec(Strict):
    """The fields every spec has. `train` holds TrainConfig fields (the regime as a
    mapping) except `TRAIN_OWNED`, which the spec's runner sets itself."""

    #: TrainConfig fields a spec's `train` may not set, and why (appended to the error)
    TRAIN_OWNED: ClassVar[tuple[str, ...]] = ("seed", "device", "val_fraction", "tensorboard")
    TRAIN_OWNED_WHY: ClassVar[str] = ""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    data: str = "synthetic"
    #: fraction of persons held out first (0: none)
    holdout: float = Field(default=0.0, ge=0.0, lt=1.0)
    split_seed: int = 0
    train: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        from robusteye.folders import check_name

        return check_name(v, "name")  # the default run folder is runs/<name>

    @field_validator("train")
    @classmethod
    def _train(cls, v: dict[str, Any]) -> dict[str, Any]:
        owned = sorted(set(v) & set(cls.TRAIN_OWNED))
        if owned:
            raise ValueError(f"{', '.join(owned)} cannot be set here{cls.TRAIN_OWNED_WHY}")
        try:
            TrainConfig.from_dict(v)
        except (UsageError, TypeError) as err:
            raise ValueError(str(err)) from None
        return v

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class AttackEval(Strict):
    """An evaluation attack at eps values or at the eps reaching each SNR (dB)."""

    name: AttackName
    eps: list[float] | None = None
    snr: list[float] | None = None
    limit: int | None = Field(default=None, ge=1)
    steps: int | None = Field(default=None, ge=1)
    norm: Norm | None = None

    @model_validator(mode="after")
    def _one_axis(self) -> AttackEval:
        check_eps_or_snr(self.eps, self.snr)
        try:
            ATTACKS[self.name].check_options(self.options)
        except UsageError as err:
            raise ValueError(str(err)) from None
        return self

    @property
    def options(self) -> dict[str, Any]:
        return {k: v for k, v in (("steps", self.steps), ("norm", self.norm)) if v is not None}


class AuditEval(Strict):
    """The attack audit (`robusteye.evaluate.audit`): the worst case over FGSM, PGD, noise,
    APGD-CE, APGD-T and Square, with the indicators of attack failure."""

    eps: list[float] | None = None
    snr: list[float] | None = None
    norm: Norm = "linf"
    suite: Literal["standard", "quick"] = "standard"
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_axis(self) -> AuditEval:
        if self.norm == "l2" and self.eps is not None:  # an L2 radius may exceed 1
            check_eps_or_snr([min(e, 1.0) for e in self.eps], None)
            if any(e < 0 for e in self.eps):
                raise ValueError(f"eps values must be >= 0, got {self.eps}")
        else:
            check_eps_or_snr(self.eps, self.snr)
        return self


class CertifyEval(Strict):
    """Certified L2 accuracy from a sound Lipschitz bound (`robusteye.evaluate.certify`), at
    each `radius` or at each `snr` in dB (per image the radius ||x|| 10^(-SNR/20))."""

    radius: list[float] | None = None
    snr: list[float] | None = None
    limit: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_axis(self) -> CertifyEval:
        if (self.radius is None) == (self.snr is None):
            raise ValueError("give radius or snr values (one of them)")
        for name, values in (("radius", self.radius), ("snr", self.snr)):
            if values is not None and (not values or not all(math.isfinite(v) for v in values)):
                raise ValueError(f"{name} must be a non-empty list of finite numbers")
        if self.radius is not None and any(r < 0 for r in self.radius):
            raise ValueError(f"radius values must be >= 0, got {self.radius}")
        return self


class CorruptionEval(Strict):
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


def check_eps_or_snr(eps: list[float] | None, snr: list[float] | None) -> None:
    if (eps is None) == (snr is None):
        raise ValueError("give either eps or snr values")
    values = eps if eps is not None else snr
    if not values:
        raise ValueError("the eps or snr list is empty")
    if eps is not None and any(not 0 <= e <= 1 for e in eps):
        raise ValueError(f"eps values must lie in [0, 1], got {eps}")
    if snr is not None and any(not math.isfinite(s) or s > SNR_MAX_DB for s in snr):
        raise ValueError(f"SNR values must be finite and at most {SNR_MAX_DB:g} dB, got {snr}")


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
