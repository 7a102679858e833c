"""Model selection: a search spec over models and training settings (`spec`), each trial
trained and scored on person-grouped folds (`trial`), ranked (`ranking`), and the search run
with successive halving, the winner retrained and scored on the hold-out (`run`)."""

from robusteye.experiments.selection.run import (
    SELECTION_FILE,
    WINNER_DIR,
    WINNER_SPEC,
    SelectResult,
    run_selection,
    selection_folds,
)
from robusteye.experiments.selection.spec import SelectSpec, Trial, load_select_spec

__all__ = ["SELECTION_FILE", "WINNER_DIR", "WINNER_SPEC", "SelectResult", "SelectSpec", "Trial",
           "load_select_spec", "run_selection", "selection_folds"]  # fmt: skip
