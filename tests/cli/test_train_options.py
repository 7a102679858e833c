"""`robusteye train --model-option` and `--split-seed`, and `robusteye audit --device`."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from robusteye.cli import main
from robusteye.cli.train import train
from robusteye.cli.train_spec import TRAIN_FLAGS, parse_model_options
from robusteye.errors import UsageError
from robusteye.models import load_model
from tests.conftest import make_dataset

TRAIN = ["train", "--epochs", "1", "--batch-size", "32", "--no-progress"]
TRAIN += ["--val-fraction", "0.2", "--test-fraction", "0.25"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    return make_dataset(64, n_persons=16, seed=3).save(root / "d.npz")


def test_model_options_reach_the_checkpoint(data, tmp_path) -> None:
    out = tmp_path / "run"
    argv = [*TRAIN, "--model", "wrn", "--data", str(data), "--out", str(out)]
    argv += ["--model-option", "depth=10", "--model-option", "width=2"]
    assert main([*argv, "--model-option", "activation=silu"]) == 0
    model = load_model(out / "last")
    assert model.config.params["depth"] == 10
    assert model.config.params["width"] == 2 and model.config.params["activation"] == "silu"
    plain = tmp_path / "plain"
    assert main([*TRAIN, "--model", "wrn", "--data", str(data), "--out", str(plain)]) == 0
    wide = sum(p.numel() for p in model.parameters())
    narrow = sum(p.numel() for p in load_model(plain / "last").parameters())
    # WRN-10-2 against the registry's WRN-16-1: a wider, shallower net, other weights
    assert wide != narrow and load_model(plain / "last").config.params["activation"] == "relu"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["widht=2"], "unknown parameter"),
        (["width=0"], "must be an int >= 1"),
        (["activation=tanh"], "must be one of"),
        (["width"], "wants KEY=VALUE"),
        (["=2"], "wants KEY=VALUE"),
        (["width=2", "width=4"], "given twice"),
        (["width=[1, 2]"], "a number, a word or a bool"),
        (["in_channels=1"], "set by the data"),
        (["num_classes=3"], "set by the data"),
    ],
)
def test_bad_model_options_are_one_line_and_write_nothing(
    data, tmp_path, capsys, options, message
) -> None:
    out = tmp_path / "x"
    argv = [*TRAIN, "--model", "wrn", "--data", str(data), "--out", str(out)]
    for option in options:
        argv += ["--model-option", option]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()


def test_values_are_read_as_yaml() -> None:
    assert parse_model_options(("width=4", "dropout=0.3", "activation=silu")) == {
        "width": 4,
        "dropout": 0.3,
        "activation": "silu",
    }
    assert parse_model_options(("constrain_classifier=false",)) == {"constrain_classifier": False}
    with pytest.raises(UsageError, match="cannot read"):
        parse_model_options(("width=[1",))


def test_split_seed_holds_out_the_same_persons_across_seeds(data, tmp_path) -> None:
    def splits(name: str, *flags: str) -> dict[str, list[str]]:
        out = tmp_path / name
        argv = [*TRAIN, "--model", "cnn", "--data", str(data), "--out", str(out), *flags]
        assert main(argv) == 0
        return json.loads((out / "splits.json").read_text())

    s0 = splits("s0", "--seed", "0")
    s1 = splits("s1", "--seed", "1")
    s1_fixed = splits("s1f", "--seed", "1", "--split-seed", "0")
    assert s0 != s1  # the default: the training seed also draws the persons
    assert s1_fixed == s0
    # and the weights are still the training seed's
    w0 = load_model(tmp_path / "s0" / "last").state_dict()
    w1 = load_model(tmp_path / "s1f" / "last").state_dict()
    assert any(not torch.equal(w0[k], w1[k]) for k in w0)


def test_model_options_and_split_seed_override_a_spec(data, tmp_path) -> None:
    spec = {
        "kind": "train",
        "data": str(data),
        "holdout": 0.25,
        "model": {"name": "wrn", "options": {"depth": 10, "width": 1}},
        "train": {"epochs": 1, "batch_size": 32},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "run"
    argv = ["train", "--spec", str(path), "--out", str(out), "--no-progress"]
    assert main([*argv, "--model-option", "width=2", "--split-seed", "3"]) == 0
    written = yaml.safe_load((out / "spec.yaml").read_text())
    assert written["model"]["options"] == {"depth": 10, "width": 2}
    assert written["split_seed"] == 3
    assert load_model(out / "last").config.params["width"] == 2


def test_audit_device(data, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert main([*TRAIN, "--model", "cnn", "--data", str(data), "--out", str(out)]) == 0
    argv = ["audit", str(out / "last"), "--data", str(data), "--eps", "0.02", "--suite", "quick"]
    argv += ["--limit", "16", "--no-progress"]
    capsys.readouterr()
    if not torch.cuda.is_available():
        assert main([*argv, "--device", "cuda"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "not available" in err[0]
        return
    cpu, gpu = tmp_path / "cpu.json", tmp_path / "gpu.json"
    assert main([*argv, "--out", str(cpu)]) == 0
    assert main([*argv, "--device", "cuda", "--out", str(gpu)]) == 0
    a, b = json.loads(cpu.read_text()), json.loads(gpu.read_text())
    # the same attacks from the same seeds: float rounding may flip a point or two
    for p, q in zip(a["points"], b["points"], strict=True):
        assert p["clean_accuracy"] == q["clean_accuracy"]
        assert abs(p["worst_accuracy"] - q["worst_accuracy"]) <= 2 / 16 + 1e-9


def test_every_train_flag_is_in_the_one_map() -> None:
    """A flag of `robusteye train` sets training-spec fields through `TRAIN_FLAGS` (read by
    the plain flags and by --spec alike), or says where and how the command runs."""
    runs = {"spec_path", "source", "out", "resume", "progress", "device"}
    names = {p.name for p in train.params}
    assert names - runs == set(TRAIN_FLAGS)
