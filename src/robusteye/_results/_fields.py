"""Reading one JSON object of a result row with cheap type checks: every mismatch is one
`RobustEyeError` line naming the field by its path in the row (`attacks[2].points[0].eps`).

Values are kept as JSON gave them (an int stays an int), so a row read and written again is
the same text.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from robusteye.errors import RobustEyeError


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Fields:
    """A JSON object being read as one typed value; `done()` refuses keys nobody read."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, dict):
            what = f"field {where!r}" if where else "a row"
            raise RobustEyeError(f"{what} must be a JSON object, got {_show(data)}")
        self.data: dict[str, Any] = data
        self.where = where
        self._seen: set[str] = set()

    def name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def fail(self, key: str, what: str, value: Any) -> NoReturn:
        raise RobustEyeError(f"field {self.name(key)!r} must be {what}, got {_show(value)}")

    def has(self, key: str) -> bool:
        return key in self.data

    def raw(self, key: str) -> Any:
        self._seen.add(key)
        if key not in self.data:
            raise RobustEyeError(f"missing field {self.name(key)!r}")
        return self.data[key]

    def text(self, key: str) -> str:
        v = self.raw(key)
        if not isinstance(v, str):
            self.fail(key, "a string", v)
        return v

    def integer(self, key: str) -> int:
        v = self.raw(key)
        if not isinstance(v, int) or isinstance(v, bool):
            self.fail(key, "an integer", v)
        return v

    def flag(self, key: str) -> bool:
        v = self.raw(key)
        if not isinstance(v, bool):
            self.fail(key, "true or false", v)
        return v

    def number(self, key: str) -> float:
        v = self.raw(key)
        if not _is_number(v):
            self.fail(key, "a number", v)
        return v  # type: ignore[no-any-return]

    def number_or_none(self, key: str) -> float | None:
        """A number, or null (how the store writes NaN and infinities)."""
        v = self.raw(key)
        if v is not None and not _is_number(v):
            self.fail(key, "a number or null", v)
        return v  # type: ignore[no-any-return]

    def number_nan(self, key: str) -> float:
        """A number where null stands for NaN (written so by the store): NaN again on reading."""
        v = self.number_or_none(key)
        return math.nan if v is None else v

    def mapping(self, key: str) -> dict[str, Any]:
        """A free-form JSON object (options, settings), kept as it is."""
        v = self.raw(key)
        if not isinstance(v, dict):
            self.fail(key, "a JSON object", v)
        return v

    def array(self, key: str) -> list[Any]:
        v = self.raw(key)
        if not isinstance(v, list):
            self.fail(key, "a list", v)
        return v

    def texts(self, key: str) -> tuple[str, ...]:
        values = self.array(key)
        if not all(isinstance(s, str) for s in values):
            self.fail(key, "a list of strings", values)
        return tuple(values)

    def numbers(self, key: str, *, null: bool = False) -> tuple[Any, ...]:
        values = self.array(key)
        if not all(_is_number(v) or (null and v is None) for v in values):
            self.fail(key, "a list of numbers" + (" or nulls" if null else ""), values)
        return tuple(values)

    def obj(self, key: str) -> Fields:
        return Fields(self.raw(key), self.name(key))

    def objs(self, key: str) -> list[Fields]:
        return [Fields(v, f"{self.name(key)}[{i}]") for i, v in enumerate(self.array(key))]

    def unknown(self, key: str) -> NoReturn:
        raise RobustEyeError(
            f"unknown field {self.name(key)!r} (written by another robusteye version?)"
        )

    def done(self) -> None:
        """Refuse keys this version does not know (`robusteye.results` says why)."""
        for key in self.data:
            if key not in self._seen:
                self.unknown(key)
