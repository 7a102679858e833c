"""Experiments: two wings over one shared core.

- `grid`: declarative specs expanded into a person-grouped k-fold grid of cells;
- `selection`: a cross-validated search, its ranking, and the winner retrained;
- the core both use: the spec building blocks (`base`), the single-model training spec
  (`trainspec`), scoring (`scoring`), the run folder (`rundir`), where tasks run
  (`backends`, with `RunOptions`) and the progress bar (`progress`). Results are JSON lines
  (`robusteye.results`).
"""

from robusteye.experiments.backends import RunOptions
from robusteye.experiments.grid import (
    Cell,
    ExperimentSpec,
    RunResult,
    expand_cells,
    load_spec,
    make_folds,
    run_experiment,
)
from robusteye.experiments.selection import (
    SelectResult,
    SelectSpec,
    load_select_spec,
    run_selection,
)
from robusteye.experiments.trainspec import TrainSpec, load_train_spec, train_from_spec
from robusteye.results import ResultsStore

__all__ = [
    "Cell",
    "ExperimentSpec",
    "ResultsStore",
    "RunOptions",
    "RunResult",
    "SelectResult",
    "SelectSpec",
    "TrainSpec",
    "expand_cells",
    "load_select_spec",
    "load_spec",
    "load_train_spec",
    "make_folds",
    "run_experiment",
    "run_selection",
    "train_from_spec",
]
