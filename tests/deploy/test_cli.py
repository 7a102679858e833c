"""`robusteye export`, and `predict` / `audit` on exported models, from the command line:
the files, the printed figures, and one error line for each bad input with nothing left
half-written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robusteye.data import EyeDataset
from tests.cli.bad_input import assert_error, run_cli
from tests.deploy.conftest import CLASSES, toy_dataset

onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(
    family_checkpoints: dict[str, Path], toy_npz: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("export") / "cnn"
    from robusteye.cli import main

    code = main([
        "export", str(family_checkpoints["cnn"]), "--out", str(out), "--int8",
        "--calibration", str(toy_npz), "--calibration-limit", "64",
    ])  # fmt: skip
    assert code == 0
    return out


def test_export_writes_the_models_and_the_report(
    family_checkpoints: dict[str, Path], toy_npz: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "deploy"
    code, stdout, err = run_cli(
        capsys, "export", family_checkpoints["wrn"], "--out", out, "--int8", "--calibration",
        toy_npz, "--audit", "--snr", "10", "--suite", "quick", "--audit-limit", "6",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "export.json", "model.int8.onnx", "model.onnx",
    ]  # fmt: skip
    assert "float ONNX vs torch" in stdout and "int8 vs float: agreement" in stdout
    assert "torch worst" in stdout and "int8 worst" in stdout
    doc = json.loads((out / "export.json").read_text())
    # no --data: parity ran on a quarter of the calibration data's persons, set aside
    assert doc["data"]["parity"]["how"].startswith("25% of the calibration data's persons")
    assert doc["data"]["calibration"]["persons"] + doc["data"]["parity"]["persons"] == 8
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == list(CLASSES) and config["input"]["shape"] == ["N", 1, 32, 32]
    assert config["source"]["weights_sha256"] == doc["source"]["weights_sha256"]
    # exporting again over an earlier export replaces it
    code, _, _ = run_cli(capsys, "export", family_checkpoints["wrn"], "--out", out)
    assert code == 0 and not (out / "model.int8.onnx").exists()


def test_predict_and_audit_take_the_exported_models(
    exported: Path, family_checkpoints: dict[str, Path], toy_npz: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ds = toy_dataset(6, seed=12)
    for i in range(6):
        pixels = (ds.images[i, 0].numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"eye{i}.png")
    labels = {}
    for model in (family_checkpoints["cnn"], exported / "model.onnx", exported / "model.int8.onnx"):
        code, stdout, _ = run_cli(capsys, "predict", model, tmp_path, "--json")
        assert code == 0
        labels[model] = [p["label"] for p in json.loads(stdout)["predictions"]]
    assert len(set(map(tuple, labels.values()))) == 1
    assert labels[family_checkpoints["cnn"]] == [CLASSES[int(k)] for k in ds.labels]
    code, stdout, _ = run_cli(
        capsys, "audit", exported / "model.int8.onnx", "--data", toy_npz, "--eps", "0.15",
        "--suite", "quick", "--limit", "8",
    )  # fmt: skip
    assert code == 0
    assert "(exported, int8, onnxruntime)" in stdout and "replayed on it (transfer)" in stdout


def test_an_audit_of_an_exported_model_needs_its_own_source(
    exported: Path, family_checkpoints: dict[str, Path], toy_npz: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    args = ("--data", toy_npz, "--eps", "0.1", "--suite", "quick", "--limit", "4")
    other = family_checkpoints["wrn"]
    run = run_cli(capsys, "audit", exported / "model.onnx", *args, "--source", other)
    assert_error(run, 2, r"--source .* is not the checkpoint .* exported from")
    moved = tmp_path / "moved"
    shutil.copytree(exported, moved)
    doc = json.loads((moved / "config.json").read_text())
    source = Path(doc["source"]["checkpoint"])
    hidden = source.with_name(source.name + ".away")
    source.rename(hidden)
    try:
        run = run_cli(capsys, "audit", moved / "model.onnx", *args)
        assert_error(run, 2, r"source checkpoint .* is not there.*give --source")
        assert run_cli(capsys, "audit", moved / "model.onnx", *args, "--source", hidden)[0] == 0
    finally:
        hidden.rename(source)
    run = run_cli(capsys, "audit", family_checkpoints["cnn"], *args, "--source", other)
    assert_error(run, 2, r"--source is for an exported \.onnx model")


def _foreign_onnx(path: Path) -> Path:
    """A valid ONNX model that robusteye did not write (no metadata)."""
    helper = onnx.helper
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None, 1, 32, 32])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None, 1, 32, 32])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_bad_exported_models_get_one_line(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crop = tmp_path / "eye.png"
    Image.new("L", (32, 32), 90).save(crop)
    foreign = _foreign_onnx(tmp_path / "foreign.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07 this is not protobuf \xff\xfe" * 10)
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes((exported / "model.onnx").read_bytes()[:5000])
    for path, pattern in (
        (foreign, r"foreign\.onnx: was not exported by robusteye"),
        (garbage, r"garbage\.onnx: is not a readable ONNX model"),
        (truncated, r"truncated\.onnx: is not a readable ONNX model"),
    ):
        assert_error(run_cli(capsys, "predict", path, crop), 1, pattern)
        assert_error(
            run_cli(capsys, "audit", path, "--data", "synthetic:n=20", "--eps", "0.1"), 1, pattern
        )


def test_bad_export_input_gets_one_line_and_writes_nothing(
    family_checkpoints: dict[str, Path], toy_npz: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    ck = family_checkpoints["cnn"]
    out = tmp_path / "out"
    # a checkpoint that is not one
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "config.json").write_text("{ not json")
    assert_error(run_cli(capsys, "export", junk, "--out", out), 1, r"junk: config\.json is not")
    # an --out that cannot be written: under a regular file
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    run = run_cli(capsys, "export", ck, "--out", blocker / "deploy")
    assert_error(run, 1, r"cannot write to .*file\.txt")
    # an --out that holds something else
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.md").write_text("mine")
    assert_error(run_cli(capsys, "export", ck, "--out", other), 2, r"not a robusteye export")
    assert sorted(p.name for p in other.iterdir()) == ["notes.md"]
    # calibration data with other classes
    ds = toy_dataset(40, seed=1)
    odd = EyeDataset(ds.images, ds.labels, ("open", "squint"), ds.persons).save(
        tmp_path / "odd.npz"
    )
    run = run_cli(capsys, "export", ck, "--out", out, "--int8", "--calibration", odd)
    assert_error(run, 2, r"--calibration .*odd\.npz.*squint")
    # --int8 alone, --snr alone
    assert_error(
        run_cli(capsys, "export", ck, "--out", out, "--int8"), 2, r"--int8 and --calibration"
    )
    assert_error(
        run_cli(capsys, "export", ck, "--out", out, "--snr", "30"), 2, r"--audit and --snr"
    )
    # int8 agreement under the threshold (calibrated on flat grey crops, whose narrow ranges
    # clip the real ones): an error with the figures, and no folder
    grey = toy_dataset(40, seed=2, offset=20)
    flat = EyeDataset(torch.full_like(grey.images, 0.5), grey.labels, CLASSES, grey.persons)
    run = run_cli(
        capsys, "export", ck, "--out", out, "--int8", "--calibration",
        flat.save(tmp_path / "grey.npz"), "--data", toy_npz,
    )  # fmt: skip
    pattern = r"int8 model agrees with the float model on 0\.\d+ of \d+ parity images, under "
    assert_error(run, 1, pattern + r"--min-agreement 0\.99 .*nothing written", log_lines=True)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
