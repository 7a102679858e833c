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

After unpickling, the records are counted (at most `MAX_IMAGES`) and their pixels summed (at
most `MAX_PIXELS`) before any crop is converted: a list that repeats one large crop a million
times costs a few megabytes to unpickle and would cost terabytes to convert.
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
import torch

from robusteye.data.dataset import STUDY_CLASSES, EyeDataset
from robusteye.data.imageio import resize_crop
from robusteye.data.limits import MAX_IMAGES, MAX_NAME_CHARS
from robusteye.errors import DataError, RobustEyeError, UnsafeFileError, UsageError
from robusteye.readers import open_regular

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
#: Most crop pixels, summed over the records, converted to float32 (1 GiB of them).
MAX_PIXELS = 1 << 28
_MAX_FRAME = 64 << 20  # picklers write 64 KiB frames; older ones one object per frame
_MAX_LINE = 64 << 20  # protocol 0 writes each string on one line
_MAX_NDIM = 32  # numpy's own limit is 64
_MAX_ITEMSIZE = 1 << 20
_CHUNK = 1 << 20
_DTYPE_KINDS = "biufcUS"  # booleans, numbers and strings: no objects, no void or datetimes
_KEY_TYPES = (str, bytes, int, float, type(None))
_REFUSED_OPCODES = {
    pickle.OBJ[0]: "OBJ",
    pickle.NEWOBJ[0]: "NEWOBJ",
    pickle.NEWOBJ_EX[0]: "NEWOBJ_EX",
}


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
                f"{_size(self.max_bytes)} of data a data.pz may hold"
            )


def _refuse(what: str) -> UnsafeFileError:
    return UnsafeFileError(f"refused to load: the pickle {what}, which a data.pz never needs")


def _check_dtype(dt: Any) -> np.dtype[Any]:
    if not isinstance(dt, np.dtype):
        raise _refuse(f"gives an array a dtype of type {type(dt).__name__}")
    if (
        dt.hasobject
        or dt.fields is not None
        or dt.subdtype is not None
        or dt.kind not in _DTYPE_KINDS
        or dt.itemsize > _MAX_ITEMSIZE
    ):
        raise _refuse(f"asks for the numpy dtype {dt}")
    return dt


def _check_shape(shape: Any) -> tuple[int, ...]:
    if (
        not isinstance(shape, tuple)
        or len(shape) > _MAX_NDIM
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise DataError("not a valid pickle (an array shape is not a tuple of sizes)")
    return shape


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
            raise _refuse("calls _codecs.encode other than for a latin-1 byte string")
        self._limits.charge(len(obj), "a byte string")
        return codecs.encode(obj, "latin-1")

    def _dtype(self, obj: Any, align: Any = False, copy: Any = True) -> np.dtype[Any]:
        if not isinstance(obj, str):
            raise _refuse(f"builds a numpy dtype from a {type(obj).__name__}")
        # always a copy: BUILD then sets its state, which must never reach numpy's own dtypes
        return _check_dtype(np.dtype(obj, align=bool(align), copy=True))

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not np.ndarray:
            raise _refuse("reconstructs an array of a class other than numpy.ndarray")
        shape = _check_shape(shape)
        if isinstance(dtype, (bytes, str)):
            dtype = self._dtype(dtype.decode("latin-1") if isinstance(dtype, bytes) else dtype)
        dt = _check_dtype(dtype)
        self._limits.charge(math.prod(shape) * dt.itemsize, f"an array of shape {shape}")
        return _ARRAY_RECONSTRUCT(np.ndarray, shape, dt)

    def _scalar(self, dtype: Any, data: Any = None) -> Any:
        dt = _check_dtype(dtype)
        if not isinstance(data, bytes) or len(data) != dt.itemsize:
            raise DataError(f"not a valid pickle (a numpy {dt} scalar without its bytes)")
        return _SCALAR_RECONSTRUCT(dt, data)

    def _frombuffer(self, buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
        """Protocol 5: an array over bytes already read (and charged); no copy is made."""
        dt = _check_dtype(dtype)
        shape = _check_shape(shape)
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


def _check_keys(keys: Any) -> None:
    for key in keys:
        if not isinstance(key, _KEY_TYPES):
            raise _refuse(f"uses a {type(key).__name__} as a dict key or set item")


def _check_size(container: Any) -> None:
    if len(container) > MAX_IMAGES:
        raise DataError(
            f"refused to load: the pickle holds a {type(container).__name__} of more than "
            f"{MAX_IMAGES:,} items (a data.pz holds at most {MAX_IMAGES:,} crop records)"
        )


def _build_dispatch() -> dict[int, Callable[[Any], None]]:
    base: dict[int, Callable[[Any], None]] = dict(pickle._Unpickler.dispatch)
    table: dict[int, Callable[[Any], None]] = {}

    def op(code: bytes) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
        def register(fn: Callable[[Any], None]) -> Callable[[Any], None]:
            table[code[0]] = fn
            return fn

        return register

    for number, name in _REFUSED_OPCODES.items():
        table[number] = _refused_opcode(name)

    @op(pickle.INST)
    def load_inst(self: RestrictedUnpickler) -> None:
        module = self.readline()[:-1].decode("ascii")
        name = self.readline()[:-1].decode("ascii")
        self.find_class(module, name)  # names a forbidden class, if it is one
        raise _refuse("uses the INST opcode (it builds instances of any class)")

    @op(pickle.PERSID)
    def load_persid(self: RestrictedUnpickler) -> None:
        self.persistent_load(None)

    @op(pickle.BINPERSID)
    def load_binpersid(self: RestrictedUnpickler) -> None:
        self.persistent_load(None)

    @op(pickle.FRAME)
    def load_frame(self: RestrictedUnpickler) -> None:
        (size,) = unpack("<Q", self.read(8))
        if size > _MAX_FRAME:
            raise DataError(
                f"not a valid pickle (a frame of {size:,} bytes; at most {_size(_MAX_FRAME)})"
            )
        self._unframer.load_frame(size)

    for opcode, fmt, decode, what in (
        (pickle.BINSTRING, "<i", _ascii, "string"),
        (pickle.SHORT_BINSTRING, "<B", _ascii, "string"),
        (pickle.BINBYTES, "<I", bytes, "byte string"),
        (pickle.SHORT_BINBYTES, "<B", bytes, "byte string"),
        (pickle.BINBYTES8, "<Q", bytes, "byte string"),
        (pickle.BYTEARRAY8, "<Q", bytearray, "byte array"),
        (pickle.BINUNICODE, "<I", _utf8, "string"),
        (pickle.SHORT_BINUNICODE, "<B", _utf8, "string"),
        (pickle.BINUNICODE8, "<Q", _utf8, "string"),
        (pickle.LONG1, "<B", pickle.decode_long, "long integer"),
        (pickle.LONG4, "<i", pickle.decode_long, "long integer"),
    ):
        table[opcode[0]] = _string_opcode(fmt, decode, what)

    @op(pickle.STRING)
    def load_string(self: RestrictedUnpickler) -> None:
        data = self._line()[:-1]
        if len(data) < 2 or data[0] != data[-1] or data[0] not in b"\"'":
            raise DataError("not a valid pickle (the STRING opcode argument must be quoted)")
        self.append(codecs.escape_decode(data[1:-1])[0].decode("ascii"))

    @op(pickle.UNICODE)
    def load_unicode(self: RestrictedUnpickler) -> None:
        self.append(str(self._line()[:-1], "raw-unicode-escape"))

    @op(pickle.REDUCE)
    def load_reduce(self: RestrictedUnpickler) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if id(func) not in self._callable:
            what = f"{func.__module__}.{func.__qualname__}" if isinstance(func, type) else None
            raise _refuse(f"calls {what or 'a ' + type(func).__name__ + ' object'}")
        if not isinstance(args, tuple):
            raise DataError("not a valid pickle (REDUCE arguments are not a tuple)")
        self.stack[-1] = func(*args)

    @op(pickle.BUILD)
    def load_build(self: RestrictedUnpickler) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if type(inst) is np.ndarray:
            _build_array(self, inst, state)
        elif isinstance(inst, np.dtype):
            _build_dtype(inst, state)
        else:
            raise _refuse(f"sets the state of a {type(inst).__name__}")

    @op(pickle.APPEND)
    def load_append(self: RestrictedUnpickler) -> None:
        target = self.stack[-2] if len(self.stack) > 1 else None
        if type(target) is not list:
            raise DataError(f"not a valid pickle (APPEND onto a {type(target).__name__})")
        base[pickle.APPEND[0]](self)
        _check_size(target)

    @op(pickle.APPENDS)
    def load_appends(self: RestrictedUnpickler) -> None:
        self._items()
        target = self._target(list, "APPENDS")
        base[pickle.APPENDS[0]](self)
        _check_size(target)

    @op(pickle.SETITEM)
    def load_setitem(self: RestrictedUnpickler) -> None:
        target = self.stack[-3] if len(self.stack) > 2 else None
        if type(target) is not dict:
            raise DataError(f"not a valid pickle (SETITEM onto a {type(target).__name__})")
        _check_keys([self.stack[-2]])
        base[pickle.SETITEM[0]](self)
        _check_size(target)

    @op(pickle.SETITEMS)
    def load_setitems(self: RestrictedUnpickler) -> None:
        items = self._items()
        target = self._target(dict, "SETITEMS")
        _check_keys(items[::2])
        base[pickle.SETITEMS[0]](self)
        _check_size(target)

    @op(pickle.ADDITEMS)
    def load_additems(self: RestrictedUnpickler) -> None:
        items = self._items()
        target = self._target(set, "ADDITEMS")
        _check_keys(items)
        base[pickle.ADDITEMS[0]](self)
        _check_size(target)

    @op(pickle.DICT)
    def load_dict(self: RestrictedUnpickler) -> None:
        items = self._items()
        _check_keys(items[::2])
        _check_size(items[::2])
        base[pickle.DICT[0]](self)

    @op(pickle.FROZENSET)
    def load_frozenset(self: RestrictedUnpickler) -> None:
        items = self._items()
        _check_keys(items)
        _check_size(items)
        base[pickle.FROZENSET[0]](self)

    for opcode in (pickle.LIST, pickle.TUPLE):
        table[opcode[0]] = _mark_opcode(base[opcode[0]])

    counted: dict[int, Callable[[Any], None]] = {}
    for number, fn in {**base, **table}.items():
        counted[number] = _counted(fn)
    return counted


def _utf8(data: bytes) -> str:
    return str(data, "utf-8", "surrogatepass")


def _ascii(data: bytes) -> str:
    """A Python 2 `str`, decoded as pickle does by default."""
    return data.decode("ascii")


def _counted(fn: Callable[[Any], None]) -> Callable[[Any], None]:
    def step(self: RestrictedUnpickler) -> None:
        self._limits.step()
        fn(self)

    return step


def _refused_opcode(name: str) -> Callable[[Any], None]:
    def refuse(self: RestrictedUnpickler) -> None:
        raise _refuse(f"uses the {name} opcode (it builds instances of any class)")

    return refuse


def _string_opcode(fmt: str, decode: Callable[[bytes], Any], what: str) -> Callable[[Any], None]:
    """A length-prefixed opcode: the length is charged before the data is read."""

    def load(self: RestrictedUnpickler) -> None:
        self._string(fmt, decode, what)

    return load


def _mark_opcode(stock: Callable[[Any], None]) -> Callable[[Any], None]:
    """LIST or TUPLE: the items above the MARK are charged and counted first."""

    def load(self: RestrictedUnpickler) -> None:
        _check_size(self._items())
        stock(self)

    return load


def _build_array(self: RestrictedUnpickler, inst: np.ndarray, state: Any) -> None:
    """`ndarray.__setstate__` after checking that its bytes match shape x itemsize."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise DataError("not a valid pickle (an array state is not a 4- or 5-tuple)")
    version = state[0] if len(state) == 5 else 1
    shape, dtype, fortran, raw = state[-4:]
    shape = _check_shape(shape)
    dt = _check_dtype(dtype)
    if type(version) is not int or not isinstance(raw, bytes):
        raise DataError("not a valid pickle (an array state without its bytes)")
    nbytes = math.prod(shape) * dt.itemsize
    if len(raw) != nbytes:
        raise DataError(f"not a valid pickle (an array's data does not fill shape {shape})")
    inst.__setstate__((version, shape, dt, bool(fortran), raw))  # type: ignore[arg-type]
    if inst.flags.owndata:  # numpy copied the bytes (small, byte-swapped or unaligned)
        self._limits.charge(nbytes, f"an array of shape {shape}")


def _build_dtype(inst: np.dtype[Any], state: Any) -> None:
    """`dtype.__setstate__` with the state numpy itself would write for this dtype: only the
    byte order may differ (other fields can make numpy treat numbers as object pointers)."""
    expected = inst.__reduce__()[2]
    orders = ("|",) if expected[1] == "|" else ("<", ">", "=")
    if (
        not isinstance(state, tuple)
        or len(state) not in (8, 9)
        or state[0] != expected[0]
        or state[1] not in orders
        or any(s is not None for s in state[2:5])
        or state[5:8] != expected[5:8]
        or (len(state) == 9 and state[8] is not None)
    ):
        raise _refuse("gives a numpy dtype a state numpy never writes for it")
    inst.__setstate__(state)  # type: ignore[attr-defined]
    _check_dtype(inst)


RestrictedUnpickler.dispatch = _build_dispatch()


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
            raise DataError(f"not a valid pickle (a line longer than {_size(_MAX_LINE)})")
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
            raise DataError(f"{what} exceeds {_size(self._cap)}")
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
    return _from_records(path, records)


def _name(value: Any, path: Path, i: int, field: str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            raise DataError(f"{path}: record {i} {field} is not UTF-8 text") from None
    elif isinstance(value, (int, np.integer)):
        value = str(int(value))
    if not isinstance(value, str):
        raise DataError(
            f"{path}: record {i} {field} must be a string or an integer, got {type(value).__name__}"
        )
    if len(value) > MAX_NAME_CHARS:
        raise DataError(f"{path}: record {i} {field} is longer than {MAX_NAME_CHARS:,} characters")
    return str(value)


def _from_records(path: Path, records: Any) -> EyeDataset:
    if not isinstance(records, list) or not records:
        raise DataError(f"{path}: expected a non-empty list of crop records")
    if len(records) > MAX_IMAGES:
        raise DataError(
            f"{path}: {len(records):,} crop records; robusteye reads at most {MAX_IMAGES:,}"
        )
    raw, labels, persons = [], [], []
    pixels = 0
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or not {"crop", "label", "person"} <= rec.keys():
            raise DataError(f"{path}: record {i} is not a dict with crop, label and person")
        crop = rec["crop"]
        if not isinstance(crop, np.ndarray):
            raise DataError(
                f"{path}: record {i} crop must be a 2-D numeric array, got {type(crop).__name__}"
            )
        if crop.ndim == 3 and 1 in (crop.shape[0], crop.shape[-1]):
            crop = crop.reshape(crop.shape[1:] if crop.shape[0] == 1 else crop.shape[:2])
        if crop.ndim != 2 or crop.dtype.kind not in "fiu" or crop.size == 0:
            raise DataError(
                f"{path}: record {i} crop must be a 2-D numeric array, got {crop.shape}"
            )
        pixels += crop.size  # a crop repeated by reference counts each time it is converted
        if pixels > MAX_PIXELS:
            raise DataError(
                f"{path}: the crops up to record {i} hold more than {MAX_PIXELS:,} pixels; "
                f"robusteye converts at most {MAX_PIXELS:,}"
            )
        raw.append(crop)
        labels.append(_name(rec["label"], path, i, "label"))
        persons.append(_name(rec["person"], path, i, "person"))
    lo, hi = math.inf, -math.inf
    for i, crop in enumerate(raw):
        c = crop.astype(np.float32, copy=False)
        if not np.isfinite(c).all():
            raise DataError(f"{path}: record {i} crop contains NaN or Inf")
        lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
    offset, scale = _pixel_map(lo, hi)
    images = np.empty((len(raw), 1, 32, 32), dtype=np.float32)
    for i, crop in enumerate(raw):
        images[i, 0] = resize_crop((crop.astype(np.float32, copy=False) - offset) / scale)
    known = [c for c in STUDY_CLASSES if c in set(labels)]
    classes = tuple(known + sorted(set(labels) - set(known)))
    index = {c: i for i, c in enumerate(classes)}
    return EyeDataset(
        images=torch.from_numpy(images),
        labels=torch.tensor([index[lab] for lab in labels], dtype=torch.int64),
        classes=classes,
        persons=tuple(persons),
        sources=tuple(f"{path.name}[{i}]" for i in range(len(raw))),
        meta={
            "origin": "pz",
            "path": str(path),
            "pixel_map": {"kind": "affine", "offset": offset, "scale": scale},
        },
    )


def _pixel_map(lo: float, hi: float) -> tuple[float, float]:
    """(offset, scale) with raw = offset + scale * x, x in [0, 1]: identity, /255, or min-max."""
    if lo >= 0.0 and hi <= 1.0:
        return 0.0, 1.0
    if lo >= 0.0 and hi <= 255.0 and hi > 1.0:
        return 0.0, 255.0
    return lo, max(hi - lo, 1e-12)


def _size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:,} bytes"
