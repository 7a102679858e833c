"""Atomic file writing: a crash or a full disk never leaves a half-written output behind."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robusteye.errors import RobustEyeError, UsageError


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it portably; set straight back
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the current umask (0o644 under umask 022)."""
    return 0o666 & ~_umask()


def dir_mode() -> int:
    """The mode a new folder gets under the current umask (0o755 under umask 022)."""
    return 0o777 & ~_umask()


def check_target(path: Path) -> None:
    """Refuse to replace anything but a regular file (or a link to one) at `path`.

    A rename over a FIFO or a device node (`--out /dev/null`, as root) would replace the node
    itself with our file.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise RobustEyeError(f"cannot write {path}: {err.strerror or err}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{path} is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{path} exists and is not a regular file; refusing to replace it")


def check_output_path(path: str | os.PathLike[str]) -> None:
    """Refuse, before any work, an output file whose folder is missing or that would replace
    something other than a regular file."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"output folder does not exist: {path.parent}")
    check_target(path)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"output folder does not exist: {path.parent}")
    check_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise RobustEyeError(f"cannot write to {path.parent}: {err.strerror}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, file_mode())  # mkstemp makes files owner-only; outputs are for sharing
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as err:
        raise RobustEyeError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def staging_folder(parent: Path, name: str) -> Iterator[Path]:
    """A new, empty hidden folder in `parent` (mode from the umask) to build an output in.

    The caller moves it into place before the block ends; whatever is left (after a failure:
    a full disk, a size limit, an interrupt) is removed, so no staging folder survives.
    """
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent))
        os.chmod(tmp, dir_mode())  # mkdtemp makes folders owner-only; outputs are for sharing
    except OSError as err:
        raise RobustEyeError(f"cannot write to {parent}: {err.strerror or err}") from None
    try:
        yield tmp
    except OSError as err:
        raise RobustEyeError(f"cannot write {parent / name}: {err.strerror or err}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None: JSON has no spelling for them, and
    `json.dumps` would otherwise write `NaN`, which no JSON parser accepts."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps_json(obj: Any, **options: Any) -> str:
    """Strict JSON text of `obj` (non-finite numbers as null; see `json_safe`)."""
    return json.dumps(json_safe(obj), allow_nan=False, **options)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write `obj` as indented strict JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_json(obj, indent=2) + "\n", encoding="utf-8")
    return Path(path)


def save_tensors(
    tensors: dict[str, Any], path: str | os.PathLike[str], metadata: dict[str, str] | None = None
) -> None:
    """`safetensors.torch.save_file`, with write failures (a full disk, a size limit) turned
    into one `RobustEyeError` line naming the file."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(tensors, str(path), metadata=metadata)
        os.chmod(path, file_mode())  # safetensors makes files owner-only; outputs are for sharing
    except OSError as err:
        raise RobustEyeError(f"cannot write {path}: {err.strerror or err}") from None
    except SafetensorError as err:
        reason = str(err).rsplit("I/O error: ", 1)[-1]
        raise RobustEyeError(f"cannot write {path}: {reason}") from None
