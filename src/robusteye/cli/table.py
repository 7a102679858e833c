"""Text output of the command line: `echo`, aligned tables, and comma-separated lists.

Everything the verbs print goes through `echo` (one line: every control character escaped)
or `echo_block` (a table or JSON: its line breaks and tabs kept), so a class or file name
cannot move the cursor, retitle the terminal or forge a line (`robusteye.text`). In a block,
names are escaped where it is built: `format_table` does it for every cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import click

from robusteye.errors import UsageError
from robusteye.text import printable, printable_text


def echo(line: object = "", *, err: bool = False) -> None:
    """Print one line (on stderr with `err`): every control character in it is escaped,
    line breaks and tabs included."""
    click.echo(printable(line), err=err)


def echo_block(text: object, *, err: bool = False) -> None:
    """Print a block of lines (a table, JSON): control characters are escaped but for its
    line breaks and tabs; the names inside went through `printable` (`format_table` does
    that for its cells). JSON passes unchanged: it holds no control characters."""
    click.echo(printable_text(text), err=err)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Right-aligned columns; floats with 4 digits, None as '-'."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.4g}"
        return printable(v)

    text = [[cell(v) for v in row] for row in rows]
    headers = [printable(h) for h in headers]
    widths = [
        max(len(h), *(len(r[i]) for r in text)) if text else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in text]
    return "\n".join(lines)


def split_list(text: str, name: str) -> list[str]:
    """'a, b,c' -> ['a', 'b', 'c']: the items of a comma-separated option, stripped. An empty
    list or an empty item ('0.01,,0.02', a trailing comma) is a one-line UsageError, never
    dropped or read as "not given"."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise UsageError(f"{name} expects a comma-separated list, got {text!r}")
    if not all(items):
        raise UsageError(f"{name} has an empty item in {text!r}")
    return items


def parse_floats(text: str, name: str) -> list[float]:
    """'0.001,0.003' -> [0.001, 0.003]; a bad list raises a one-line UsageError."""
    items = split_list(text, name)
    try:
        values = [float(v) for v in items]
    except ValueError:
        raise UsageError(f"{name} expects numbers separated by commas, got {text!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{name} expects finite numbers separated by commas, got {text!r}")
    return values


def plus_minus(stat: dict[str, Any]) -> str:
    """A {mean, std} summary as "0.123 ± 0.045" ("-" when undefined)."""
    if stat.get("mean") is None:
        return "-"
    return f"{stat['mean']:.3f} ± {stat['std']:.3f}"
