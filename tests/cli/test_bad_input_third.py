"""Bad input, third pass (issue 31): oversized data.pz crops, Ray addresses, over-long paths,
terminal and line injection, duplicate YAML keys, what `data convert` writes, huge previews,
`--input-size`, outputs over inputs, and empty list items. Every row runs the real CLI
in-process (tests/cli/bad_input.py); the unit-level rows are in tests/plumbing/test_hardening.py.
"""

from __future__ import annotations

import gzip
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import yaml

from robusteye.models import create_model, save_model
from tests.cli.bad_input import assert_error, assert_only, image_folder, run_cli, write_png

SPEC = {
    "name": "tiny",
    "data": "synthetic:n=60",
    "folds": 2,
    "models": ["cnn"],
    "train": {"epochs": 1, "batch_size": 32},
    "regimes": [{"kind": "standard"}],
    "evaluation": {"attacks": [{"name": "fgsm", "eps": [0.03]}], "limit": 8, "examples": 0},
}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cnn checkpoint with the study's four classes."""
    return save_model(create_model("cnn", 4, seed=0), tmp_path_factory.mktemp("ck") / "ck")


def _spec(folder: Path, text: str | None = None) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(text if text is not None else yaml.safe_dump(SPEC))
    return path


# ---- 4: one huge crop in a data.pz ------------------------------------------------------------


def test_pz_crop_over_the_per_crop_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crop above the per-crop bound is refused before it is converted (the 16,384 x 16,384
    uint8 crop of the issue, 261 KB on disk, peaked at 3.7 GB; here the bound is lowered)."""
    monkeypatch.setattr("robusteye.data._pz_records.MAX_PZ_CROP_PIXELS", 10_000)
    crop = np.zeros((101, 100), np.uint8)
    with gzip.open(tmp_path / "big.pz", "wb") as fh:
        pickle.dump([{"crop": crop, "label": "open", "person": "p"}], fh, protocol=4)
    run = run_cli(capsys, "data", "info", tmp_path / "big.pz")
    assert_error(run, 1, r"big\.pz: record 0 crop is 101 x 100 pixels; .* at most 10,000 per crop")


# ---- 6 and 9: Ray addresses -------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_ray_address_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """6: a closed port is refused at once (it hung for minutes in `ray.init`), before the
    run folder is made."""
    address = f"127.0.0.1:{_closed_port()}"
    run = run_cli(
        capsys, "experiment", _spec(tmp_path), "--backend", "ray", "--ray-address", address,
        "--out", tmp_path / "run", "--no-progress", "--no-report",
    )  # fmt: skip
    assert_error(run, 1, rf"cannot reach the Ray cluster at {address} \(", log_lines=True)
    assert_only(tmp_path, "tiny.yaml")


@pytest.mark.parametrize("address", ["garbage address", "ray://host:99999", "host:port"])
def test_malformed_ray_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], address: str
) -> None:
    """9: a malformed address is a usage error naming the forms allowed (a ValueError
    traceback from Ray before)."""
    run = run_cli(
        capsys, "experiment", _spec(tmp_path), "--backend", "ray", "--ray-address", address,
        "--out", tmp_path / "run",
    )  # fmt: skip
    assert_error(run, 2, r"--ray-address expects auto, HOST:PORT or ray://HOST:PORT, got")
    assert_only(tmp_path, "tiny.yaml")


# ---- 8: over-long paths -----------------------------------------------------------------------

LONG_NAME = "a" * 300
LONG_PATH = "/tmp/" + "/".join(["b" * 200] * 25)  # 5,029 characters


@pytest.mark.parametrize(
    "args",
    [
        ("train", "--model", "cnn", "--data", "synthetic:n=8", "--out", LONG_NAME),
        ("train", "--model", "cnn", "--data", LONG_NAME, "--out", "run"),
        ("train", "--spec", LONG_NAME, "--out", "run"),
        ("experiment", LONG_NAME),
        ("select", LONG_NAME),
        ("predict", "CK", LONG_NAME),
        ("evaluate", LONG_NAME, "--data", "synthetic:n=60"),
        ("evaluate", "CK", "--data", LONG_NAME),
        ("evaluate", "CK", "--data", LONG_PATH),
        ("data", "info", LONG_NAME),
        ("data", "info", LONG_PATH),
        ("data", "synth", "--n", "8", "--out", f"{LONG_NAME}/x.npz"),
        ("inspect", LONG_NAME),
        ("report", LONG_NAME),
    ],
    ids=lambda a: " ".join(x[:12] for x in a),
)
def test_path_too_long(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    checkpoint: Path,
    args: tuple[str, ...],
) -> None:
    """8: a 300-character name or a 5,000-character path is one usage line naming the path
    (shortened), not an `OSError: [Errno 36]` traceback, and nothing is written."""
    monkeypatch.chdir(tmp_path)
    run = run_cli(capsys, *(str(checkpoint) if a == "CK" else a for a in args))
    assert_error(run, 2, r"file name too long: .{20,}\.\.\..* \([0-9,]+ characters", log_lines=True)
    assert len(run[2].splitlines()[-1]) < 200
    assert_only(tmp_path)


# ---- 10: terminal and line injection ----------------------------------------------------------

EVIL = "evil\tclosed\topen 0.999\nb.png"
OSC = "\x1b]0;pwned\x07"


def test_predict_file_name_cannot_forge_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10: one output line per image, its name's tab and newline escaped, and class names
    with an OSC sequence escaped; --json stays exact."""
    ck = save_model(
        create_model("cnn", 2, seed=0), tmp_path / "ck", classes=[f"{OSC}open", "closed"]
    )
    write_png(tmp_path / "imgs" / EVIL)
    rc, out, err = run_cli(capsys, "predict", ck, tmp_path / "imgs")
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1 and lines[0].count("\t") == 2
    assert "evil\\tclosed\\topen 0.999\\nb.png" in lines[0]
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07open" in out
    rc, out, _ = run_cli(capsys, "predict", ck, tmp_path / "imgs", "--json")
    assert rc == 0 and "\x1b" not in out and "\\u001b]0;pwned\\u0007open" in out


def test_names_reach_the_terminal_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """10: a class name with OSC and CSI sequences in `data info`, and a file name in an
    error line, are printed as escapes."""
    np.savez(
        tmp_path / "evil.npz",
        images=np.zeros((4, 1, 32, 32), np.float32),
        labels=np.array([0, 1, 0, 1]),
        classes=np.array([f"{OSC}open", "clo\x1b[2Jsed\nfake 99"]),
        persons=np.array(["a", "b", "c", "d"]),
    )
    rc, out, err = run_cli(capsys, "data", "info", tmp_path / "evil.npz", "--persons")
    assert rc == 0, err
    assert "\x1b" not in out and "\\x1b]0;pwned\\x07open" in out
    assert "clo\\x1b[2Jsed\\nfake 99" in out and not any(
        line.startswith("fake") for line in out.splitlines()
    )
    run = run_cli(capsys, "data", "info", tmp_path / "no\x1b[2Jsuch.npz")
    assert_error(run, 2, r"no such file or folder: .*no\\x1b\[2Jsuch\.npz")


def test_dry_run_cell_ids_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """10: `experiment --dry-run` prints cell ids made of a spec's model key escaped (or, where
    such a key is refused, an error line naming it escaped)."""
    models = [{"name": "cnn", "key": "k\x1b[2Jx"}]
    spec = _spec(tmp_path, yaml.safe_dump({**SPEC, "models": models}))
    _, out, err = run_cli(capsys, "experiment", spec, "--dry-run")
    assert "\x1b" not in out + err and "k\\x1b[2Jx" in out + err


# ---- 16: duplicate keys in a YAML spec --------------------------------------------------------


def test_spec_with_a_key_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """16: two `regimes:` keys are refused (the second silently won before)."""
    text = yaml.safe_dump(SPEC) + "regimes: [{kind: adversarial}]\n"
    run = run_cli(capsys, "experiment", _spec(tmp_path, text), "--dry-run")
    assert_error(run, 2, r"tiny\.yaml: not valid YAML \(duplicate key 'regimes' on line \d+\)")


# ---- 17: data convert writes only what data info reads ----------------------------------------


def test_convert_refuses_names_the_reader_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """17: 5,000-character person ids from a manifest: `data convert` wrote an .npz that
    `data info` refused; now it refuses to write it."""
    root = image_folder(tmp_path / "imgs")
    rows = [f"{p.relative_to(root)},{p.parent.name},{'p' * 5000}{i}" for i, p in
            enumerate(sorted(root.rglob("*.png")))]  # fmt: skip
    (root / "manifest.csv").write_text("file,label,person_id\n" + "\n".join(rows) + "\n")
    run = run_cli(capsys, "data", "convert", root, "--out", tmp_path / "x.npz")
    assert_error(run, 1, r"refusing to write .*x\.npz: persons\.npy holds names of up to 5,001")
    assert_only(tmp_path, "imgs")


# ---- 18: a preview of many classes ------------------------------------------------------------


def test_preview_of_many_classes_is_bounded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """18: the montage holds at most MAX_PREVIEW_CELLS crops and says which classes it
    shows (10,000 classes x 40 took 92 s and 3.5 GB; here the bound is lowered)."""
    monkeypatch.setattr("robusteye.data.preview.MAX_PREVIEW_CELLS", 8)
    n = 24
    np.savez(
        tmp_path / "many.npz",
        images=np.zeros((n, 1, 32, 32), np.float32),
        labels=np.arange(n) % 12,
        classes=np.array([f"c{i}" for i in range(12)]),
        persons=np.array([f"p{i}" for i in range(n)]),
    )
    rc, _, err = run_cli(
        capsys, "data", "preview", tmp_path / "many.npz", "--per-class", "4",
        "--out", tmp_path / "p.png",
    )  # fmt: skip
    assert rc == 0, err
    assert err == "note: showing the first 2 of 12 classes (a preview holds at most 8 crops)\n"
    assert (tmp_path / "p.png").stat().st_size > 0


# ---- 19: inspect --input-size -----------------------------------------------------------------


def test_inspect_input_size_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    """19: --input-size 100000 asked for 40 GB; now a usage line giving the range."""
    run = run_cli(capsys, "inspect", "wrn_16_1", "--input-size", "100000")
    assert_error(run, 2, r"--input-size.*100000 is not in the range 8<=x<=128")


# ---- 22: an output over an input --------------------------------------------------------------


ATTACK_OVER_WEIGHTS = ("attack", "CK", "--data", "synthetic:n=60", "--eps", "0.01", "--out",
                       "CK/model.safetensors")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (("evaluate", "CK", "--data", "synthetic:n=60", "--out", "CK/config.json"), "inside"),
        (ATTACK_OVER_WEIGHTS, "inside"),
        (("evaluate", "CK", "--data", "DATA", "--out", "DATA"), "is the input"),
        (("data", "convert", "DATA", "--out", "DATA"), "is the input"),
        (("data", "preview", "DATA", "--out", "LINK.png"), "is the input"),
    ],
)
def test_output_never_replaces_an_input(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    checkpoint: Path,
    args: tuple[str, ...],
    pattern: str,
) -> None:
    """22: `--out` naming an input, a file in an input checkpoint, or a link to an input is
    refused before any work (it overwrote the checkpoint, rc 0)."""
    data = run_cli(capsys, "data", "synth", "--n", "8", "--out", tmp_path / "d.npz")
    assert data[0] == 0
    (tmp_path / "LINK.png").symlink_to(tmp_path / "d.npz")
    before = {p: p.read_bytes() for p in [*checkpoint.iterdir(), tmp_path / "d.npz"]}
    names = {"CK": str(checkpoint), "DATA": str(tmp_path / "d.npz")}
    rendered = [
        names.get(a, a).replace("CK/", f"{checkpoint}/").replace("LINK", str(tmp_path / "LINK"))
        for a in args
    ]
    run = run_cli(capsys, *rendered)
    assert_error(run, 2, rf"--out .* {pattern}")
    assert {p: p.read_bytes() for p in before} == before


def test_run_folder_inside_the_data_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """22: a run folder inside its image folder would make the report's PNGs data (`select`
    makes the same check)."""
    root = image_folder(tmp_path / "imgs")
    run = run_cli(capsys, "experiment", _spec(tmp_path), "--data", root, "--out", root / "run")
    assert_error(run, 2, r"--out .*imgs/run lies inside the input folder .*imgs; refusing")
    assert sorted(p.name for p in root.iterdir()) == ["closed", "open"]


# ---- cosmetic: empty option values and list items ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (("attack", "CK", "--data", "synthetic:n=60", "--eps", ""), r"--eps expects a .*got ''"),
        (("attack", "CK", "--data", "synthetic:n=60", "--eps", "0.01,,0.02"), "empty item"),
        (("attack", "CK", "--data", "synthetic:n=60", "--snr", "30,"), "--snr has an empty"),
        (("certify", "CK", "--data", "synthetic:n=60", "--radius", ""), "--radius expects"),
        (("evaluate", "CK", "--data", "synthetic:n=60", "--classes", "open,,closed"), "empty"),
        (("data", "info", ""), "empty data source"),
        (("train", "--model", "cnn", "--data", "", "--out", "run"), "empty data source"),
    ],
)
def test_empty_values_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    checkpoint: Path,
    args: tuple[str, ...],
    pattern: str,
) -> None:
    """An empty --eps said "give either eps or snr values, not both", an empty --radius used
    the default, `0.01,,0.02` dropped the empty item, and `--data ''` scanned the current
    folder: each is now a usage line."""
    monkeypatch.chdir(tmp_path)
    run = run_cli(capsys, *(str(checkpoint) if a == "CK" else a for a in args))
    assert_error(run, 2, pattern, log_lines=True)
    assert_only(tmp_path)
