"""Aligned text tables for the command line."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from robusteye.errors import UsageError


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Right-aligned columns; floats with 4 digits, None as '-'."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
        return str(v)

    text = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(lines)


def parse_floats(text: str, name: str) -> list[float]:
    """'0.001,0.003' -> [0.001, 0.003]; a bad list raises a one-line UsageError."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"{name} expects numbers separated by commas, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise UsageError(f"{name} expects finite numbers separated by commas, got {text!r}")
    return values


def plus_minus(stat: dict[str, Any]) -> str:
    """A {mean, std} summary as "0.123 ± 0.045" ("-" when undefined)."""
    if stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"
