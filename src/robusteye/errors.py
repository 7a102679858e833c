"""Errors a user can cause. The CLI prints their message as one line and exits with `exit_code`."""

from __future__ import annotations

import errno
import os


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


def path_error(err: OSError) -> UsageError | None:
    """The one-line usage error for an `OSError` that only the path itself causes (a name or
    a path longer than the file system allows: `ENAMETOOLONG`), else None.

    Any `os` call on such a path raises it, `Path.exists` included, so each verb's first touch
    of the path fails before it writes anything; the command line maps it here once instead
    of every path check catching it."""
    if err.errno != errno.ENAMETOOLONG:
        return None
    path = os.fsdecode(err.filename) if err.filename is not None else ""
    longest = max((len(part) for part in path.split(os.sep)), default=0)
    short = path if len(path) <= 60 else f"{path[:28]}...{path[-28:]}"
    return UsageError(
        f"file name too long: {short} ({len(path):,} characters, the longest name in it "
        f"{longest:,}; the file system refuses it)"
    )
