"""Hostile data files that are small on disk and enormous once read: memo, reconstruct and
gzip bombs in a data.pz, an .npz member that expands a thousandfold, an empty data set, a
synthetic `n` of a billion and a FIFO named as the data source.

Each one ends in one `error: ...` line and a non-zero exit, quickly and in bounded memory.
The bombs run the real CLI in a child process limited to a 4 GB address space (as `ulimit -v
4000000`), so a loader that tries to allocate what the file asks for fails there with a
`MemoryError`, not by swapping the test machine.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import robusteye.data.folder
import robusteye.data.pz
from robusteye.data import load_dataset
from robusteye.errors import DataError
from tests.cli.bad_input import Run, assert_error, assert_only, image_folder, run_cli
from tests.conftest import make_dataset

#: The address-space limit of the child processes (bytes), as `ulimit -v 4000000` (KiB) sets.
ADDRESS_SPACE = 4_000_000_000
_LIMITED_CLI = (
    "import resource, sys\n"
    f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE}))\n"
    "from robusteye.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def limited_cli(*args: str | Path, limit: bool = True) -> Run:
    """`robusteye ARGS` as a child process (4 GB of address space unless `limit` is false),
    with a 60 s timeout: (exit code, stdout, stderr)."""
    cmd = [sys.executable, "-c", _LIMITED_CLI] if limit else [sys.executable, "-m", "robusteye"]
    proc = subprocess.run(
        [*cmd, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
    return proc.returncode, proc.stdout, proc.stderr


def _records(n: int = 40, size: int = 32) -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    labels = ["open", "closed", "partiallyOpen", "notVisible"]
    return [
        {
            "crop": rng.normal(size=(size, size)).astype(np.float32),
            "label": labels[i % 4],
            "person": f"p{i // 4}",
        }
        for i in range(n)
    ]


def _write_gz(path: Path, payload: bytes) -> Path:
    path.write_bytes(gzip.compress(payload, mtime=0))
    return path


def _memo_bomb(refs: int, crop: np.ndarray) -> bytes:
    """A protocol-2 list of `refs` references (BINGET 0) to one record dict."""
    record = pickle.dumps({"crop": crop, "label": "open", "person": "p0"}, protocol=2)[2:-1]
    assert record[:3] == b"}q\x00"  # the dict is memo 0
    batch = b"(" + b"h\x00" * 1000 + b"e"  # MARK, 1000 x BINGET 0, APPENDS
    return b"\x80\x02](" + record + b"h\x00" * 999 + b"e" + batch * (refs // 1000 - 1) + b"."


def _record_with(crop_ops: bytes) -> bytes:
    """A protocol-2 list of one record whose crop is what `crop_ops` pushes."""
    return (
        b"\x80\x02](}(X\x04\x00\x00\x00crop"
        + crop_ops
        + b"X\x05\x00\x00\x00labelX\x04\x00\x00\x00openX\x06\x00\x00\x00personX\x02\x00\x00\x00p0"
        + b"ue."  # SETITEMS, APPENDS, STOP
    )


#: numpy's `_reconstruct(ndarray, (30000, 30000), 'f8')`: 7.2 GB asked for by 150 bytes.
RECONSTRUCT_BOMB = _record_with(
    b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nM0uM0u\x86C\x02f8\x87R"
)
#: `numpy.ndarray((30000, 30000), 'f8')` called directly.
NDARRAY_CALL = _record_with(b"cnumpy\nndarray\nM0uM0u\x86X\x02\x00\x00\x00f8\x86R")
#: a crop given as a list of 30,000 references to one list of 30,000 floats (np.asarray of it
#: would be 7.2 GB).
LIST_CROP = _record_with(
    b"]("
    + b"G"
    + bytes(8) * 1
    + (b"G" + bytes(8)) * 29_999
    + b"eq\x010"  # a row, memo 1, POP
    + b"("
    + b"h\x01" * 30_000
    + b"l"  # MARK, 30,000 x BINGET 1, LIST
)
#: protocol 5 BYTEARRAY8 announcing 3.9 GB (and holding none of it).
BYTEARRAY_BOMB = b"\x80\x05\x96" + struct.pack("<Q", 3_900_000_000) + b"."


# ---- data.pz: bombs under a 4 GB address space ------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (
            _memo_bomb(2_000_000, np.zeros((64, 64), np.float32)),
            r"refused to load: the pickle holds a list of more than 1,000,000 items",
        ),
        (
            _memo_bomb(900_000, np.zeros((1000, 1000), np.float32)),
            r"the crops up to record 268 hold more than 268,435,456 pixels",
        ),
        (
            RECONSTRUCT_BOMB,
            r"refused to load: the pickle asks for an array of shape \(30000, 30000\) "
            r"of 7,200,000,000 bytes, more than the 1 GiB",
        ),
        (NDARRAY_CALL, r"refused to load: the pickle calls numpy\.ndarray, which a data\.pz never"),
        (LIST_CROP, r"record 0 crop must be a 2-D numeric array, got list"),
        (
            BYTEARRAY_BOMB,
            r"refused to load: the pickle asks for a byte array of 3,900,000,000 bytes",
        ),
    ],
    ids=["memo-bomb", "shared-crop-bomb", "reconstruct-30000x30000", "ndarray-call",
         "list-crop", "bytearray8"],
)  # fmt: skip
def test_pz_bomb_is_refused_in_bounded_memory(tmp_path: Path, payload: bytes, pattern: str) -> None:
    path = _write_gz(tmp_path / "data.pz", payload)
    assert path.stat().st_size < 20_000
    assert_error(limited_cli("data", "info", path), 1, r"data\.pz: " + pattern)
    assert_only(tmp_path, "data.pz")


def test_valid_pz_loads_under_a_4gb_address_space(tmp_path: Path) -> None:
    """A valid 40-crop data.pz: the old reader reserved 4 GiB for the decompressed file."""
    path = tmp_path / "data.pz"
    with gzip.open(path, "wb") as fh:
        pickle.dump(_records(), fh, protocol=pickle.HIGHEST_PROTOCOL)
    rc, out, err = limited_cli("data", "info", path)
    assert rc == 0 and "Traceback" not in err, err
    assert out.splitlines()[0].split() == ["images", "40"]


def test_gzip_bomb_stops_at_the_decompressed_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap (4 GiB) lowered to 1 MiB: a valid pickle followed by 8 MiB of zeros."""
    monkeypatch.setattr(robusteye.data.pz, "_MAX_BYTES", 1 << 20)
    path = _write_gz(tmp_path / "data.pz", pickle.dumps(_records(8), protocol=4) + bytes(8 << 20))
    run = run_cli(capsys, "data", "info", path)
    assert_error(run, 1, r"data\.pz: decompressed data exceeds 1 MiB")
    # the same file, read to its end under the real cap, still loads (trailing data is ignored)
    monkeypatch.undo()
    assert len(load_dataset(path)) == 8


def test_step_budget(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The op budget counts opcodes and the items MARK-based opcodes move."""
    path = tmp_path / "data.pz"
    path.write_bytes(pickle.dumps(_records(40), protocol=4))
    monkeypatch.setattr(robusteye.data.pz, "MAX_OPS", 500)
    with pytest.raises(
        DataError, match=r"data\.pz: refused to load: the pickle takes more than 500"
    ):
        load_dataset(path)


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (b"\x80\x02cnumpy\nndarray\n)\x81.", r"uses the NEWOBJ opcode"),
        (b"(inumpy\nndarray\n.", r"uses the INST opcode"),
        (b"(cnumpy\nndarray\no.", r"uses the OBJ opcode"),
        (b"(i__main__\nEvil\n.", r"asks for __main__\.Evil"),
        (b"\x80\x04\x8c\x05numpy\x8c\x04load\x93.", r"asks for numpy\.load"),
        (b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00O8\x85R.", r"asks for the numpy dtype object"),
        (b"\x80\x02}(K\x01K\x02\x86K\x00u.", r"uses a tuple as a dict key"),
        (
            b"\x80\x02cnumpy\ndtype\nX\x02\x00\x00\x00f4\x85R(K\x03X\x01\x00\x00\x00<NNNJ\xff"
            b"\xff\xff\xffJ\xff\xff\xff\xffK\x01tb.",
            r"gives a numpy dtype a state numpy never writes",
        ),
    ],
    ids=["newobj", "inst", "obj", "unknown-class", "numpy-load", "object-dtype", "tuple-key",
         "dtype-flags"],
)  # fmt: skip
def test_pickle_opcodes_and_globals_outside_the_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], payload: bytes, pattern: str
) -> None:
    _write_gz(tmp_path / "data.pz", payload)
    run = run_cli(capsys, "data", "info", tmp_path / "data.pz")
    assert_error(run, 1, r"data\.pz: refused to load: the pickle " + pattern)


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        ("label", ["open"], r"record 1 label must be a string or an integer, got list"),
        ("person", {"id": 1}, r"record 1 person must be a string or an integer, got dict"),
        ("label", "x" * 2000, r"record 1 label is longer than 1,024 characters"),
    ],
)
def test_pz_labels_and_persons_are_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: object, pattern: str
) -> None:
    records = _records(4)
    records[1][field] = value
    path = _write_gz(tmp_path / "data.pz", pickle.dumps(records, protocol=4))
    assert_error(run_cli(capsys, "data", "info", path), 1, r"data\.pz: " + pattern)


# ---- .npz ------------------------------------------------------------------------------------


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


_GOOD: dict[str, np.ndarray] = {
    "images": np.random.default_rng(0).random((8, 1, 32, 32), dtype=np.float32),
    "labels": np.arange(8) % 2,
    "classes": np.array(["open", "closed"]),
    "persons": np.array([f"p{i // 2}" for i in range(8)]),
}


def _unused_member_npz(path: Path, zeros: int) -> Path:
    """The good data set plus `unused.npy`: a header claiming 2^30 float32 (4 GiB) and `zeros`
    bytes of zeros; the file stays about zeros / 1000 bytes."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824,), }"
    head = b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + header.ljust(117).encode() + b"\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, value in _GOOD.items():
            zf.writestr(f"{key}.npy", _npy(value))
        with zf.open("unused.npy", "w", force_zip64=True) as member:
            member.write(head)
            chunk = bytes(1 << 20)
            for _ in range(zeros >> 20):
                member.write(chunk)
    return path


def test_npz_unused_member_is_never_decompressed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A valid data set with an unused member that claims 4 GiB and holds 64 MiB of zeros:
    the old reader decompressed every member (and failed on this one)."""
    path = _unused_member_npz(tmp_path / "d.npz", 64 << 20)
    assert path.stat().st_size < 200_000
    rc, out, err = run_cli(capsys, "data", "info", path, "--json")
    assert rc == 0 and err == "", err
    assert '"n_images": 8' in out


def test_npz_unused_member_in_bounded_memory(tmp_path: Path) -> None:
    path = _unused_member_npz(tmp_path / "d.npz", 64 << 20)
    rc, out, err = limited_cli("data", "info", path)
    assert rc == 0 and "Traceback" not in err, err
    assert out.splitlines()[0].split() == ["images", "8"]


def test_npz_with_no_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.savez(
        tmp_path / "empty.npz",
        images=np.zeros((0, 1, 32, 32), np.float32),
        labels=np.zeros(0, np.int64),
        classes=np.array(["open", "closed"]),
        persons=np.zeros(0, "<U1"),
    )
    run = run_cli(capsys, "data", "convert", tmp_path / "empty.npz", "--out", tmp_path / "o.npz")
    assert_error(run, 1, r"empty\.npz: holds no images")
    assert_only(tmp_path, "empty.npz")


def test_npz_persons_header_checked_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Person ids of 5,000 characters each are refused from the header."""
    with zipfile.ZipFile(tmp_path / "d.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        for key, value in _GOOD.items():
            if key == "persons":
                value = np.array(["p" * 5000] * 8)
            zf.writestr(f"{key}.npy", _npy(value))
    run = run_cli(capsys, "data", "info", tmp_path / "d.npz")
    assert_error(run, 1, r"persons\.npy holds names of up to 5,000 characters; at most 1,024")


def test_saving_an_empty_dataset_is_refused(tmp_path: Path) -> None:
    empty = make_dataset(8, n_persons=2).subset([])  # an empty subset is fine in memory
    assert len(empty) == 0
    with pytest.raises(DataError, match=r"refusing to write .*e\.npz: the data set holds no"):
        empty.save(tmp_path / "e.npz")
    assert_only(tmp_path)


# ---- synthetic n, folders, FIFOs -------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["data", "info", "synthetic:n=1000000000"],
        ["data", "info", "synthetic:n=1e9"],
        ["data", "synth", "--n", "1000000000", "--out", "OUT"],
    ],
    ids=["info-1000000000", "info-1e9", "synth"],
)
def test_synthetic_n_of_a_billion(tmp_path: Path, args: list[str]) -> None:
    argv = [tmp_path / "s.npz" if a == "OUT" else a for a in args]
    run = limited_cli(*argv)
    assert_error(run, 2, r"^error: n must be at most 1,000,000, got 1,000,000,000$")
    assert_only(tmp_path)


def test_folder_with_too_many_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(robusteye.data.folder, "MAX_IMAGES", 3)
    root = image_folder(tmp_path / "eyes")  # 2 open + 2 closed
    run = run_cli(capsys, "data", "info", root)
    assert_error(run, 1, r"eyes: more than 3 images; robusteye reads at most 3")


@pytest.mark.parametrize("name", ["eyes", "eyes.npz", "data.pz"])
def test_data_source_fifo_is_refused_instead_of_hanging(tmp_path: Path, name: str) -> None:
    os.mkfifo(tmp_path / name)
    run = limited_cli("data", "info", tmp_path / name, limit=False)
    assert_error(run, 2, rf"{name}: not a regular file \(a FIFO\)")
