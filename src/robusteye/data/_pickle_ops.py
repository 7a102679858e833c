"""The opcode table of `robusteye.data.pz.RestrictedUnpickler`, and the checks its callables
and opcodes share: every opcode is counted as one step, and the opcodes that allocate, call or
build something are replaced by versions that check first (see `robusteye.data.pz`).

Over 300 lines because it is the whole table, one bounded replacement per opcode that needs
one, and is only correct whole; it reaches into the unpickler's state as the stock table does.
"""

from __future__ import annotations

import codecs
import math
import pickle
from collections.abc import Callable
from struct import unpack
from typing import TYPE_CHECKING, Any

import numpy as np

from robusteye.data.limits import MAX_IMAGES
from robusteye.errors import DataError, UnsafeFileError

if TYPE_CHECKING:
    from robusteye.data.pz import RestrictedUnpickler

_MAX_FRAME = 64 << 20  # picklers write 64 KiB frames; older ones one object per frame
_MAX_NDIM = 32  # numpy's own limit is 64
_MAX_ITEMSIZE = 1 << 20
_DTYPE_KINDS = "biufcUS"  # booleans, numbers and strings: no objects, no void or datetimes
_KEY_TYPES = (str, bytes, int, float, type(None))
_REFUSED_OPCODES = {
    pickle.OBJ[0]: "OBJ",
    pickle.NEWOBJ[0]: "NEWOBJ",
    pickle.NEWOBJ_EX[0]: "NEWOBJ_EX",
}


def refuse(what: str) -> UnsafeFileError:
    return UnsafeFileError(f"refused to load: the pickle {what}, which a data.pz never needs")


def check_dtype(dt: Any) -> np.dtype[Any]:
    if not isinstance(dt, np.dtype):
        raise refuse(f"gives an array a dtype of type {type(dt).__name__}")
    if (
        dt.hasobject
        or dt.fields is not None
        or dt.subdtype is not None
        or dt.kind not in _DTYPE_KINDS
        or dt.itemsize > _MAX_ITEMSIZE
    ):
        raise refuse(f"asks for the numpy dtype {dt}")
    return dt


def check_shape(shape: Any) -> tuple[int, ...]:
    if (
        not isinstance(shape, tuple)
        or len(shape) > _MAX_NDIM
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise DataError("not a valid pickle (an array shape is not a tuple of sizes)")
    return shape


def check_keys(keys: Any) -> None:
    for key in keys:
        if not isinstance(key, _KEY_TYPES):
            raise refuse(f"uses a {type(key).__name__} as a dict key or set item")


def check_size(container: Any) -> None:
    if len(container) > MAX_IMAGES:
        raise DataError(
            f"refused to load: the pickle holds a {type(container).__name__} of more than "
            f"{MAX_IMAGES:,} items (a data.pz holds at most {MAX_IMAGES:,} crop records)"
        )


def build_dispatch() -> dict[int, Callable[[Any], None]]:
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
        raise refuse("uses the INST opcode (it builds instances of any class)")

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
                f"not a valid pickle (a frame of {size:,} bytes; at most {size_text(_MAX_FRAME)})"
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
            raise refuse(f"calls {what or 'a ' + type(func).__name__ + ' object'}")
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
            raise refuse(f"sets the state of a {type(inst).__name__}")

    @op(pickle.APPEND)
    def load_append(self: RestrictedUnpickler) -> None:
        target = self.stack[-2] if len(self.stack) > 1 else None
        if type(target) is not list:
            raise DataError(f"not a valid pickle (APPEND onto a {type(target).__name__})")
        base[pickle.APPEND[0]](self)
        check_size(target)

    @op(pickle.APPENDS)
    def load_appends(self: RestrictedUnpickler) -> None:
        self._items()
        target = self._target(list, "APPENDS")
        base[pickle.APPENDS[0]](self)
        check_size(target)

    @op(pickle.SETITEM)
    def load_setitem(self: RestrictedUnpickler) -> None:
        target = self.stack[-3] if len(self.stack) > 2 else None
        if type(target) is not dict:
            raise DataError(f"not a valid pickle (SETITEM onto a {type(target).__name__})")
        check_keys([self.stack[-2]])
        base[pickle.SETITEM[0]](self)
        check_size(target)

    @op(pickle.SETITEMS)
    def load_setitems(self: RestrictedUnpickler) -> None:
        items = self._items()
        target = self._target(dict, "SETITEMS")
        check_keys(items[::2])
        base[pickle.SETITEMS[0]](self)
        check_size(target)

    @op(pickle.ADDITEMS)
    def load_additems(self: RestrictedUnpickler) -> None:
        items = self._items()
        target = self._target(set, "ADDITEMS")
        check_keys(items)
        base[pickle.ADDITEMS[0]](self)
        check_size(target)

    @op(pickle.DICT)
    def load_dict(self: RestrictedUnpickler) -> None:
        items = self._items()
        check_keys(items[::2])
        check_size(items[::2])
        base[pickle.DICT[0]](self)

    @op(pickle.FROZENSET)
    def load_frozenset(self: RestrictedUnpickler) -> None:
        items = self._items()
        check_keys(items)
        check_size(items)
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
    def refused(self: RestrictedUnpickler) -> None:
        raise refuse(f"uses the {name} opcode (it builds instances of any class)")

    return refused


def _string_opcode(fmt: str, decode: Callable[[bytes], Any], what: str) -> Callable[[Any], None]:
    """A length-prefixed opcode: the length is charged before the data is read."""

    def load(self: RestrictedUnpickler) -> None:
        self._string(fmt, decode, what)

    return load


def _mark_opcode(stock: Callable[[Any], None]) -> Callable[[Any], None]:
    """LIST or TUPLE: the items above the MARK are charged and counted first."""

    def load(self: RestrictedUnpickler) -> None:
        check_size(self._items())
        stock(self)

    return load


def _build_array(self: RestrictedUnpickler, inst: np.ndarray, state: Any) -> None:
    """`ndarray.__setstate__` after checking that its bytes match shape x itemsize."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise DataError("not a valid pickle (an array state is not a 4- or 5-tuple)")
    version = state[0] if len(state) == 5 else 1
    shape, dtype, fortran, raw = state[-4:]
    shape = check_shape(shape)
    dt = check_dtype(dtype)
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
        raise refuse("gives a numpy dtype a state numpy never writes for it")
    inst.__setstate__(state)  # type: ignore[attr-defined]
    check_dtype(inst)


def size_text(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n:,} bytes"
