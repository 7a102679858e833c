"""Bad input, rows 13-14: bad model-selection specs and bad training specs. Every row runs the
real CLI in-process (tests/bad_input.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.bad_input import assert_error, assert_only, run_cli

GOOD: dict[str, Any] = {
    "name": "s",
    "data": "synthetic:n=120",
    "folds": 2,
    "train": {"epochs": 1},
    "search": {"space": {"lr": [0.05, 0.1]}},
}

# ---- row 13: select specs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        ({"search": {"space": {"colour": [1]}}}, r"search\.space: colour: not a searchable"),
        ({"search": {"space": {"lr": {"uniform": [0.1, 0.2]}}}}, r"a grid takes lists"),
        ({"search": {"strategy": "random", "space": {"lr": [0.1]}}}, r"needs a budget: trials"),
        ({"search": {"space": {"lr": [0.1, -2.0]}}}, r"trial t001 \(lr=-2.0\): lr must be > 0"),
        ({"search": {"space": {"model.width": [1, 0]}}}, r"trial t001 \(model.width=0\)"),
        ({"objective": {"metric": "robust"}}, r"the robust objective needs an attack"),
        ({"objective": {"attack": "fgsm", "eps": 3}}, r"objective\.eps: .*less than or equal to 1"),
        ({"holdout": 0}, r"holdout: Input should be greater than 0"),
        ({"train": {"seed": 1}}, r"train: seed cannot be set here"),
        ({"search": None}, r"search: Input should be a valid dictionary"),
    ],
    ids=[
        "unknown-key", "grid-distribution", "random-no-budget", "bad-trial-lr", "bad-trial-width",
        "robust-no-attack", "objective-eps", "no-holdout", "seed-in-train", "no-search",
    ],
)  # fmt: skip
def test_bad_select_spec(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, edit: dict[str, Any], pattern: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**GOOD, **edit}))
    run = run_cli(capsys, "select", spec, "--out", tmp_path / "run", "--no-progress")
    assert_error(run, 2, rf"bad\.yaml: .*{pattern}|{pattern}")
    assert_only(tmp_path, "bad.yaml")


def test_select_refuses_a_folder_holding_something_else(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(GOOD))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    run = run_cli(capsys, "select", spec, "--out", tmp_path / "run", "--no-progress")
    assert_error(run, 2, r"is not empty and holds no robusteye run; choose another --out")
    assert_only(tmp_path / "run", "notes.txt")


def test_select_with_a_missing_spec_or_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert_error(run_cli(capsys, "select", tmp_path / "nope.yaml"), 2, r"no such spec file")
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump({**GOOD, "data": str(tmp_path / "missing")}))
    run = run_cli(capsys, "select", spec, "--out", tmp_path / "run", "--no-progress")
    assert_error(run, 2, r"no such file or folder: .*missing", log_lines=True)
    assert_only(tmp_path, "s.yaml")


# ---- row 14: training specs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "pattern"),
    [
        ({"model": "nosuch"}, r"model\.name: .*unknown model 'nosuch'"),
        ({"model": "wrn_16_1", "train": {"lr": 0}}, r"train: .*lr must be > 0"),
        ({"model": "wrn_16_1", "train": {"device": "cuda"}}, r"device cannot be set here"),
        ({"model": "wrn_16_1", "holdout": 1.5}, r"holdout: Input should be less than 1"),
        ({"model": "wrn_16_1", "colour": 1}, r"colour: unknown key"),
        ({"train": {}}, r"model: Field required"),
    ],
    ids=["unknown-model", "bad-lr", "device", "holdout", "unknown-key", "no-model"],
)
def test_bad_train_spec(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, doc: dict[str, Any], pattern: str
) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(yaml.safe_dump({"data": "synthetic:n=40", **doc}))
    run = run_cli(capsys, "train", "--spec", spec, "--out", tmp_path / "run", "--no-progress")
    assert_error(run, 2, pattern, log_lines=False)
    assert_only(tmp_path, "t.yaml")


def test_train_spec_with_other_flags_or_missing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "t.yaml"
    spec.write_text(yaml.safe_dump({"model": "wrn_16_1", "data": "synthetic:n=40"}))
    run = run_cli(
        capsys, "train", "--spec", spec, "--out", tmp_path / "run", "--val-fraction", "0.2"
    )
    assert_error(run, 2, r"--val-fraction cannot be combined with --spec \(a training spec")
    run = run_cli(capsys, "train", "--spec", spec, "--out", tmp_path / "run", "--model", "vgg")
    assert_error(run, 2, r"spec: model\.name: unknown model 'vgg'")
    run = run_cli(capsys, "train", "--spec", tmp_path / "nope.yaml", "--out", tmp_path / "run")
    assert_error(run, 2, r"no such spec file: .*nope\.yaml")
    assert_only(tmp_path, "t.yaml")
