"""The typed result rows and their store: the one schema of what a run records. The classes
are defined in the private package `robusteye._results` (about 1,200 lines, one concept per
file) and are imported from here.

A run folder's `results.jsonl` holds one JSON row per finished task: `CellRow` (a grid cell),
`TransferRow` (a fold's transferability matrices) and `TrialRow` (a search trial on one
fold). Scoring builds their parts (`Curve`, `AuditSummary`, `CertificateSummary`,
`CorruptionScores`), `ResultsStore.append` writes a row object, and reading gives row objects
back, so reports use attributes, never string keys.

- Every row is a frozen dataclass with `to_dict()` / `from_dict()`. `to_dict` gives the
  exact JSON a row has always had (same keys, same order, optional keys only when set), so
  a row read and written again is the same line, and rows of older runs still load.
- `Curve.kind` (`CurveKind`) says what a curve is: an attack, the audit's worst case, a
  certificate or a corruption. In the file the worst case and the certificate still sit in
  a cell's `attacks` under the names "worst case" and "certified"; reading gives their kind
  back from the name.
- `from_dict` checks types cheaply (strings, integers, numbers, lists, objects; null where
  the store writes NaN) and raises one `RobustEyeError` line naming the field by its path
  (`attacks[2].points[0].snr_db`); the store's reader adds the file and line number.
- Unknown keys are refused, not kept: a row this version cannot describe field by field
  cannot be written back identically or read with attributes, so the error names the key
  (a row from a newer robusteye) instead of dropping data silently. Free-form mappings (a
  curve's attack options, `model_options`, `regime`, search `params`, audit settings) are
  kept as they are.
"""

from __future__ import annotations

from robusteye._results.bounds import (
    AuditPointSummary,
    AuditSummary,
    CertificatePoint,
    CertificateSummary,
)
from robusteye._results.corruption import CorruptionPoint, CorruptionScores, PerCorruption
from robusteye._results.curves import (
    Accuracy,
    Curve,
    CurveKind,
    CurvePoint,
    Roc,
    Scores,
    read_metrics,
)
from robusteye._results.rows import CellRow, TransferRow, TransferScores
from robusteye._results.selection import RankingEntry, Selection, Winner
from robusteye._results.store import (
    MAX_RESULTS_BYTES,
    ROW_KINDS,
    ResultsStore,
    Row,
    read_rows,
    row_from_dict,
)
from robusteye._results.trial import TrialMetrics, TrialRow

__all__ = [
    "MAX_RESULTS_BYTES",
    "ROW_KINDS",
    "Accuracy",
    "AuditPointSummary",
    "AuditSummary",
    "CellRow",
    "CertificatePoint",
    "CertificateSummary",
    "CorruptionPoint",
    "CorruptionScores",
    "Curve",
    "CurveKind",
    "CurvePoint",
    "PerCorruption",
    "RankingEntry",
    "ResultsStore",
    "Roc",
    "Row",
    "Scores",
    "Selection",
    "TransferRow",
    "TransferScores",
    "TrialMetrics",
    "TrialRow",
    "Winner",
    "read_metrics",
    "read_rows",
    "row_from_dict",
]
