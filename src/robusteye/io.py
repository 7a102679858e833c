"""Atomic file writing: a crash or a full disk never leaves a half-written output behind."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from robusteye.errors import RobustEyeError, UsageError


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to `path`; on success it replaces `path` in one rename."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"output folder does not exist: {path.parent}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise RobustEyeError(f"cannot write to {path.parent}: {err.strerror}") from None
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, _FILE_MODE)  # mkstemp makes files owner-only; outputs are for sharing
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except OSError as err:
        raise RobustEyeError(f"cannot write {path}: {err.strerror or err}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write `obj` as indented JSON atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")
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
    except OSError as err:
        raise RobustEyeError(f"cannot write {path}: {err.strerror or err}") from None
    except SafetensorError as err:
        reason = str(err).rsplit("I/O error: ", 1)[-1]
        raise RobustEyeError(f"cannot write {path}: {reason}") from None
