"""Run folders: one robusteye run per folder at a time, and paths from a run kept inside it.

Every verb that writes into a run folder (`train`, `experiment`, `select`, `report`) holds
an exclusive OS lock on it (`flock` on `FOLDER/.robusteye.lock`) for as long as it writes, so a
second run on the same folder stops at once with one line instead of interleaving rows. The
lock dies with its process, `kill -9` included, so resuming never needs a cleanup. Within one
process the lock is re-entrant (`experiment` writes its report while it holds it).

Paths that a run folder's own files name (a result row's `checkpoint`) come from a file a
stranger may have edited: `inside` resolves them and refuses any that leave the folder.

Paths robusteye writes inside a run are built from names a spec gives (model keys, regime
tags, cell ids): `check_name` accepts only a safe single path component where the spec is
read, and `inside_run` is the one check every run-folder writer makes before writing: the
path must lie lexically inside the run, and no component of it inside the run may be a
symbolic link (a linked `figures/`, `cells/<id>` or `winner/` would lead the write out).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from robusteye.errors import DataError, RobustEyeError, UsageError
from robusteye.io import file_mode

try:  # POSIX; elsewhere runs are not locked (documented in the README)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".robusteye.lock"
#: A name that becomes one path component: letters, digits and `._-+`, not starting with `.`.
_SAFE_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9._+-]*")
#: Longest model key a spec may give (cell ids add the regime and fold to it).
MAX_KEY = 100
#: Longest name of one path component most file systems allow.
MAX_COMPONENT = 255
_HELD: dict[str, int] = {}  # real path of a locked folder -> nesting depth in this process


class FolderBusy(UsageError):
    """Another process holds the folder's lock."""


@contextmanager
def locked(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the exclusive lock of `folder` (created if missing) until the block ends.

    Creating the lock file is also the check that the folder is writable, made before any
    work starts (a read-only `--out` fails here, not after the first epoch).
    """
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"{path} exists and is not a folder") from None
    except OSError as err:
        raise RobustEyeError(f"cannot create {path}: {err.strerror or err}") from None
    key = os.path.realpath(path)
    if key in _HELD:
        _HELD[key] += 1
        try:
            yield path
        finally:
            _HELD[key] -= 1
        return
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, file_mode())
    except OSError as err:
        raise RobustEyeError(f"cannot write to {path}: {err.strerror or err}") from None
    try:
        _acquire(fd, path)
        _HELD[key] = 1
        try:
            yield path
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(fd: int, path: Path) -> None:
    if fcntl is None:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        raise FolderBusy(
            f"{path} is in use by another robusteye process (pid {holder}); "
            "wait for it to finish or choose another --out"
        ) from None
    except OSError as err:  # a file system without locks: say so rather than run unlocked
        raise RobustEyeError(f"cannot lock {path / LOCK_NAME}: {err.strerror or err}") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as err:
        raise RobustEyeError(f"cannot write to {path}: {err.strerror or err}") from None


def contents(folder: Path) -> list[str]:
    """Names in `folder` other than the lock file (sorted; [] for a missing folder)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != LOCK_NAME)


@contextmanager
def claimed(
    folder: str | os.PathLike[str], is_ours: Callable[[Path], bool], *, refuse: str = ""
) -> Iterator[Path]:
    """Lock `folder` for a run: it must be missing, empty, or hold a run `is_ours` accepts.

    `refuse` (if given) is the message for a folder holding a run of ours that may not be
    continued (a finished training run without --resume).
    """
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {path} exists and is not a folder")
    _check_claim(path, is_ours, refuse)  # before the lock file: a refused folder gets nothing
    with locked(path):
        _check_claim(path, is_ours, refuse)  # again under the lock: the folder may have changed
        yield path


def _check_claim(path: Path, is_ours: Callable[[Path], bool], refuse: str) -> None:
    if not contents(path):
        return
    if not is_ours(path):
        raise UsageError(f"{path} is not empty and holds no robusteye run; choose another --out")
    if refuse:
        raise UsageError(refuse)


def inside(root: Path, relative: object, what: str = "path") -> Path:
    """`root / relative` if it stays inside `root` (symlinks resolved); else `DataError`.

    For paths read from a run folder's own files, which a stranger may have edited: an
    absolute path, `..` or a symlink that leads out of the folder is refused.
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise DataError(f"{root}: {what} {relative!r} is not a relative path")
    candidate = root / relative
    base = root.resolve()
    try:
        target = candidate.resolve()
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise DataError(f"{root}: {what} {relative!r} cannot be resolved ({err})") from None
    if Path(relative).is_absolute() or not target.is_relative_to(base) or target == base:
        raise DataError(f"{root}: {what} {relative!r} leads outside the run folder; refused")
    return candidate


def check_name(value: str, what: str = "name", limit: int = MAX_KEY) -> str:
    """`value` if it is a safe single path component (letters, digits, `._-+`, not starting
    with `.`, at most `limit` characters); else `UsageError` (a `ValueError`, so a pydantic
    validator turns it into one line naming the spec field)."""
    if not isinstance(value, str) or not _SAFE_NAME.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a safe {what}: use letters, digits and . _ - + "
            "(not starting with .; no / or \\)"
        )
    if len(value) > limit:
        raise UsageError(f"the {what} {value[:40]!r}... is longer than {limit} characters")
    return value


def inside_run(run: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """`path` if it may be written inside the run folder `run`; else `UsageError`, before
    anything is written.

    `path` must be `run` joined with relative parts (no absolute part, no `..`), and no part
    of it below `run` may be a symbolic link: every writer into a run folder (checkpoints,
    cells, figures, model cards, the winner) calls this first, so a link planted in the run
    never leads a write out of it. `run` itself may be a link (it is the user's `--out`).
    """
    root, target = Path(run), Path(path)
    try:
        parts = target.relative_to(root).parts
    except ValueError:
        parts = ("..",)
    if not parts or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"{target} lies outside the run folder {root}; refusing to write it")
    try:
        base = root.resolve()
    except (OSError, RuntimeError) as err:
        raise UsageError(f"cannot resolve the run folder {root}: {err}") from None
    current = base
    for i, part in enumerate(parts):
        current = current / part
        if current.is_symlink():
            where = Path(root, *parts[: i + 1])
            raise UsageError(
                f"{where} is a symbolic link; robusteye writes only inside the run folder "
                f"{root}; remove the link or choose another run folder"
            )
        if not current.exists():
            break  # the rest is created by the writer, inside a real folder
    if not current.resolve().is_relative_to(base):  # belt and braces: a race or a mount
        raise UsageError(f"{target} leads outside the run folder {root}; refusing to write it")
    return target
