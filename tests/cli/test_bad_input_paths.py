"""Bad input, issue 31 items 1-2: names from a spec and links inside a run never lead a write
out of the run folder (`folders.check_name` where specs are read, `folders.inside_run` in
every run-folder writer). Every row runs the real CLI in-process (tests/cli/bad_input.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.bad_input import assert_error, assert_only, run_cli

SPEC: dict[str, Any] = {
    "name": "paths",
    "data": "synthetic:n=120",
    "folds": 2,
    "models": ["cnn"],
    "train": {"epochs": 1},
    "regimes": [{"kind": "standard"}],
    "evaluation": {"attacks": [{"name": "fgsm", "eps": [0.03]}], "limit": 20, "examples": 0},
}
SELECT: dict[str, Any] = {
    "name": "paths_select",
    "data": "synthetic:n=120",
    "folds": 2,
    "model": "cnn",
    "train": {"epochs": 1},
    "search": {"space": {"lr": [0.05]}},
}


def _victim(tmp_path: Path) -> Path:
    """A folder outside the run holding one precious file."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious\n")
    return victim


def _untouched(victim: Path) -> None:
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert (victim / "keep.txt").read_text() == "precious\n"


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("paths") / "tiny.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


@pytest.fixture(scope="module")
def finished(
    spec_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:  # one tiny run, copied by each test
    out = tmp_path_factory.mktemp("paths-run") / "run"
    from robusteye.cli import main

    args = ["experiment", str(spec_file), "--out", str(out), "--no-progress", "--no-report"]
    assert main(args) == 0
    return out


def _copy(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "run", symlinks=True))


# ---- defect 1: a model key naming a path -------------------------------------------------------


@pytest.mark.parametrize("key", ["/tmp/x", "ABS", "../../esc", ".hidden", "a\\b"])
def test_a_model_key_that_is_no_safe_name_is_refused_at_spec_load(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str
) -> None:
    key = str(tmp_path / "abs" / "x") if key == "ABS" else key
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "models": [{"name": "cnn", "key": key}]}))
    before = set(Path("/tmp").glob("x.standard*"))
    result = run_cli(capsys, "experiment", spec, "--out", tmp_path / "run", "--no-progress")
    assert_error(result, 2, r"bad\.yaml: models\.0\.key: .* is not a safe key")
    assert_only(tmp_path, "bad.yaml")  # no run folder, no `esc...` beside it
    assert set(Path("/tmp").glob("x.standard*")) == before


def test_a_select_model_key_that_is_no_safe_name_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(yaml.safe_dump({**SELECT, "model": {"name": "cnn", "key": "../../esc"}}))
    result = run_cli(capsys, "select", spec, "--out", tmp_path / "run", "--no-progress")
    assert_error(result, 2, r"bad\.yaml: model\.key: .* is not a safe key")
    assert_only(tmp_path, "bad.yaml")


# ---- defect 2: folder links inside a run are not followed on write ------------------------------


def test_report_refuses_a_linked_figures_folder(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(finished, tmp_path)
    victim = _victim(tmp_path)
    shutil.rmtree(run / "figures", ignore_errors=True)
    (run / "figures").symlink_to(victim)
    result = run_cli(capsys, "report", run)
    assert_error(result, 2, r"figures is a symbolic link; robusteye writes only inside the run")
    _untouched(victim)


def test_experiment_resume_refuses_a_linked_cell_folder_before_training(
    finished: Path, spec_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _copy(finished, tmp_path)
    victim = _victim(tmp_path)
    results = run / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])["id"]
    results.write_text("".join(lines[:-1]))  # the last cell is to be run again
    shutil.rmtree(run / "cells" / last)
    (run / "cells" / last).symlink_to(victim)
    result = run_cli(capsys, "experiment", spec_file, "--out", run, "--no-progress")
    assert_error(result, 2, rf"cells/{last} is a symbolic link", log_lines=True)
    _untouched(victim)


def test_select_resume_refuses_a_linked_winner_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(yaml.safe_dump(SELECT))
    run = tmp_path / "run"
    first = run_cli(capsys, "select", spec, "--out", run, "--no-progress", "--no-report")
    assert first[0] == 0, first[2]
    shutil.rmtree(run / "winner")
    (run / "selection.json").unlink()
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    (run / "winner").symlink_to(empty)
    result = run_cli(capsys, "select", spec, "--out", run, "--no-progress", "--no-report")
    assert_error(result, 2, r"winner is a symbolic link", log_lines=True)
    assert list(empty.iterdir()) == []
