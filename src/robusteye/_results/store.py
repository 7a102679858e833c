"""The results store of a run folder: append-only JSON lines, one typed row per finished
task (a grid cell, a fold's transfer matrices, a search trial), written by experiments and
read by reports.

Each row is written with a single `write` of the whole line followed by `fsync`, so a kill
leaves either the complete row or a truncated last line; reading drops such a last line (and
the next append cuts it off first), while damage anywhere else is an error.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from robusteye._results.rows import CellRow, TransferRow
from robusteye._results.trial import TrialRow
from robusteye.errors import RobustEyeError
from robusteye.io import dumps_json
from robusteye.readers import parse_json, read_bytes

Row = CellRow | TransferRow | TrialRow
ROW_KINDS: dict[str, type[CellRow] | type[TransferRow] | type[TrialRow]] = {
    k.KIND: k for k in (CellRow, TransferRow, TrialRow)
}

#: Largest results file read (a full aim-1 grid of 820 cells writes about 50 MB).
MAX_RESULTS_BYTES = 1 << 30


class ResultsStore:
    """`results.jsonl` in a run folder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._end: int | None = None  # bytes of complete rows, once read

    def rows(self) -> list[Row]:
        """Every complete row, in the order written."""
        rows, self._end = self._read()
        return rows

    def append(self, row: Row) -> None:
        line = (dumps_json(row.to_dict(), separators=(",", ":")) + "\n").encode()
        good_bytes = self._end if self._end is not None else self._read()[1]
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o666)  # umask applies
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

    def _read(self) -> tuple[list[Row], int]:
        """(rows, length in bytes of the complete part of the file)."""
        return read_rows(self.path)


def read_rows(path: Path, *, unterminated: bool = False) -> tuple[list[Row], int]:
    """The rows of a results file and the length in bytes of its complete lines.

    A row is written as one line with its newline last, so only the end of the file can be
    torn (a writer killed mid-write): a final line without a newline is dropped, unless
    `unterminated` is set and it still parses as a row (the report reads such files). Every
    newline-terminated line must be a row: anything else means the file was damaged (two
    writers at once, an edit), which is an error, never a silently shorter store.
    """
    try:
        data = read_bytes(path, limit=MAX_RESULTS_BYTES, error=RobustEyeError)
    except RobustEyeError:
        if not path.exists():
            return [], 0
        raise
    *complete, tail = data.split(b"\n")
    rows: list[Row] = []
    for number, raw in enumerate(complete, start=1):
        if raw.strip():
            rows.append(_row(raw, path, number))
    end = len(data) - len(tail)
    if unterminated and tail.strip():
        with contextlib.suppress(RobustEyeError):  # else torn: the writer was killed mid-line
            rows.append(_row(tail, path, len(complete) + 1))
    return rows, end


def row_from_dict(data: Any) -> Row:
    """The typed row of a JSON object, by its `kind`; a `RobustEyeError` naming the field
    that is missing or of the wrong type."""
    if not isinstance(data, dict):
        raise RobustEyeError("not a JSON object")
    if "id" not in data:
        raise RobustEyeError("no id")
    kind = data.get("kind")
    if kind not in ROW_KINDS:
        raise RobustEyeError(f"unknown row kind {kind!r} (known: {', '.join(ROW_KINDS)})")
    return ROW_KINDS[kind].from_dict(data)


def _row(raw: bytes, path: Path, number: int) -> Row:
    failure = f"{path}: line {number} is not a result row"
    try:
        data = parse_json(raw, f"{failure}: not valid JSON", error=RobustEyeError)
    except RobustEyeError as err:
        raise RobustEyeError(f"{err}; the file is damaged") from None
    if not isinstance(data, dict):
        raise RobustEyeError(f"{failure} (not a JSON object); the file is damaged")
    if "id" not in data:
        raise RobustEyeError(f"{failure} (no id); the file is damaged")
    try:
        return row_from_dict(data)
    except RobustEyeError as err:
        raise RobustEyeError(f"{failure}: {err}") from None
