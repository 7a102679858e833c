"""Helpers of the bad-input tests (issue 7): run the CLI in-process, check its error line.

An error row asserts one `error: ...` line on stderr naming the problem, the exit code (2 for
usage errors, 1 for bad data or runtime errors), no traceback, and no partial output: the
folder holds only the inputs the test wrote. `xfail` rows are reported bugs in files the
bad-input suite does not own; they are strict, so they fail once fixed.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from robusteye.cli import main

Run = tuple[int, str, str]


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    """`robusteye ARGS` in-process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_error(run: Run, code: int, pattern: str, *, log_lines: bool = False) -> None:
    """Exit `code` and exactly one stderr line `error: ...` matching `pattern`, no traceback.

    `log_lines` allows progress lines before it (`robusteye experiment` logs to stderr).
    """
    rc, _, err = run
    lines = err.splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert "Traceback" not in err, err
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert log_lines or len(lines) == 1, err
    assert re.search(pattern, errors[0]), f"{pattern!r} not in {errors[0]!r}"
    assert rc == code, err


def assert_only(folder: Path, *names: str) -> None:
    """`folder` holds exactly `names`: no output and no stray temporary file was left."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def write_png(path: Path, value: int = 128, size: int = 24) -> Path:
    """A uniform gray PNG (its folder is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), value).save(path)
    return path


def image_folder(root: Path, counts: dict[str, int] | None = None) -> Path:
    """`root/<label>/s000<i>_<label>.png`, 24 x 24 noise, `counts` per label (open/closed: 2)."""
    rng = np.random.default_rng(0)
    for label, k in (counts or {"open": 2, "closed": 2}).items():
        (root / label).mkdir(parents=True)
        for i in range(k):
            noise = rng.integers(0, 256, (24, 24), dtype=np.uint8)
            Image.fromarray(noise).save(root / label / f"s000{i}_{label}.png")
    return root


def blank_png(path: Path, width: int, height: int) -> Path:
    """A valid 1-bit black PNG of any size, streamed through zlib (tiny on disk and in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def info_json(capsys: pytest.CaptureFixture[str], source: Path, *options: str) -> dict[str, Any]:
    """`robusteye data info SOURCE --json`, which must succeed."""
    rc, out, err = run_cli(capsys, "data", "info", source, "--json", *options)
    assert rc == 0 and "Traceback" not in err, err
    return json.loads(out)


def reported(reason: str) -> pytest.MarkDecorator:
    """A strict xfail for a reported bug outside the bad-input suite's files."""
    return pytest.mark.xfail(strict=True, reason=f"reported: {reason}")
