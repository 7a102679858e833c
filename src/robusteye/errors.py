"""Errors a user can cause. The CLI prints their message as one line and exits with `exit_code`."""

from __future__ import annotations


class RobustEyeError(Exception):
    """Base class of every error robusteye raises on purpose (runtime errors, exit code 1).

    The message is always one line: whitespace runs (newlines in quoted bytes or in another
    library's error text) collapse to single spaces.
    """

    exit_code = 1

    def __init__(self, message: object = "") -> None:
        super().__init__(" ".join(str(message).split()))


class UsageError(RobustEyeError, ValueError):
    """The caller asked for something impossible: a missing path, a bad option value (exit 2)."""

    exit_code = 2


class DataError(RobustEyeError, ValueError):
    """Input data is malformed: corrupt file, wrong shape, NaN, unknown label (exit 1)."""


class UnsafeFileError(DataError):
    """A file tried to make us run or import something we do not allow (malicious pickle)."""


class CheckpointError(RobustEyeError, ValueError):
    """A checkpoint folder is missing, corrupt, or does not match its config (exit 1)."""
