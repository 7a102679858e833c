"""A spec expanded into cells: model x regime grid point x fold x seed.

Cell ids are built from the cell's own parameters (never from its position in the grid), so
they stay stable when a run is resumed and name the folder each cell writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robusteye.experiments.grid.spec import ExperimentSpec, ModelEntry
from robusteye.train.config import RegimeConfig, TrainConfig

_DEFAULT = TrainConfig()


@dataclass(frozen=True)
class Cell:
    id: str
    variant: str
    label: str
    model: ModelEntry
    regime: RegimeConfig
    fold: int
    seed: int
    #: the standard cell whose model crafts this cell's FGSM training examples (aim 1)
    source: str | None = None
    #: training settings of the cell's regime (TrainConfig fields: natural corruptions,
    #: weight averaging, label smoothing)
    training: tuple[tuple[str, Any], ...] = ()


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


def expand_cells(spec: ExperimentSpec) -> list[Cell]:
    """Every cell of the spec, seed-major then fold, model and regime grid point."""
    cells: list[Cell] = []
    for seed in spec.seeds:
        for fold in range(spec.folds):
            for entry in spec.models:
                for grid in spec.regimes:
                    if grid.models is not None and entry.id not in grid.models:
                        continue
                    for regime in grid.expand():
                        for training in grid.training():
                            cells.append(_cell(entry, regime, fold, seed, training))
    return cells


def _cell(
    entry: ModelEntry, regime: RegimeConfig, fold: int, seed: int, training: dict[str, Any]
) -> Cell:
    variant = f"{entry.id}.{regime_tag(regime)}{training_tag(training)}"
    suffix = f"f{fold}.s{seed}"
    source = None
    if regime.needs_source and regime.source is None:
        source = f"{entry.id}.standard.{suffix}"
    return Cell(
        id=f"{variant}.{suffix}",
        variant=variant,
        label=f"{entry.id} · {regime_label(regime)}{training_label(training)}",
        model=entry,
        regime=regime,
        fold=fold,
        seed=seed,
        source=source,
        training=tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in training.items()),
    )
