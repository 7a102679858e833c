"""Checkpoints: round trip, atomic writes, and one clear refusal per kind of damage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from robusteye.errors import CheckpointError, UsageError
from robusteye.models import create_model, load_model, read_checkpoint_config, save_model


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = create_model("parseval_wrn_16_1", num_classes=2, classes=("open", "closed"), beta=1e-3)
    model(torch.rand(8, 1, 32, 32))  # move BN running statistics off their defaults
    path = tmp_path_factory.mktemp("ckpt") / "run"
    save_model(model, path, training={"epochs": 1}, metrics={"accuracy": 0.5})
    return path, model.eval()


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


@pytest.mark.parametrize("name", ["wrn_16_1", "parseval_wrn_16_1", "cnn", "parseval_cnn"])
def test_round_trip_gives_bit_identical_logits(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, mean=0.45, std=0.2)
    model.train()(torch.rand(8, 1, 32, 32))
    model.eval()
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert not loaded.training
    assert loaded.config == model.config
    x = torch.rand(5, 1, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_folder_layout_and_config(saved: tuple[Path, torch.nn.Module]) -> None:
    path, model = saved
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp left
    doc = json.loads((path / "config.json").read_text())
    assert doc["architectures"] == ["parseval_wrn_16_1"] and doc["model_type"] == "parseval_wrn"
    assert doc["id2label"] == {"0": "open", "1": "closed"}
    info = read_checkpoint_config(path)
    assert info.model == model.config
    assert info.training == {"epochs": 1} and info.metrics == {"accuracy": 0.5}


def test_save_overrides_classes_and_replaces_old_checkpoint(tmp_path: Path) -> None:
    model = create_model("cnn", num_classes=2)
    save_model(model, tmp_path / "c")
    save_model(model, tmp_path / "c", classes=["yes", "no"])
    assert load_model(tmp_path / "c").config.classes == ("yes", "no")
    with pytest.raises(UsageError, match="classes must be 2 names"):
        save_model(model, tmp_path / "c", classes=["a", "b", "c"])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("keep me")
    with pytest.raises(UsageError, match="not a robusteye checkpoint; refusing to overwrite"):
        save_model(model, tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "keep me"


def test_refuses_missing_and_non_checkpoints(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="is not a checkpoint folder"):
        load_model(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"missing config\.json"):
        load_model(tmp_path / "empty")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "config.json is not valid JSON"),
        ('{"hello": 1}', "not a robusteye checkpoint config"),
        (None, r"invalid model config: unknown architecture 'resnet'"),
        ("depth", r"invalid model config: .*'depth' must be an int >= 10"),
    ],
)
def test_refuses_bad_config(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path, text: str | None, match: str
) -> None:
    path = _copy(saved[0], tmp_path / "bad")
    doc = json.loads((path / "config.json").read_text())
    if text is None:
        doc["model"]["arch"] = "resnet"
        text = json.dumps(doc)
    elif text == "depth":
        doc["model"]["params"]["depth"] = 17
        text = json.dumps(doc)
    (path / "config.json").write_text(text)
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


def test_refuses_tensors_that_do_not_match_the_config(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    path = _copy(saved[0], tmp_path / "wide")
    doc = json.loads((path / "config.json").read_text())
    doc["model"]["params"]["width"] = 2
    (path / "config.json").write_text(json.dumps(doc))
    with pytest.raises(
        CheckpointError,
        match=r"tensor 'blocks\.0\.conv1\.weight' has shape \(16, 16, 3, 3\), "
        r"config expects \(32, 16, 3, 3\)",
    ):
        load_model(path)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.pop("classifier.bias"), r"tensor 'classifier\.bias' is missing"),
        (lambda t: t.update(extra=torch.zeros(2)), r"unexpected tensor 'extra'"),
        (
            lambda t: t.update({"stem.weight": t["stem.weight"].double()}),
            r"'stem\.weight' has dtype F64, config expects F32",
        ),
        (lambda t: t["stem.weight"].fill_(float("nan")), r"'stem\.weight' holds NaN"),
    ],
    ids=["missing", "extra", "dtype", "nan"],
)
def test_refuses_bad_tensors(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path, edit, match: str
) -> None:
    path = _copy(saved[0], tmp_path / "t")
    tensors = load_file(path / "model.safetensors")
    edit(tensors)
    save_file(tensors, path / "model.safetensors")
    with pytest.raises(CheckpointError, match=match):
        load_model(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_refuses_corrupt_weights(
    saved: tuple[Path, torch.nn.Module], tmp_path: Path, damage: str
) -> None:
    path = _copy(saved[0], tmp_path / "c")
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    if damage == "truncate":
        weights.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x80\x04\x95" + b"pickle?" * 100)  # e.g. a torch.save file
    else:
        weights.unlink()
    with pytest.raises(
        CheckpointError, match=r"checkpoint .*: (model\.safetensors is|missing model\.safetensors)"
    ) as info:
        load_model(path)
    assert "\n" not in str(info.value)
