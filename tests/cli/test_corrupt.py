"""`robusteye corrupt`, `evaluate --class-map` and `train --corruptions` through the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from robusteye.cli import main
from robusteye.data import load_dataset
from robusteye.evaluate import class_map, corruption_benchmark, predict_logits
from robusteye.models import create_model, load_model, save_model
from tests.conftest import make_dataset

DATA = "synthetic:n=40"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained 4-class wrn_16_1: deterministic logits are all these tests need."""
    return save_model(create_model("wrn_16_1", 4, seed=0), tmp_path_factory.mktemp("ck") / "ck")


@pytest.fixture(scope="module")
def two_class(tmp_path_factory):
    """Open / closed data, as a real cross-dataset source would have."""
    ds = make_dataset(24, n_persons=6, classes=("open", "closed"), seed=5)
    return ds.save(tmp_path_factory.mktemp("oc") / "oc.npz")


def test_table_and_json_match_the_library(checkpoint, capsys, tmp_path):
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    args = ["corrupt", str(checkpoint), "--data", DATA, "--corruptions", "rotation,jpeg,glare"]
    args += ["--severities", "3,1", "--seed", "2", "--out", str(out), "--plot", str(plot)]
    assert main(args) == 0
    text = capsys.readouterr().out
    ds = load_dataset(DATA)
    model = load_model(checkpoint, channels_last=True)
    expected = corruption_benchmark(
        model, ds.images, ds.labels, ds.classes, ["rotation", "jpeg", "glare"], (1, 3), seed=2
    )
    doc = json.loads(out.read_text())
    assert doc.pop("checkpoint") == str(checkpoint) and doc.pop("data") == DATA
    assert doc == json.loads(json.dumps(expected.to_dict()))
    lines = text.strip().splitlines()
    assert lines[0] == f"3 corruptions on {len(ds)} images of {DATA} (seed 2)"
    assert lines[1].split() == ["corruption", "s1", "s3", "mean", "SNR", "dB"]
    for line, name in zip(lines[2:5], ("rotation", "jpeg", "glare"), strict=True):
        cells = line.split()
        accs = expected.accuracies(name)
        assert cells[0] == name
        assert cells[1:4] == [f"{v:.4f}" for v in (*accs, expected.mean_accuracy(name))]
        first, last = expected.point(name, 1).snr_db, expected.point(name, 3).snr_db
        assert cells[4] == f"{first:.1f}..{last:.1f}"
    assert lines[5] == (
        f"clean accuracy {expected.clean.accuracy:.4f}  "
        f"mCA {expected.mean_corruption_accuracy:.4f}  relative drop {expected.relative_drop:.4f}"
    )
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_maps_a_4_class_model_onto_open_closed(checkpoint, two_class, capsys, tmp_path):
    out = tmp_path / "e.json"
    assert main(["evaluate", str(checkpoint), "--data", str(two_class), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "class map: partiallyOpen -> open, notVisible excluded"
    ds = load_dataset(two_class)
    p = torch.softmax(predict_logits(load_model(checkpoint, channels_last=True), ds.images), 1)
    p_open = (p[:, 0] + p[:, 1]) / (p[:, 0] + p[:, 1] + p[:, 2])  # open, partiallyOpen, closed
    pred_closed = (p_open < 0.5).long()  # data classes: open = 0, closed = 1
    doc = json.loads(out.read_text())
    assert doc["classes"] == ["open", "closed"]
    assert doc["accuracy"] == pytest.approx(float((pred_closed == ds.labels).float().mean()))
    p_true = torch.where(ds.labels == 0, p_open, 1 - p_open)
    assert doc["loss"] == pytest.approx(float(-p_true.log().mean()), rel=1e-5)
    assert doc["class_map"]["name"] == "partial-as-open"
    assert f"accuracy {doc['accuracy']:.4f}" in text

    assert main(["evaluate", str(checkpoint), "--data", str(two_class), "--class-map", "none"]) == 0
    text = capsys.readouterr().out
    assert "class map" not in text and "notVisible" in text  # the old behaviour: 4 classes


def test_corrupt_applies_the_class_map(checkpoint, two_class, capsys, tmp_path):
    out = tmp_path / "c.json"
    args = ["corrupt", str(checkpoint), "--data", str(two_class), "--corruptions", "pixelate"]
    args += ["--class-map", "exclude-partial", "--out", str(out)]
    assert main(args) == 0
    assert "class map: partiallyOpen, notVisible excluded" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    ds = load_dataset(two_class)
    model = load_model(checkpoint, channels_last=True)
    cmap = class_map("exclude-partial", model.classes, ds.classes)
    expected = corruption_benchmark(
        model, ds.images, ds.labels, ds.classes, ["pixelate"], class_map=cmap
    )
    assert doc["class_map"]["name"] == "exclude-partial"
    assert doc["mean_corruption_accuracy"] == expected.mean_corruption_accuracy


def test_train_with_corruptions_and_adversarial_regime(capsys, tmp_path):
    data = make_dataset(32, n_persons=8, seed=4).save(tmp_path / "d.npz")
    args = ["train", "--model", "wrn", "--epochs", "1", "--batch-size", "16", "--no-progress"]
    args += ["--data", str(data), "--out", str(tmp_path / "run"), "--regime", "adversarial"]
    args += ["--corruptions", "rotation,glare", "--corruption-p", "0.25"]
    args += ["--corruption-max-severity", "5"]
    assert main(args) == 0
    capsys.readouterr()
    config = json.loads((tmp_path / "run" / "last" / "config.json").read_text())
    train = config["training"]["config"]
    assert train["corruptions"] == ["rotation", "glare"]
    assert train["corruption_p"] == 0.25 and train["corruption_max_severity"] == 5
    assert train["regime"]["kind"] == "adversarial"
