"""`ModelConfig`: the frozen, validated description of one model (architecture and parameters).

A config is built once at the edge (registry, checkpoint loader) and checked on construction;
every problem is a one-line `UsageError` naming the field and what it allows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from robusteye.data.dataset import STUDY_CLASSES  # one definition, shared with the data stage
from robusteye.errors import UsageError

_PARSEVAL_DEFAULTS: dict[str, Any] = {
    "beta": 3e-4,  # the study used 1e-3; the paper's range is 1e-4..1e-3
    "passes": 1,
    "row_fraction": 1.0,
    "constrain_classifier": False,  # the paper leaves the classifier unconstrained
}
#: `head_grid`: the last map is average-pooled to a grid x grid map and flattened into the
#: classifier; 1 is the global average pooling of the WRN paper, 8 keeps a 32 x 32 input's
#: whole 8 x 8 map (where the eye's dark parts lie), as the `cnn` family's head does
_WRN_DEFAULTS: dict[str, Any] = {
    "depth": 16,
    "width": 1,
    "dropout": 0.0,
    "activation": "relu",
    "head_grid": 1,
}

#: Every architecture family and its parameters with their defaults.
ARCH_DEFAULTS: dict[str, dict[str, Any]] = {
    "wrn": dict(_WRN_DEFAULTS),  # a copy: the Parseval family builds on the private base
    "parseval_wrn": _WRN_DEFAULTS | {"convex": "simplex"} | _PARSEVAL_DEFAULTS,
    "cnn": {"hidden": 256, "dropout": 0.5},
    "parseval_cnn": {"hidden": 256, "dropout": 0.5} | _PARSEVAL_DEFAULTS,
    "lipschitz_cnn": {"width": 16, "convs": 1, "hidden": 128, "center": False},
}

CONVEX_MODES = ("simplex", "sigmoid")
#: The WRN families' activations and an upper bound of each one's Lipschitz constant (the
#: maximum slope): SiLU's `x sigmoid(x)` peaks at 1.0998 near x = 2.40 (smooth activations
#: help adversarial training, Xie et al. 2020, https://arxiv.org/abs/2006.14536).
ACTIVATIONS: dict[str, float] = {"relu": 1.0, "silu": 1.1}
#: Upper bounds of the size fields. A checkpoint's config.json comes from strangers and sets
#: the size of the model built before its weights are read, so every size is bounded: the
#: largest model these allow (WRN-100-32 is refused by MAX_PARAMETERS, see checkpoint.py)
#: is far beyond anything a 32 x 32 eye crop needs (WRN-28-10 has 36.5 M parameters).
MAX_SIZE = {
    "depth": 100,
    "width": 32,
    "hidden": 16384,
    "passes": 64,
    "convs": 16,
}
#: the WRN head's pooled grids: the divisors of the last map's 8 x 8
HEAD_GRIDS = (1, 2, 4, 8)
MAX_MODEL_CLASSES = 1000
MAX_IN_CHANNELS = 4
MAX_NAME = 200  # characters of a model or class name
#: Normalisation bounds: images are in [0, 1], so a mean outside [-10, 10] or a std outside
#: [1e-3, 10] is a broken config (mean 3e38 / std 1e-30 made every logit infinite).
MEAN_RANGE = (-10.0, 10.0)
STD_RANGE = (1e-3, 10.0)
_CONFIG_FIELDS = ("name", "arch", "num_classes", "classes", "in_channels", "mean", "std", "params")


def default_classes(num_classes: int) -> tuple[str, ...]:
    """The study's classes for 4 outputs, `class_0..class_{n-1}` otherwise."""
    if num_classes == len(STUDY_CLASSES):
        return STUDY_CLASSES
    return tuple(f"class_{i}" for i in range(num_classes))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_param(arch: str, key: str, value: Any) -> None:
    """Raise `UsageError` when `value` is outside what parameter `key` allows."""
    where = f"model '{arch}': parameter '{key}'"
    if key in MAX_SIZE and _is_int(value) and value > MAX_SIZE[key]:
        raise UsageError(f"{where} must be at most {MAX_SIZE[key]}, got {value!r}")
    if key == "depth":
        if not _is_int(value) or value < 10 or (value - 4) % 6:
            raise UsageError(
                f"{where} must be an int >= 10 with (depth - 4) % 6 == 0, got {value!r}"
            )
    elif key == "head_grid":
        if not _is_int(value) or value not in HEAD_GRIDS:
            raise UsageError(
                f"{where} must be one of {list(HEAD_GRIDS)} (it divides the 8 x 8 last map of "
                f"a 32 x 32 crop into disjoint windows), got {value!r}"
            )
    elif key in ("width", "passes", "hidden", "convs"):
        if not _is_int(value) or value < 1:
            raise UsageError(f"{where} must be an int >= 1, got {value!r}")
    elif key == "dropout":
        if not _is_real(value) or not 0.0 <= value < 1.0:
            raise UsageError(f"{where} must lie in [0, 1), got {value!r}")
    elif key == "beta":
        # The retraction sigma <- (1+b) sigma - b sigma^3 overshoots and diverges for large b.
        if not _is_real(value) or not 0.0 < value <= 0.5:
            raise UsageError(f"{where} must lie in (0, 0.5] (larger diverges), got {value!r}")
    elif key == "row_fraction":
        if not _is_real(value) or not 0.0 < value <= 1.0:
            raise UsageError(f"{where} must lie in (0, 1], got {value!r}")
    elif key == "activation":
        if value not in ACTIVATIONS:
            raise UsageError(f"{where} must be one of {list(ACTIVATIONS)}, got {value!r}")
    elif key == "convex":
        if value not in CONVEX_MODES:
            raise UsageError(f"{where} must be one of {list(CONVEX_MODES)}, got {value!r}")
    elif key in ("constrain_classifier", "center") and not isinstance(value, bool):
        raise UsageError(f"{where} must be true or false, got {value!r}")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture family, its parameters, the label set and the input normalization.

    `name` is the registry entry that built the model (informational); `arch` selects the
    builder. `params` is always complete: defaults are filled in on construction.
    """

    name: str
    arch: str
    num_classes: int = 4
    classes: tuple[str, ...] = ()
    in_channels: int = 1
    mean: float = 0.5
    std: float = 0.25
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCH_DEFAULTS:
            raise UsageError(
                f"unknown architecture {self.arch!r} (known: {', '.join(sorted(ARCH_DEFAULTS))})"
            )
        if not _is_int(self.num_classes) or not 2 <= self.num_classes <= MAX_MODEL_CLASSES:
            raise UsageError(
                f"num_classes must be an int in 2..{MAX_MODEL_CLASSES}, got {self.num_classes!r}"
            )
        if not isinstance(self.name, str) or len(self.name) > MAX_NAME:
            raise UsageError(f"name must be a string of at most {MAX_NAME} characters")
        classes = tuple(self.classes) if self.classes else default_classes(self.num_classes)
        if len(classes) != self.num_classes or not all(isinstance(c, str) for c in classes):
            raise UsageError(
                f"classes must be {self.num_classes} names (num_classes), got {list(classes)}"
            )
        if len(set(classes)) != len(classes):
            raise UsageError(f"class names repeat: {list(classes)}")
        if any(len(c) > MAX_NAME for c in classes):
            raise UsageError(f"class names must be at most {MAX_NAME} characters")
        if not _is_int(self.in_channels) or not 1 <= self.in_channels <= MAX_IN_CHANNELS:
            raise UsageError(
                f"in_channels must be an int in 1..{MAX_IN_CHANNELS}, got {self.in_channels!r}"
            )
        lo, hi = MEAN_RANGE
        if not _is_real(self.mean) or not lo <= self.mean <= hi:
            raise UsageError(f"mean must be a finite number in [{lo:g}, {hi:g}], got {self.mean!r}")
        lo, hi = STD_RANGE
        if not _is_real(self.std) or self.std <= 0:
            raise UsageError(f"std must be a finite number > 0, got {self.std!r}")
        if not lo <= self.std <= hi:
            raise UsageError(f"std must lie in [{lo:g}, {hi:g}], got {self.std!r}")
        defaults = ARCH_DEFAULTS[self.arch]
        unknown = sorted(set(self.params) - set(defaults))
        if unknown:
            raise UsageError(
                f"model '{self.arch}': unknown parameter(s) {unknown} "
                f"(known: {', '.join(sorted(defaults))})"
            )
        params = {**defaults, **self.params}
        for key, value in params.items():
            _check_param(self.arch, key, value)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "mean", float(self.mean))
        object.__setattr__(self, "std", float(self.std))
        object.__setattr__(self, "params", MappingProxyType(params))

    def __deepcopy__(self, memo: dict[int, Any]) -> ModelConfig:
        return self  # immutable: copies of a model may share it

    def __reduce__(self) -> tuple[Any, ...]:
        # MappingProxyType does not pickle; rebuild from the plain dict (used by deepcopy of
        # models in other libraries and by multiprocessing).
        return (ModelConfig.from_dict, (self.to_dict(),))

    @property
    def parseval(self) -> bool:
        """True for the Parseval families (constrained layers, convex merges)."""
        return self.arch.startswith("parseval_")

    def with_classes(self, classes: tuple[str, ...]) -> ModelConfig:
        """A copy with other class names (same count)."""
        return replace(self, classes=tuple(classes), params=dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict that `from_dict` turns back into an equal config."""
        return {
            "name": self.name,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "in_channels": self.in_channels,
            "mean": self.mean,
            "std": self.std,
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Build and validate a config from `to_dict` output; `UsageError` on any problem."""
        if not isinstance(data, Mapping):
            raise UsageError(f"model config must be a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_CONFIG_FIELDS))
        missing = [k for k in ("name", "arch") if k not in data]
        if unknown or missing:
            raise UsageError(f"model config: unknown fields {unknown}, missing fields {missing}")
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise UsageError("model config: 'params' must be a JSON object")
        classes = data.get("classes", ())
        if not isinstance(classes, (list, tuple)):
            raise UsageError("model config: 'classes' must be a list of names")
        return cls(
            name=str(data["name"]),
            arch=data["arch"],
            num_classes=data.get("num_classes", 4),
            classes=tuple(classes),
            in_channels=data.get("in_channels", 1),
            mean=data.get("mean", 0.5),
            std=data.get("std", 0.25),
            params=dict(params),
        )
