"""The study's `data.pz`: a gzip-compressed pickle of `[{'crop', 'label', 'person'}, ...]`.

Pickles can run code on load, and data sets come from strangers, so we read them through an
unpickler that resolves only the handful of globals this format needs (numpy's array and
scalar reconstructors, `numpy.dtype`, `_codecs.encode` for protocol-2 byte strings). Anything
else is refused before it is imported or called.

A small pickle can also ask for a great deal of work or memory without naming a forbidden
global, so `RestrictedUnpickler` is the pure-Python unpickler with every step bounded:

- the file is decompressed as it is read, in 1 MiB chunks, and at most `_MAX_BYTES` (4 GiB)
  of it; nothing is ever reserved for the whole file up front;
- at most `MAX_OPS` steps: one per opcode, plus one per item that a MARK-based opcode
  (APPENDS, SETITEMS, LIST, TUPLE, DICT, ...) moves, so a "memo bomb" (millions of references
  to one object, a few kilobytes compressed) ends early; no list, tuple or dict may hold more
  than `MAX_IMAGES` items;
- at most `MAX_ARRAY_BYTES` (1 GiB) of strings, bytes and array memory: each length, and
  each array's shape x itemsize, is charged *before* it is read or allocated, so a 300-byte
  pickle cannot ask numpy for a 30,000 x 30,000 array;
- the opcodes that build instances of arbitrary classes (INST, OBJ, NEWOBJ, NEWOBJ_EX) and
  persistent ids are refused; REDUCE calls only the allow-listed reconstructors (never
  `numpy.ndarray` itself), BUILD applies state only to arrays and dtypes (checked first), and
  dtypes are plain numbers or strings (no objects, fields or sub-arrays);
- dict keys and set items are plain strings and numbers (hashing a deeply nested tuple would
  recurse in C).

Then records (`MAX_IMAGES`), pixels per crop (`MAX_PZ_CROP_PIXELS`) and in all
(`MAX_PZ_TOTAL_PIXELS`) are counted before any crop is converted: one crop repeated a million
times, or one 16,384 x 16,384 uint8 crop, is cheap to unpickle and costly to convert.

Here: the unpickler, its budgets and the capped reader; its opcode table is in `_pickle_ops`,
and the conversion of the records into an `EyeDataset` in `_pz_records`.
"""

from __future__ import annotations

import codecs
import gzip
import io
import math
import os
import pickle
import zlib
from collections.abc import Callable
from pathlib import Path
from struct import unpack
from typing import IO, Any, ClassVar

import numpy as np

from robusteye.data._pickle_ops import build_dispatch, check_dtype, check_shape, refuse, size_text
from robusteye.data._pz_records import MAX_PZ_CROP_PIXELS, MAX_PZ_TOTAL_PIXELS, from_records
from robusteye.data.dataset import EyeDataset
from robusteye.errors import DataError, RobustEyeError, UnsafeFileError, UsageError
from robusteye.readers import open_regular

__all__ = ["MAX_ARRAY_BYTES", "MAX_OPS", "MAX_PZ_CROP_PIXELS", "MAX_PZ_TOTAL_PIXELS",
           "RestrictedUnpickler", "load_pz", "restricted_loads"]  # fmt: skip

_ARRAY_RECONSTRUCT: Any = np.zeros(1).__reduce__()[0]  # numpy's _reconstruct, wherever it is
_SCALAR_RECONSTRUCT: Any = np.float32(0).__reduce__()[0]
_FROMBUFFER: Any = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5 rebuilds arrays from raw bytes
_MAX_BYTES = 4 << 30  # a decompressed pickle larger than 4 GiB is not an eye-crop set
#: Most unpickling steps (opcodes, plus the items MARK-based opcodes move): 5,722 crops take
#: 200,000 to 340,000, depending on the protocol.
MAX_OPS = 10_000_000
#: Most bytes of strings, byte strings and array memory a pickle may create: the raw crop data
#: counts 1 to 2.5 times (protocol 2 spells each array as a text string, then as bytes).
MAX_ARRAY_BYTES = 1 << 30
_MAX_LINE = 64 << 20  # protocol 0 writes each string on one line
_CHUNK = 1 << 20


class _Limits:
    """The step and byte budgets of one load (read when a load starts, so tests can lower them)."""

    def __init__(self) -> None:
        self.ops = 0
        self.bytes = 0
        self.max_ops = MAX_OPS
        self.max_bytes = MAX_ARRAY_BYTES

    def step(self, n: int = 1) -> None:
        self.ops += n
        if self.ops > self.max_ops:
            raise DataError(
                f"refused to load: the pickle takes more than {self.max_ops:,} steps "
                "(a data.pz of a million crops takes far fewer)"
            )

    def charge(self, n: int, what: str) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise DataError(
                f"refused to load: the pickle asks for {what} of {n:,} bytes, more than the "
                f"{size_text(self.max_bytes)} of data a data.pz may hold"
            )


class RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that admits only numpy arrays, dtypes, scalars and builtin containers, and
    bounds the work and memory of every load (see the module's docstring)."""

    dispatch: ClassVar[dict[int, Callable[[Any], None]]] = {}  # filled below the class
    # set by the stock `load` (the stubs do not declare them)
    stack: list[Any]
    metastack: list[list[Any]]
    append: Callable[[Any], None]
    read: Callable[[int], bytes]
    readline: Callable[[], bytes]
    _unframer: Any

    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file)
        self._limits = _Limits()
        allowed: dict[tuple[str, str], Any] = {
            ("_codecs", "encode"): self._encode,
            ("numpy", "ndarray"): np.ndarray,  # only ever the first argument of _reconstruct
            ("numpy", "dtype"): self._dtype,
        }
        for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
            allowed[(mod, "_reconstruct")] = self._reconstruct
            allowed[(mod, "scalar")] = self._scalar
        for mod in ("numpy.core.numeric", "numpy._core.numeric"):
            allowed[(mod, "_frombuffer")] = self._frombuffer
        self._allowed = allowed
        # the only objects REDUCE may call: these bound methods, kept alive with the unpickler
        self._callable = {id(f) for f in allowed.values() if f is not np.ndarray}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafeFileError(
                f"refused to load: the pickle asks for {module}.{name}, which a data.pz never needs"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeFileError("refused to load: the pickle uses persistent ids")

    # ---- the allow-listed callables, each checked before numpy allocates ------------------

    def _encode(self, obj: Any, encoding: Any = "utf-8") -> bytes:
        """`_codecs.encode(text, 'latin1')`: how protocols 0-2 write a byte string."""
        if not isinstance(obj, str) or encoding not in ("latin1", "latin-1"):
            raise refuse("calls _codecs.encode other than for a latin-1 byte string")
        self._limits.charge(len(obj), "a byte string")
        return codecs.encode(obj, "latin-1")

    def _dtype(self, obj: Any, align: Any = False, copy: Any = True) -> np.dtype[Any]:
        if not isinstance(obj, str):
            raise refuse(f"builds a numpy dtype from a {type(obj).__name__}")
        # always a copy: BUILD then sets its state, which must never reach numpy's own dtypes
        return check_dtype(np.dtype(obj, align=bool(align), copy=True))

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not np.ndarray:
            raise refuse("reconstructs an array of a class other than numpy.ndarray")
        shape = check_shape(shape)
        if isinstance(dtype, (bytes, str)):
            dtype = self._dtype(dtype.decode("latin-1") if isinstance(dtype, bytes) else dtype)
        dt = check_dtype(dtype)
        self._limits.charge(math.prod(shape) * dt.itemsize, f"an array of shape {shape}")
        return _ARRAY_RECONSTRUCT(np.ndarray, shape, dt)

    def _scalar(self, dtype: Any, data: Any = None) -> Any:
        dt = check_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != dt.itemsize:
            raise DataError(f"not a valid pickle (a numpy {dt} scalar without its bytes)")
        return _SCALAR_RECONSTRUCT(dt, data)

    def _frombuffer(self, buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        """Protocol 5: an array over bytes already read (and charged); no copy is made."""
        dt = check_dtype(dtype)
        shape = check_shape(shape)
        if not isinstance(buf, (bytes, bytearray, memoryview)) or order not in ("C", "F"):
            raise DataError("not a valid pickle (an array buffer is not bytes)")
        if memoryview(buf).nbytes != math.prod(shape) * dt.itemsize:
            raise DataError(f"not a valid pickle (an array's data does not fill shape {shape})")
        return _FROMBUFFER(buf, dt, shape, order)

    # ---- opcodes that need a check before the stock code runs -------------------------------

    def _read_counted(self, size: int, what: str) -> bytes:
        if size < 0:
            raise DataError(f"not a valid pickle (a {what} of negative length)")
        self._limits.charge(size, f"a {what}")
        data: bytes = self.read(size)
        if len(data) != size:
            raise DataError(f"not a valid pickle (a {what} is cut short)")
        return data

    def _length(self, fmt: str) -> int:
        size = {"<B": 1, "<i": 4, "<I": 4, "<Q": 8}[fmt]
        (n,) = unpack(fmt, self.read(size))
        return int(n)

    def _string(self, fmt: str, decode: Callable[[bytes], Any], what: str) -> None:
        self.append(decode(self._read_counted(self._length(fmt), what)))

    def _line(self) -> bytes:
        line: bytes = self.readline()
        self._limits.charge(len(line), "a text line")
        return line

    def _items(self) -> list[Any]:
        """The items above the last MARK (still on the stack), charged one step each."""
        items: list[Any] = self.stack
        self._limits.step(len(items))
        return items

    def _target(self, kind: type, op: str) -> Any:
        target = self.metastack[-1][-1] if self.metastack and self.metastack[-1] else None
        if type(target) is not kind:
            raise DataError(f"not a valid pickle ({op} onto a {type(target).__name__})")
        return target


RestrictedUnpickler.dispatch = build_dispatch()


class _CappedReader:
    """`read` and `readline` over `raw` (a file, or a gzip stream decompressing as it goes):
    at most `cap` bytes in all, and never more than one chunk asked of `raw` at once."""

    def __init__(self, raw: IO[bytes] | gzip.GzipFile, cap: int, compressed: bool) -> None:
        self._raw, self._cap, self._compressed = raw, cap, compressed
        self.total = 0

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self._cap + 1
        first = self._get(self._raw.read, min(n, _CHUNK))
        if len(first) == n or not first:
            return first
        buf = io.BytesIO()  # grows as data arrives; getvalue() hands its buffer over, no copy
        buf.write(first)
        n -= len(first)
        while n > 0:
            chunk = self._get(self._raw.read, min(n, _CHUNK))
            if not chunk:
                break
            buf.write(chunk)
            n -= len(chunk)
        return buf.getvalue()

    def readline(self) -> bytes:
        line = self._get(self._raw.readline, _MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise DataError(f"not a valid pickle (a line longer than {size_text(_MAX_LINE)})")
        return line

    def _get(self, fn: Callable[[int], bytes], n: int) -> bytes:
        try:
            data = fn(n)
        except (OSError, EOFError, zlib.error) as err:
            if self._compressed:
                raise DataError(f"corrupt gzip data ({err})") from None
            raise DataError(f"cannot read the file ({err})") from None
        self.total += len(data)
        if self.total > self._cap:
            what = "decompressed data" if self._compressed else "the file"
            raise DataError(f"{what} exceeds {size_text(self._cap)}")
        return data


def _load(file: Any) -> Any:
    try:
        return RestrictedUnpickler(file).load()
    except RobustEyeError:
        raise
    except Exception as err:  # pickle raises many types on garbage input
        raise DataError(f"not a valid pickle ({type(err).__name__}: {err})") from None


def restricted_loads(payload: bytes) -> Any:
    """Unpickle `payload` with `RestrictedUnpickler`; malformed data raises `DataError`."""
    return _load(io.BytesIO(payload))


def load_pz(path: str | os.PathLike[str]) -> EyeDataset:
    """Load the study's `data.pz` (gzip or plain pickle) into an `EyeDataset`.

    Crops are mapped to [0, 1] by one affine map for the whole set (so eps values stay
    comparable across images); `meta["pixel_map"]` records it as raw = offset + scale * x.
    """
    path = Path(path)
    with open_regular(path, error=UsageError) as fh:  # a FIFO or device is refused unread
        try:
            compressed = fh.read(2) == b"\x1f\x8b"
            fh.seek(0)
            with gzip.GzipFile(fileobj=fh) if compressed else fh as raw:
                stream = _CappedReader(raw, _MAX_BYTES, compressed)
                records = _load(stream)
                if compressed:  # read to the end, so the gzip checksum is verified
                    while stream.read(_CHUNK):
                        pass
        except DataError as err:
            raise type(err)(f"{path}: {err}") from None
    return from_records(path, records)
