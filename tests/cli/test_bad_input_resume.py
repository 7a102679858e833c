"""Bad input, third pass (issue 31), rows 5, 14 and 21: resuming a run with other settings or
from damaged run files. `train --resume` compares the flags with the ones the run was started
with (`train_flags.json`); `selection.json` and `results.jsonl` are read through their typed
schema (one error line naming the file and the field); a results row of no task of the spec
is refused on resume. Every row runs the real CLI in-process (tests/cli/bad_input.py).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from robusteye.cli import main
from tests.cli.bad_input import assert_error, run_cli

TRAIN = ["train", "--model", "cnn", "--epochs", "1", "--batch-size", "32", "--no-progress"]
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
def experiment_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished tiny experiment (2 cells) and its spec file."""
    folder = tmp_path_factory.mktemp("exp")
    spec = folder / "tiny.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert main(["experiment", str(spec), "--out", str(folder / "run"), "--no-progress"]) == 0
    return folder / "run", spec


def _copy(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns(".robusteye.lock"))
    return to


def _rows(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]


def _write_rows(run: Path, rows: list[dict[str, Any]]) -> None:
    (run / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


# ---- defect 5: train --resume with other flags ---------------------------------------------


def test_train_resume_with_other_flags_is_refused_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    data = ["--data", "synthetic:n=60"]
    assert run_cli(capsys, *TRAIN, *data, "--out", out)[0] == 0
    weights = (out / "last" / "model.safetensors").read_bytes()
    other = ["--data", "synthetic:n=120", "--lr", "0.05"]
    run = run_cli(capsys, *TRAIN, *other, "--out", out, "--resume")
    assert_error(
        run,
        2,
        r"was trained with other settings: data synthetic:n=60 \(now synthetic:n=120\), "
        r"lr 0\.1 \(now 0\.05\); resume with the same flags or choose another --out",
        log_lines=True,
    )
    # another model was a RuntimeError traceback from load_state_dict
    run = run_cli(capsys, *TRAIN[:2], "wrn", *TRAIN[3:], *data, "--out", out, "--resume")
    assert_error(run, 2, r"other settings: model cnn \(now wrn\);", log_lines=True)
    run = run_cli(capsys, *TRAIN, *data, "--seed", "3", "--out", out, "--resume")
    assert_error(run, 2, r"split-seed 0 \(now 3\), seed 0 \(now 3\);", log_lines=True)
    assert (out / "last" / "model.safetensors").read_bytes() == weights
    # the same flags resume (a finished run trains no more)
    assert run_cli(capsys, *TRAIN, *data, "--out", out, "--resume")[0] == 0


# ---- defect 14: wrongly typed run files ----------------------------------------------------

_STAT = {"mean": 0.5, "std": 0.1, "n": 2}
_METRICS = {
    m: dict(_STAT)
    for m in (
        "objective",
        "accuracy",
        "robust_accuracy",
        "macro_f1",
        "roc_auc_macro",
        "loss",
        "train_loss",
        "train_acc",
        "seconds",
    )
}
_ENTRY = {
    "trial": "t000",
    "params": {"lr": 0.1},
    "epochs": 1,
    "rung": 0,
    "max_epochs": 1,
    "completed": True,
    "folds": 2,
    "metrics": _METRICS,
    "rank": 1,
}
SELECTION = {
    "name": "s",
    "objective": "clean accuracy",
    "strategy": "grid",
    "halving": None,
    "folds": 2,
    "trials": 1,
    "ranking": [_ENTRY],
    "winner": {
        "trial": "t000",
        "params": {"lr": 0.1},
        "spec": "winner.yaml",
        "checkpoint": "winner/last",
        "cv": _METRICS,
        "holdout": {},
    },
}


def _set(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(SELECTION)
    *parents, leaf = path.split(".")
    node = doc
    for key in parents:
        node = node[key]
    node[leaf] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("winner", 5, r"field 'winner' must be a JSON object, got 5"),
        ("ranking", "x", r"field 'ranking' must be a list, got 'x'"),
        ("winner", {}, r"missing field 'winner\.trial'"),
        ("ranking", [{}], r"missing field 'ranking\[0\]\.trial'"),
        ("winner.cv", None, r"field 'winner\.cv' must be a JSON object, got None"),
    ],
)
def test_a_wrongly_typed_selection_json_is_one_line_naming_the_field(
    path: str, value: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "select"
    run.mkdir()
    (run / "selection.json").write_text(json.dumps(SELECTION))
    assert run_cli(capsys, "report", run)[0] == 0  # the well-typed file makes a report
    (run / "selection.json").write_text(json.dumps(_set(path, value)))
    assert_error(run_cli(capsys, "report", run), 1, r"select/selection\.json: " + message)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("clean", 5, r"field 'clean' must be a JSON object"),
        ("attacks", "x", r"field 'attacks' must be a list"),
        ("attacks", [5], r"field 'attacks\[0\]' must be a JSON object"),
        ("classes", 5, r"field 'classes' must be a list"),
    ],
)
def test_a_wrongly_typed_results_row_is_one_line_in_report_and_resume(
    key: str,
    value: Any,
    message: str,
    experiment_run: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    done, spec = experiment_run
    grid = _copy(done, tmp_path / "grid")
    rows = _rows(grid)
    rows[0][key] = value
    _write_rows(grid, rows)
    line = r"results\.jsonl: line 1 is not a result row: " + message
    assert_error(run_cli(capsys, "report", grid), 1, line)
    resumed = run_cli(capsys, "experiment", spec, "--out", grid, "--no-progress")
    assert_error(resumed, 1, line, log_lines=True)


# ---- defect 21: a results row of no task of the spec -----------------------------------------


def test_a_results_row_outside_the_spec_is_refused_on_resume(
    experiment_run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done, spec = experiment_run
    run = _copy(done, tmp_path / "run")
    rows = _rows(run)
    extra = {**rows[0], "id": rows[0]["id"].replace(".f0.", ".f5."), "fold": 5}
    _write_rows(run, [*rows, extra])
    before = (run / "summary.json").read_bytes()
    resumed = run_cli(capsys, "experiment", spec, "--out", run, "--no-progress")
    assert_error(
        resumed,
        1,
        r"results\.jsonl: row 'cnn\.standard\.f5\.s0' is no task of this run's spec",
        log_lines=True,
    )
    assert (run / "summary.json").read_bytes() == before  # not summarised as a third fold
    _write_rows(run, [*rows, rows[1]])  # a row twice counts twice as well
    resumed = run_cli(capsys, "experiment", spec, "--out", run, "--no-progress")
    assert_error(resumed, 1, r"row 'cnn\.standard\.f1\.s0' appears twice", log_lines=True)
