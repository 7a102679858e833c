"""Experiments: declarative specs expanded into a person-grouped k-fold grid of cells, run
in-process, in local worker processes or on Ray, with resumable JSON-lines results."""

from robusteye.experiments.cells import Cell, expand_cells
from robusteye.experiments.runner import RunResult, make_folds, run_experiment
from robusteye.experiments.spec import ExperimentSpec, load_spec
from robusteye.experiments.store import ResultsStore

__all__ = [
    "Cell",
    "ExperimentSpec",
    "ResultsStore",
    "RunResult",
    "expand_cells",
    "load_spec",
    "make_folds",
    "run_experiment",
]
