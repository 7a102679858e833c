"""Experiment reports: cross-fold summaries, figures, one HTML page and model cards.

`summarize(rows)` is pure (the runner writes summary.json with it); `write_report(run_dir)`
reads a run folder and writes `figures/*.png`, `report.html` and a README.md model card into
every checkpoint folder; `plot_corruption_benchmark` draws one corruption benchmark.
"""

from __future__ import annotations

from robusteye.report.build import write_report
from robusteye.report.corruption_plot import plot_corruption_benchmark
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
    "plot_corruption_benchmark",
    "read_results",
    "summarize",
    "write_report",
]
