"""Experiment reports: cross-fold summaries, figures, one HTML page and model cards.

`summarize(rows)` is pure (the runner writes summary.json with it); `write_report(run_dir)`
reads a run folder and writes `figures/*.png`, `report.html` and a README.md model card into
every checkpoint folder.
"""

from __future__ import annotations

from robusteye.report.build import write_report
from robusteye.report.run import RunData, load_run, read_results
from robusteye.report.summary import (
    AttackSummary,
    PointSummary,
    Stat,
    VariantSummary,
    summarize,
)

__all__ = [
    "AttackSummary",
    "PointSummary",
    "RunData",
    "Stat",
    "VariantSummary",
    "load_run",
    "read_results",
    "summarize",
    "write_report",
]
