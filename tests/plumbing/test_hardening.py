"""Issue 31, the unit-level rows: the shared mechanisms behind the third hardening pass
(escaping for the terminal, CSV cells, outputs over inputs, Ray addresses, the worker cap,
duplicate YAML keys, the .npz writer's limits, the pz conversion), each checked on its own.
The CLI-level rows are in tests/cli/test_bad_input_third.py.
"""

from __future__ import annotations

import csv
import errno
import os
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from robusteye.cli.table import format_table
from robusteye.data import EyeDataset
from robusteye.errors import DataError, RobustEyeError, UsageError, path_error
from robusteye.experiments.backends import InProcess, RunOptions, ray_endpoint
from robusteye.experiments.progress import Progress
from robusteye.io import check_not_input, csv_cell, write_csv
from robusteye.readers import parse_yaml
from robusteye.text import printable, printable_text

# ---- 10: escaping for the terminal ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name.png", "plain name.png"),
        ("évolution ✓", "évolution ✓"),
        ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("\x1b[2J\x9b31m\x7f", "\\x1b[2J\\x9b31m\\x7f"),
        ("abc\u202edef\u2028", "abc\\u202edef\\u2028"),
        ("bad\udcffbyte", "bad\\udcffbyte"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_text_keeps_the_layout_only() -> None:
    assert printable_text("a\tb\x1b[2J\nc") == "a\tb\\x1b[2J\nc"


def test_table_cells_cannot_forge_rows() -> None:
    table = format_table(("class", "n"), [("open\nfake 1", 3), ("\x1b[31mred", 4)])
    assert table.splitlines() == [
        "       class  n",
        "open\\nfake 1  3",
        " \\x1b[31mred  4",
    ]


def test_progress_lines_escaped() -> None:
    logged: list[str] = []
    with Progress(1, 0, 1, False, logged.append) as bar:
        bar.finished({}, "cell k\x1b[2J: done\nforged")
    assert logged == ["cell k\\x1b[2J: done\\nforged"]


# ---- 8: a path too long -----------------------------------------------------------------------


def test_path_error_names_the_path_shortened() -> None:
    err = OSError(errno.ENAMETOOLONG, "File name too long", "x" * 5000)
    mapped = path_error(err)
    assert isinstance(mapped, UsageError) and mapped.exit_code == 2
    assert str(mapped).startswith("file name too long: xxxx") and "(5,000 characters" in str(mapped)
    assert len(str(mapped)) < 200
    assert path_error(OSError(errno.EACCES, "Permission denied", "x")) is None


# ---- 12: CSV cells ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://e","c")', '\'=HYPERLINK("http://e","c")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("\t=1", "'\t=1"),
        ("-", "'-"),
        ("-0.5", "-0.5"),
        ("+1e-3", "+1e-3"),
        ("-inf", "-inf"),
        (-0.5, "-0.5"),
        (0.123456789, "0.123457"),
        (-3, "-3"),
        (None, ""),
        ("wrn_16_1", "wrn_16_1"),
    ],
)
def test_csv_cell(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_write_csv_neutralises_header_and_cells(tmp_path: Path) -> None:
    rows = [{"trial": "t0", "=HYPERLINK(1)": "@x", "lr": -0.5}, {"trial": "t1", "lr": None}]
    path = write_csv(tmp_path / "trials.csv", rows)
    with path.open(newline="") as fh:
        read = list(csv.reader(fh))
    assert read == [["trial", "'=HYPERLINK(1)", "lr"], ["t0", "'@x", "-0.5"], ["t1", "", ""]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.csv"]


# ---- 22: an output over an input --------------------------------------------------------------


def test_check_not_input(tmp_path: Path) -> None:
    data = tmp_path / "d.npz"
    data.write_bytes(b"x")
    os.link(data, tmp_path / "hard.npz")
    (tmp_path / "ck").mkdir()
    for out in (data, tmp_path / "hard.npz", tmp_path / "sub" / ".." / "d.npz"):
        with pytest.raises(UsageError, match="is the input"):
            check_not_input(out, inputs=[str(data), None, "synthetic:n=60"])
    with pytest.raises(UsageError, match="inside the input folder"):
        check_not_input(tmp_path / "ck" / "config.json", folders=[tmp_path / "ck"])
    check_not_input(tmp_path / "out.json", inputs=[data], folders=[tmp_path / "ck", None])


# ---- 6, 9 and 20: Ray addresses and workers ---------------------------------------------------


@pytest.mark.parametrize(
    ("address", "endpoint"),
    [
        (None, None),
        ("auto", None),
        ("10.0.0.1:6380", ("10.0.0.1", 6380)),
        ("head", ("head", 6379)),
        ("ray://head.example.org", ("head.example.org", 10001)),
        ("ray://[::1]:10002", ("::1", 10002)),
    ],
)
def test_ray_endpoint(address: str | None, endpoint: tuple[str, int] | None) -> None:
    assert ray_endpoint(address) == endpoint


@pytest.mark.parametrize("address", ["garbage address", "host:0", "host:65536", "http://x:1", ""])
def test_malformed_ray_address_refused_when_the_options_are_made(address: str) -> None:
    with pytest.raises(UsageError, match="--ray-address expects auto, HOST:PORT"):
        RunOptions(backend="ray", ray_address=address)


def test_ray_cluster_that_does_not_answer() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    options = RunOptions(backend="ray", ray_address=f"127.0.0.1:{port}")
    with pytest.raises(RobustEyeError, match=rf"cannot reach the Ray cluster at 127.0.0.1:{port}"):
        options.check_device()


def test_workers_capped_and_said(tiny_ds: EyeDataset) -> None:
    logged: list[str] = []
    options = RunOptions(workers=10_000)
    with options.running(tiny_ds, 2, 1, logged.append) as (runner, _):
        assert isinstance(runner, InProcess)
    assert logged == [f"workers: 10000 asked, 1 used ({os.cpu_count()} CPU cores, 1 tasks to run)"]


# ---- 16: duplicate YAML keys ------------------------------------------------------------------


def test_yaml_duplicate_keys() -> None:
    with pytest.raises(DataError, match=r"spec: bad \(duplicate key 'k' on line 3\)"):
        parse_yaml("a:\n  k: 1\n  k: 2\n", "spec: bad")
    merged = parse_yaml("base: &b {p: 1, q: 2}\nd:\n  <<: *b\n  p: 3\n", "spec: bad")
    assert merged["d"] == {"p": 3, "q": 2}  # a merged key may be overridden


# ---- 17: the .npz writer applies the reader's limits ------------------------------------------


def test_npz_writer_refuses_what_the_reader_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("robusteye.data.npz.MAX_NPZ_CLASSES", 1)
    ds = EyeDataset(
        images=torch.zeros(2, 1, 32, 32),
        labels=torch.tensor([0, 1]),
        classes=("open", "closed"),
        persons=("a", "b"),
    )
    with pytest.raises(DataError, match=r"refusing to write .*classes\.npy declares 2 classes"):
        ds.save(tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


# ---- 4: the pz conversion ---------------------------------------------------------------------


def test_pz_conversion_leaves_shared_crops_alone(tmp_path: Path) -> None:
    """Crops are scaled in a copy: a crop listed twice converts the same twice, unchanged."""
    from robusteye.data.pz import MAX_PZ_CROP_PIXELS, MAX_PZ_TOTAL_PIXELS, load_pz

    assert MAX_PZ_CROP_PIXELS < MAX_PZ_TOTAL_PIXELS
    crop = np.linspace(-2.0, 3.0, 48 * 40).reshape(48, 40)
    records = [{"crop": crop, "label": "open", "person": "a"}] * 2
    records.append({"crop": np.zeros((8, 8)), "label": "closed", "person": "b"})
    (tmp_path / "d.pz").write_bytes(pickle.dumps(records, protocol=4))
    ds = load_pz(tmp_path / "d.pz")
    assert torch.equal(ds.images[0], ds.images[1])
    assert ds.meta["pixel_map"] == {"kind": "affine", "offset": -2.0, "scale": 5.0}
    assert crop.min() == -2.0 and crop.max() == 3.0


# ---- issue 30 item 7: names that say what they bound ------------------------------------------


def test_limit_names() -> None:
    import robusteye.readers
    from robusteye.data.imageio import MAX_IMAGE_PIXELS
    from robusteye.data.npz import MAX_NPZ_CLASSES
    from robusteye.models.config import MAX_MODEL_CLASSES

    assert (MAX_IMAGE_PIXELS, MAX_NPZ_CLASSES, MAX_MODEL_CLASSES) == (64_000_000, 10_000, 1000)
    assert not hasattr(robusteye.readers, "is_regular")
