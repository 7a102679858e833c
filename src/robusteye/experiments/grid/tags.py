"""The names a cell gets from its parameters: the regime's tag and label (from the regime
registry) and the suffix of its training settings, for cell ids (folder names) and legends.
Kept apart from `cells` so that the spec can check every cell id without expanding cells."""

from __future__ import annotations

from typing import Any

from robusteye.train.config import RegimeConfig, TrainConfig

_DEFAULT = TrainConfig()


def regime_tag(r: RegimeConfig) -> str:
    """A short stable name of a regime grid point, used in cell ids (`Regime.tag`)."""
    return r.definition.tag(r)


def regime_label(r: RegimeConfig) -> str:
    """A human name of a regime grid point, for tables and legends (`Regime.label`)."""
    return r.definition.label(r)


def training_tag(training: dict[str, Any]) -> str:
    """The id suffix of a regime's training settings ('' without any):
    '+nat-all-p0.5-s3' for corruption training, '+ema0.999', '+ls0.1'."""
    out = ""
    names = training.get("corruptions")
    if names:
        what = _corruptions_name(names)
        p = training.get("corruption_p", _DEFAULT.corruption_p)
        severity = training.get("corruption_max_severity", _DEFAULT.corruption_max_severity)
        out += f"+nat-{what}-p{p:g}-s{severity}"
    if training.get("ema_decay"):
        out += f"+ema{training['ema_decay']:g}"
    if training.get("label_smoothing"):
        out += f"+ls{training['label_smoothing']:g}"
    return out


def training_label(training: dict[str, Any]) -> str:
    """' + corruptions (all, 50% of each batch, severity <= 3)', ' + EMA 0.999', or ''."""
    out = ""
    names = training.get("corruptions")
    if names:
        p = training.get("corruption_p", _DEFAULT.corruption_p)
        severity = training.get("corruption_max_severity", _DEFAULT.corruption_max_severity)
        what = _corruptions_name(names).replace("_", " ").replace("-", ", ")
        out += f" + corruptions ({what}, {p:.0%} of each batch, severity <= {severity})"
    if training.get("ema_decay"):
        out += f" + EMA {training['ema_decay']:g}"
    if training.get("label_smoothing"):
        out += f" + label smoothing {training['label_smoothing']:g}"
    return out


def _corruptions_name(names: str | list[str] | tuple[str, ...]) -> str:
    from robusteye.corruptions import corruption_names, parse_corruptions

    chosen = parse_corruptions(names)
    return "all" if set(chosen) == set(corruption_names()) else "-".join(chosen)
