"""`robusteye inspect`: table and JSON output for model names and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robusteye.cli import main
from robusteye.models import create_model, save_model


def test_inspect_model_name_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "parseval_cnn", "--json", "--iters", "20"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"layers", "lipschitz_bound"}
    names = [layer["name"] for layer in out["layers"]]
    assert names[0] == "normalize" and names[-1] == "classifier"
    for layer in out["layers"]:
        assert {"name", "spectral_norm", "orthogonality_error"} <= set(layer)
        if layer["kind"] == "conv":
            assert layer["spectral_norm"] <= 1.05 and layer["orthogonality_error"] < 1e-5
        if layer["kind"] == "batchnorm":
            assert layer["orthogonality_error"] is None
    assert out["layers"][-1]["spectral_norm"] > 0 and out["lipschitz_bound"] > 0
    assert out["sound_lipschitz_bound"] > 0


def test_inspect_shows_the_sound_bound_of_a_one_lipschitz_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["inspect", "lipschitz_cnn", "--json", "--num-classes", "2", "--iters", "5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.5 < out["sound_lipschitz_bound"] <= 1.0 + 1e-5


def test_inspect_is_seeded_and_takes_num_classes(capsys: pytest.CaptureFixture[str]) -> None:
    runs = []
    for _ in range(2):
        assert main(["inspect", "cnn", "--json", "--num-classes", "2", "--iters", "5"]) == 0
        runs.append(capsys.readouterr().out)
    assert runs[0] == runs[1]


def test_inspect_checkpoint_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(0)
    save_model(create_model("wrn_16_1", num_classes=2), tmp_path / "ckpt")
    assert main(["inspect", str(tmp_path / "ckpt"), "--iters", "10"]) == 0
    out = capsys.readouterr().out
    assert "blocks.2.shortcut" in out and "spectral_norm" in out
    assert "Lipschitz bound" in out


def test_inspect_refuses_unknown_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "neither a checkpoint folder nor a model name" in err and "wrn_16_1" in err
    assert err.count("\n") == 1


def test_inspect_refuses_broken_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{oops")
    assert main(["inspect", str(tmp_path / "broken")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: checkpoint ") and "not valid JSON" in err
    assert err.count("\n") == 1
