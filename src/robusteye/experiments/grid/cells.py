"""A spec expanded into cells: model x regime grid point x fold x seed.

Cell ids are built from the cell's own parameters (never from its position in the grid), so
they stay stable when a run is resumed and name the folder each cell writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from robusteye.experiments.grid.spec import ExperimentSpec, ModelEntry
from robusteye.experiments.grid.tags import regime_label, regime_tag, training_label, training_tag
from robusteye.train.config import RegimeConfig


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
