"""Model registry: `@register_model` entry points, `create_model(name, ...)`, `list_models()`.

Entry points are 3-4 line functions in `wrn.py` and `cnn.py`, registered when
`robusteye.models` imports those modules explicitly. Each architecture family registers its
builder class with `@register_arch`, which `build_model` uses to rebuild a model from a
`ModelConfig` (for example when loading a checkpoint).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

from robusteye.errors import UsageError
from robusteye.models.base import EyeModel
from robusteye.models.config import ModelConfig

_MODELS: dict[str, Callable[..., EyeModel]] = {}
_ARCHS: dict[str, type[EyeModel]] = {}
_TOP_LEVEL = ("classes", "in_channels", "mean", "std")
#: model options the data decides (its classes and its image channels): never set by a user
DATA_OWNED_OPTIONS = ("num_classes", "classes", "in_channels")

F = TypeVar("F", bound=Callable[..., EyeModel])
M = TypeVar("M", bound=type[EyeModel])


def register_model(fn: F) -> F:
    """Register an entry point under its function name."""
    if fn.__name__ in _MODELS:
        raise RuntimeError(f"model {fn.__name__!r} registered twice")
    _MODELS[fn.__name__] = fn
    return fn


def register_arch(*archs: str) -> Callable[[M], M]:
    """Register a model class as the builder of the given architecture families."""

    def decorate(cls: M) -> M:
        for arch in archs:
            _ARCHS[arch] = cls
        return cls

    return decorate


def list_models() -> list[str]:
    """Names accepted by `create_model`, sorted."""
    return sorted(_MODELS)


def create_model(
    name: str, num_classes: int = 4, *, seed: int | None = None, **overrides: Any
) -> EyeModel:
    """Build the registered model `name` with `num_classes` outputs.

    `seed` makes the initial weights a function of the seed alone (drawn inside `fork_rng`, so
    the caller's global RNG is left as it was); without it they come from torch's global RNG.
    `overrides` may set `classes`, `in_channels`, `mean`, `std` and any architecture parameter
    (depth, width, dropout, beta, passes, row_fraction, convex, constrain_classifier, hidden).
    """
    if name not in _MODELS:
        raise UsageError(f"unknown model {name!r} (known: {', '.join(list_models())})")
    if seed is None:
        return _MODELS[name](num_classes, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _MODELS[name](num_classes, **overrides)


def check_model_options(name: str, options: dict[str, Any]) -> None:
    """Refuse, as a `UsageError`, options that `name` does not take or that come from the data
    (`DATA_OWNED_OPTIONS`): the model is built on the meta device, which costs nothing, so
    a run fails before it writes anything."""
    owned = sorted(set(DATA_OWNED_OPTIONS) & set(options))
    if owned:
        raise UsageError(f"options cannot set {', '.join(owned)} (they come from the data)")
    if options:
        with torch.device("meta"):
            create_model(name, 2, **options)


def model_config(
    name: str, arch: str, num_classes: int, overrides: dict[str, Any], **defaults: Any
) -> ModelConfig:
    """The config of entry point `name`: its `defaults` updated by the caller's `overrides`."""
    top = {k: overrides.pop(k) for k in _TOP_LEVEL if k in overrides}
    if "classes" in top and top["classes"] is not None:
        top["classes"] = tuple(top["classes"])
    return ModelConfig(
        name=name, arch=arch, num_classes=num_classes, params={**defaults, **overrides}, **top
    )


def build_model(config: ModelConfig) -> EyeModel:
    """A freshly initialised model for `config`."""
    if config.arch not in _ARCHS:
        raise UsageError(f"no builder for architecture {config.arch!r} (known: {sorted(_ARCHS)})")
    return _ARCHS[config.arch](config)
