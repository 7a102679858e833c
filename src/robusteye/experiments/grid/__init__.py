"""Grid experiments: a spec of models x regimes x folds x seeds (`spec`), expanded into cells
(`cells`), each trained and scored by a pure task (`tasks`), run and resumed by the runner
(`runner`), which also writes the report's image grid (`examples`)."""

from robusteye.experiments.grid.cells import Cell, expand_cells
from robusteye.experiments.grid.runner import RunResult, make_folds, run_experiment
from robusteye.experiments.grid.spec import ExperimentSpec, load_spec

__all__ = ["Cell", "ExperimentSpec", "RunResult", "expand_cells", "load_spec", "make_folds",
           "run_experiment"]  # fmt: skip
