"""Bad input, rows 7-9: a class absent from a fold, malformed .npz files, data.pz pickles
with forbidden globals or damage. Every row runs the real CLI in-process (tests/bad_input.py).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from tests.cli.bad_input import assert_error, assert_only, run_cli

# ---- row 7: a class absent from a fold --------------------------------------------------------

TINY_SPEC: dict[str, Any] = {
    "name": "absent",
    "folds": 2,
    "models": ["wrn_16_1"],
    "train": {"epochs": 1, "batch_size": 8},
    "regimes": [{"kind": "standard"}],
    "evaluation": {"attacks": [{"name": "fgsm", "eps": [0.01]}], "limit": 8, "examples": 0},
}


def _one_person_class(tmp_path: Path) -> tuple[Path, Path]:
    """An open/closed .npz of 6 persons where only p0 has closed eyes, and a 2-fold spec."""
    persons = [f"p{i % 6}" for i in range(24)]
    np.savez(
        tmp_path / "one.npz",
        images=np.random.default_rng(0).random((24, 1, 32, 32), dtype=np.float32),
        labels=np.array([int(p == "p0") for p in persons]),
        classes=np.array(["open", "closed"]),
        persons=np.array(persons),
    )
    spec = tmp_path / "absent.yaml"
    spec.write_text(yaml.safe_dump({**TINY_SPEC, "data": str(tmp_path / "one.npz")}))
    return spec, tmp_path / "run"


def test_class_absent_from_a_fold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Row 7: a class of one person cannot be on both sides of 2 folds: one line naming both."""
    spec, run_dir = _one_person_class(tmp_path)
    run = run_cli(capsys, "experiment", spec, "--out", run_dir, "--no-progress", "--no-report")
    pattern = (
        r"class 'closed' has no images in the training persons of fold 0 \(of 2\): "
        r"its 4 image\(s\) come from 1 person\(s\)"
    )
    assert_error(run, 1, pattern)


def test_class_absent_from_a_fold_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Row 7: the failed run leaves no run folder behind."""
    spec, run_dir = _one_person_class(tmp_path)
    run_cli(capsys, "experiment", spec, "--out", run_dir, "--no-progress", "--no-report")
    assert_only(tmp_path, "one.npz", "absent.yaml")


# ---- row 8: malformed .npz --------------------------------------------------------------------

_GOOD_NPZ: dict[str, np.ndarray] = {
    "images": np.random.default_rng(0).random((8, 1, 32, 32), dtype=np.float32),
    "labels": np.arange(8) % 2,
    "classes": np.array(["open", "closed"]),
    "persons": np.array([f"p{i // 2}" for i in range(8)]),
}


def _with(key: str, fn: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    return {**_GOOD_NPZ, key: fn(_GOOD_NPZ[key])}


def _poke(x: np.ndarray, value: float) -> np.ndarray:
    x = x.copy()
    x[3, 0, 5, 7] = value
    return x


@pytest.mark.parametrize(
    ("arrays", "pattern"),
    [
        (_with("images", lambda x: _poke(x, np.nan)), r"images contain NaN or Inf"),
        (_with("images", lambda x: _poke(x, np.inf)), r"images contain NaN or Inf"),
        (
            _with("images", lambda x: (x * 255).astype(np.uint8)),
            r"images must be float32, got uint8",
        ),
        (_with("images", lambda x: x.astype(np.float64)), r"images must be float32, got float64"),
        (_with("images", lambda x: x[:, 0]), r"shape N x 1 x 32 x 32, got \(8, 32, 32\)"),
        (_with("images", lambda x: x.repeat(3, 1)), r"shape N x 1 x 32 x 32, got \(8, 3, 32, 32\)"),
        (_with("images", lambda x: x[..., :24, :24]), r"got \(8, 1, 24, 24\)"),
        (_with("images", lambda x: x * 2), r"image values must lie in \[0, 1\], got \[.*, 2"),
        (_with("labels", lambda y: y * 1.0), r"labels must be integers, got float64"),
        (_with("labels", lambda y: y + 5), r"labels must lie in \[0, 1\], got \[5, 6\]"),
        (_with("labels", lambda y: y[:7]), r"lengths differ: 8 images, 7 labels, 8 person ids"),
        (_with("persons", lambda p: p.astype(object)), r"refused \(Object arrays cannot be loaded"),
        (_with("classes", lambda c: c[:1]), r"need at least 2 classes, got \['open'\]"),
        ({k: v for k, v in _GOOD_NPZ.items() if k != "persons"}, r"missing persons"),
    ],
    ids=[
        "nan",
        "inf",
        "uint8-images",
        "float64-images",
        "Nx32x32",
        "Nx3x32x32",
        "24x24",
        "values-above-1",
        "float-labels",
        "label-out-of-range",
        "lengths",
        "object-array",
        "one-class",
        "missing-key",
    ],
)
def test_malformed_npz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arrays: dict[str, np.ndarray], pattern: str
) -> None:
    """Row 8: NaN / Inf, wrong dtype or shape and other broken fields, one line each."""
    np.savez(tmp_path / "bad.npz", **arrays)  # type: ignore[arg-type]
    run = run_cli(capsys, "data", "convert", tmp_path / "bad.npz", "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"bad\.npz: .*" + pattern)
    assert_only(tmp_path, "bad.npz")


def _huge_member(path: Path) -> None:
    """An .npz whose images header declares 10^11 crops (numpy cannot allocate them)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 1, 32, 32), }"
    header = header.ljust(117) + "\n"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + header.encode())
        for key in ("labels", "classes", "persons"):
            buf = io.BytesIO()
            np.save(buf, _GOOD_NPZ[key])
            z.writestr(f"{key}.npy", buf.getvalue())


@pytest.mark.parametrize(
    ("write", "pattern"),
    [
        (lambda p: p.write_bytes(b"PK\x03\x04 not really a zip"), r"not a readable \.npz file"),
        (lambda p: np.save(open(p, "wb"), np.zeros(3)), r"one \.npy array, not an \.npz"),  # noqa: SIM115
        (_huge_member, r"not a readable \.npz file \(.*"),
        (lambda p: p.write_bytes(b""), r"not a readable \.npz file"),
    ],
    ids=["not-a-zip", "npy-inside", "header-declares-1e11-crops", "empty"],
)
def test_unreadable_npz(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    write: Callable[[Path], object],
    pattern: str,
) -> None:
    """Row 8: files named .npz that are not an .npz (or that would need terabytes)."""
    write(tmp_path / "bad.npz")
    run = run_cli(capsys, "data", "convert", tmp_path / "bad.npz", "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"bad\.npz: .*" + pattern)
    assert_only(tmp_path, "bad.npz")


# ---- row 9: pickles with forbidden globals ------------------------------------------------------


class _Reduce:
    """An object whose unpickling calls `func(*args)`: the classic pickle attack."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, _Reduce]:
    """Each payload creates `marker` when a plain unpickler loads it."""
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": _Reduce(os.system, f"touch '{marker}'"),
        "builtins.eval": _Reduce(eval, touch),
        "builtins.exec": _Reduce(exec, touch),
        "subprocess.Popen": _Reduce(subprocess.Popen, ["touch", str(marker)]),
        "io.open": _Reduce(io.open, str(marker), "w"),
    }


#: The name the refusal quotes (protocols 0-2 write Python 2 module names, such as commands).
_PAYLOAD_NAMES = {
    "os.system": r"(os|posix)\.system",
    "builtins.eval": r"(builtins|__builtin__)\.eval",
    "builtins.exec": r"(builtins|__builtin__)\.exec",
    "subprocess.Popen": r"(subprocess|commands)\.Popen",
    "io.open": r"io\.open",
}


def _records(payload: object) -> list[dict[str, Any]]:
    crop = np.zeros((32, 32), np.float32)
    return [{"crop": crop, "label": "open", "person": "p0"}, {"crop": crop, "label": payload}]


def test_payloads_run_under_plain_pickle(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Control: every payload below really creates its file when unpickled without care."""
    folder = tmp_path_factory.mktemp("control")
    for name, payload in _payloads(folder / "marker").items():
        obj = pickle.loads(pickle.dumps(payload))  # the point of the control
        if isinstance(obj, subprocess.Popen):
            obj.wait()
        assert (folder / "marker").exists(), name
        (folder / "marker").unlink()


@pytest.mark.parametrize("protocol", [0, 2, pickle.DEFAULT_PROTOCOL, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("name", list(_PAYLOAD_NAMES))
def test_forbidden_pickle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, protocol: int
) -> None:
    """Row 9: a data.pz asking for os.system, eval, exec, Popen or open is refused unrun."""
    marker = tmp_path / "PWNED"
    with gzip.open(tmp_path / "data.pz", "wb") as fh:
        pickle.dump(_records(_payloads(marker)[name]), fh, protocol=protocol)
    run = run_cli(capsys, "data", "convert", tmp_path / "data.pz", "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"data\.pz: refused to load: the pickle asks for " + _PAYLOAD_NAMES[name])
    assert not marker.exists()
    assert_only(tmp_path, "data.pz")


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (gzip.compress(pickle.dumps([1, 2, 3] * 50))[:40], r"corrupt gzip data"),
        (b"\x1f\x8b" + b"\x08\x00" + bytes(6) + b"garbage", r"corrupt gzip data"),
        (gzip.compress(b"\x80\x04not a pickle at all"), r"not a valid pickle"),
        (gzip.compress(pickle.dumps({"crop": 1})), r"expected a non-empty list of crop records"),
        (gzip.compress(pickle.dumps([{"crop": np.zeros((32, 32))}])), r"record 0 is not a dict"),
        (
            gzip.compress(
                pickle.dumps([{"crop": np.full((32, 32), np.nan), "label": "open", "person": "p"}])
            ),
            r"record 0 crop contains NaN or Inf",
        ),
        (
            gzip.compress(pickle.dumps([{"crop": "abc", "label": "open", "person": "p"}])),
            r"record 0 crop must be a 2-D numeric array",
        ),
    ],
    ids=["truncated-gzip", "bad-deflate", "garbage-pickle", "not-a-list", "no-label", "nan", "str"],
)
def test_malformed_pz(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], payload: bytes, pattern: str
) -> None:
    """Row 9: a damaged data.pz is one line, whatever layer breaks."""
    (tmp_path / "data.pz").write_bytes(payload)
    run = run_cli(capsys, "data", "convert", tmp_path / "data.pz", "--out", tmp_path / "out.npz")
    assert_error(run, 1, r"data\.pz: " + pattern)
    assert_only(tmp_path, "data.pz")
