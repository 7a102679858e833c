"""The results store: append-only JSON lines, one row per finished cell.

Each row is written with a single `write` of the whole line followed by `fsync`, so a kill
leaves either the complete row or a truncated last line; reading drops such a last line (and
the next append cuts it off first), while damage anywhere else is an error.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from robusteye.errors import RobustEyeError


class ResultsStore:
    """`results.jsonl` in a run folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._end: int | None = None  # bytes of complete rows, once read

    def rows(self) -> list[dict[str, Any]]:
        """Every complete row, in the order written."""
        rows, self._end = self._read()
        return rows

    def append(self, row: dict[str, Any]) -> None:
        line = (json.dumps(_finite(row), allow_nan=False, separators=(",", ":")) + "\n").encode()
        good_bytes = self._end if self._end is not None else self._read()[1]
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.ftruncate(fd, good_bytes)  # drop a torn last line before appending
                os.lseek(fd, good_bytes, os.SEEK_SET)
                written = os.write(fd, line)
                if written != len(line):
                    os.ftruncate(fd, good_bytes)
                    raise OSError(28, "short write (disk full?)")
                os.fsync(fd)
                self._end = good_bytes + written
            finally:
                os.close(fd)
        except OSError as err:
            raise RobustEyeError(f"cannot write {self.path}: {err.strerror or err}") from None

    def _read(self) -> tuple[list[dict[str, Any]], int]:
        """(rows, length in bytes of the complete part of the file)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return [], 0
        except OSError as err:
            raise RobustEyeError(f"cannot read {self.path}: {err.strerror}") from None
        rows: list[dict[str, Any]] = []
        offset = 0
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, start=1):
            last = number == len(lines)
            if not raw.strip():
                offset += len(raw) + (0 if last else 1)
                continue
            try:
                row = json.loads(raw)
                if not isinstance(row, dict) or "id" not in row:
                    raise ValueError("not a result row")
            except ValueError:
                if last or (number == len(lines) - 1 and not lines[-1]):
                    break  # a torn final line: the writer was killed mid-write
                raise RobustEyeError(
                    f"{self.path}: line {number} is not a result row; the file is damaged"
                ) from None
            if last:  # complete JSON but no newline: still torn (the newline comes last)
                break
            rows.append(row)
            offset += len(raw) + 1
        return rows, offset


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
