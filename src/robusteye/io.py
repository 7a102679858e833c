"""Writing outputs: atomically (a crash or a full disk never leaves a half-written output
behind), never over an input, as strict JSON, and as CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

from robusteye.errors import RobustEyeError, UsageError, path_error


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
        raise path_error(err) or RobustEyeError(
            f"cannot write {path}: {err.strerror or err}"
        ) from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{path} is a folder; give a file name")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{path} exists and is not a regular file; refusing to replace it")


def check_output_path(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    folders: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse, before any work, an output file whose folder is missing, that would replace
    something other than a regular file, or that would replace an input.

    `inputs` are the files and folders the command reads (None and names that are no path,
    such as `synthetic:n=60`, are skipped); `folders` are input folders nothing may be written
    into at all (a checkpoint: `--out CK/config.json` would overwrite the model being read)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise UsageError(f"output folder does not exist: {path.parent}")
    check_target(path)
    check_not_input(path, inputs=inputs, folders=folders)


def check_not_input(
    path: str | os.PathLike[str],
    *,
    inputs: Iterable[str | os.PathLike[str] | None] = (),
    folders: Iterable[str | os.PathLike[str] | None] = (),
) -> None:
    """Refuse an output `path` that is one of `inputs` (the same file after resolving links,
    or a hard link to it) or lies inside one of `folders`; the one check of every verb that
    writes an output and reads inputs."""
    out = Path(path).resolve()
    for given in inputs:
        if given is not None and _same_file(out, Path(given)):
            raise UsageError(f"--out {path} is the input {given}; refusing to overwrite it")
    for given in folders:
        if given is None or not Path(given).is_dir():
            continue
        folder = Path(given).resolve()
        if out == folder or out.is_relative_to(folder):
            raise UsageError(
                f"--out {path} lies inside the input folder {given}; refusing to write there"
            )


def _same_file(out: Path, given: Path) -> bool:
    try:
        if out == given.resolve():
            return True
        return out.exists() and given.exists() and os.path.samefile(out, given)
    except OSError:  # an input that cannot even be looked at is no file we would overwrite
        return False


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


def check_replaceable(dest: str | os.PathLike[str], ours: Iterable[str], what: str) -> None:
    """Refuse (`UsageError`: "`dest` exists and is not `what`") a `dest` that exists and is not
    a folder holding only the names in `ours`: what `replace_folder` will replace, checked
    before any work is done."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or not {p.name for p in dest.iterdir()} <= set(ours)):
        raise UsageError(f"{dest} exists and is not {what}; refusing to overwrite it")


def replace_folder(tmp: Path, dest: Path, ours: Iterable[str], what: str) -> None:
    """Move the finished folder `tmp` to `dest`, replacing an earlier one there only if it
    holds nothing but the names in `ours` (`check_replaceable`); the old folder is moved
    aside first, so `dest` is never half-written."""
    check_replaceable(dest, ours, what)
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(tmp, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, dest)


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


#: what a spreadsheet reads as a number: such a cell may start with + or - and stay as it is
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)", re.IGNORECASE)
#: first characters that make a spreadsheet read a cell as a formula (OWASP's list)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell: None empty, a float with 6 significant digits, and text that a
    spreadsheet would run as a formula (`=HYPERLINK(...)`, `@SUM(...)`, anything starting
    with = + - @, a tab or a carriage return) prefixed with a single quote, as OWASP advises
    against CSV injection. A number (`-0.5`, `+1e-3`) stays a number."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def write_csv(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[str] | None = None,
) -> Path:
    """Write `rows` as CSV atomically: a header of `fields` (default: the first row's keys),
    then one line per row (a missing key is an empty cell); every cell, the header's too,
    goes through `csv_cell`. The one CSV writer of robusteye."""
    columns = list(fields if fields is not None else (rows[0] if rows else ()))
    buffer = StringIO()
    if columns:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow([csv_cell(name) for name in columns])
        writer.writerows([csv_cell(row.get(name)) for name in columns] for row in rows)
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
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
