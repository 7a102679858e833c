"""Reading files that strangers made: regular files only, bounded in size and in nesting.

Every reader of user-named files goes through here, so that the same three guarantees hold for
data sets, checkpoints, specs and run folders alike:

- a FIFO, socket or device node is refused instead of read (opening a FIFO blocks until a
  writer appears, and `/dev/zero` never ends); the file is opened non-blocking and checked
  with `fstat`, so there is no window between the check and the open;
- a file is read up to a stated number of bytes, never more;
- JSON and YAML documents may nest at most `MAX_NESTING` levels: deeper ones (which the
  parsers answer with `RecursionError`, and which later recursive code would choke on) are
  refused with one line; a YAML mapping may not name one key twice.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from typing import IO, Any

import yaml

from robusteye.errors import DataError, RobustEyeError

#: Deepest nesting of lists and mappings accepted in a JSON or YAML document. robusteye's own
#: documents nest at most about 8 levels (a result row's attack points and their ROC curves).
MAX_NESTING = 64
#: Most values (scalars, lists, mappings) in one document: a result row holds a few thousand.
MAX_NODES = 5_000_000
#: Default cap on a text document (spec, config, splits): far above any real one.
MAX_TEXT_BYTES = 64 << 20


def open_regular(
    path: str | os.PathLike[str], *, error: type[RobustEyeError] = DataError
) -> IO[bytes]:
    """Open `path` for binary reading if it is a regular file; anything else raises `error`.

    The open itself never blocks: it is non-blocking (a FIFO opens at once), then `fstat` on
    the open descriptor decides, and only a regular file is handed back (blocking again).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"no such file: {path}") from None
    except OSError as err:
        raise error(f"cannot read {path}: {err.strerror or err}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"{path}: not a regular file ({_kind(mode)})")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(
    path: str | os.PathLike[str],
    *,
    limit: int = MAX_TEXT_BYTES,
    error: type[RobustEyeError] = DataError,
) -> bytes:
    """The bytes of the regular file `path`; more than `limit` bytes raises `error`."""
    with open_regular(path, error=error) as fh:
        try:
            data = fh.read(limit + 1)
        except OSError as err:
            raise error(f"cannot read {path}: {err.strerror or err}") from None
    if len(data) > limit:
        raise error(f"{path}: larger than {_size(limit)}; refusing to read it")
    return data


def read_text(
    path: str | os.PathLike[str],
    *,
    limit: int = MAX_TEXT_BYTES,
    error: type[RobustEyeError] = DataError,
) -> str:
    """UTF-8 text of the regular file `path` (at most `limit` bytes)."""
    try:
        return read_bytes(path, limit=limit, error=error).decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None


def parse_json(text: str | bytes, failure: str, *, error: type[RobustEyeError] = DataError) -> Any:
    """`json.loads` that turns every failure, deep nesting included, into one `error` line:
    `failure` (for example "x.json is not valid JSON") followed by the reason in brackets."""
    return _parse(text, failure, json.loads, (ValueError,), error)


class _UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a mapping naming one key twice (`regimes:` written twice
    would otherwise keep the second silently). Keys merged in by `<<: *anchor` may still be
    overridden: only the keys written in the mapping itself count."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the stock code says so
                continue
            if duplicate:
                line = key_node.start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} on line {line}", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _safe_load(text: str) -> Any:
    loader = _UniqueKeyLoader(text)  # what yaml.safe_load does, with this loader
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def parse_yaml(text: str, failure: str, *, error: type[RobustEyeError] = DataError) -> Any:
    """`yaml.safe_load` with the same guarantees as `parse_json`, and a key written twice in
    one mapping refused."""
    return _parse(text, failure, _safe_load, (yaml.YAMLError,), error)


def read_json(
    path: str | os.PathLike[str],
    *,
    limit: int = MAX_TEXT_BYTES,
    error: type[RobustEyeError] = DataError,
) -> Any:
    """Parse the JSON file `path` (regular file, bounded size and nesting)."""
    text = read_text(path, limit=limit, error=error)
    return parse_json(text, f"{path} is not valid JSON", error=error)


def read_yaml(
    path: str | os.PathLike[str],
    *,
    limit: int = MAX_TEXT_BYTES,
    error: type[RobustEyeError] = DataError,
) -> Any:
    """Parse the YAML file `path` (regular file, bounded size and nesting)."""
    text = read_text(path, limit=limit, error=error)
    return parse_yaml(text, f"{path} is not valid YAML", error=error)


def check_nesting(value: Any, failure: str, *, error: type[RobustEyeError] = DataError) -> Any:
    """`value` itself, if its lists and mappings nest at most `MAX_NESTING` deep and hold at
    most `MAX_NODES` values in all (YAML aliases count each time they are used: a "billion
    laughs" document is refused here instead of being walked by later code)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise error(f"{failure} (more than {MAX_NODES:,} values)")
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > MAX_NESTING:
            raise error(_too_deep(failure))
        stack.extend((child, depth + 1) for child in children)
    return value


def _parse(
    text: str | bytes,
    failure: str,
    parse: Callable[[Any], Any],
    errors: tuple[type[Exception], ...],
    error: type[RobustEyeError],
) -> Any:
    try:
        value = parse(text)
    except RecursionError:
        raise error(_too_deep(failure)) from None
    except errors as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise error(f"{failure} ({first})") from None
    return check_nesting(value, failure, error=error)


def _too_deep(failure: str) -> str:
    return f"{failure} (nested too deeply: more than {MAX_NESTING} levels)"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def _size(n: int) -> str:
    return f"{n >> 30} GiB" if n >= 1 << 30 else f"{n >> 20} MiB" if n >= 1 << 20 else f"{n} bytes"
