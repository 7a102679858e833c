"""Bad input to `robusteye corrupt`, `evaluate --class-map` and `train --corruptions`: one
`error:` line, exit 2, nothing written. Every row runs the real CLI in-process."""

from __future__ import annotations

from pathlib import Path

import pytest

from robusteye.models import create_model, save_model
from tests.cli.bad_input import assert_error, assert_only, run_cli
from tests.conftest import make_dataset


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(create_model("wrn_16_1", 4, seed=0), tmp_path_factory.mktemp("ck") / "ck")


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        (["--corruptions", "fog"], r"unknown corruption 'fog'; known: all, rotation, .*, glare$"),
        (["--corruptions", "jpeg,,fog"], r"unknown corruption 'fog'"),
        (["--corruptions", ","], r"no corruption named"),
        (["--severities", "1,6"], r"severity must lie in 0\.\.5, got 6"),
        (["--severities", "-1"], r"severity must lie in 0\.\.5, got -1"),
        (["--severities", "1.5"], r"--severities expects integers in 0\.\.5"),
        (["--severities", ","], r"--severities expects a comma-separated list"),
        (["--batch-size", "0"], r"--batch-size"),
        (["--class-map", "merge"], r"--class-map"),
        (["--class-map", "partial-as-open"], r"--class-map partial-as-open needs data without"),
    ],
    ids=[
        "unknown-corruption",
        "unknown-in-list",
        "no-corruption",
        "severity-6",
        "severity-negative",
        "severity-float",
        "no-severity",
        "batch-size-0",
        "unknown-class-map",
        "class-map-on-4-class-data",
    ],
)
def test_corrupt_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    checkpoint: Path,
    options: list[str],
    pattern: str,
) -> None:
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    run = run_cli(
        capsys, "corrupt", checkpoint, "--data", "synthetic:n=40", "--out", out, "--plot", plot,
        *options,
    )  # fmt: skip
    assert_error(run, 2, pattern)
    assert_only(tmp_path)


def test_corrupt_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path
) -> None:
    out = tmp_path / "r.json"
    run = run_cli(capsys, "corrupt", tmp_path / "nope", "--data", "synthetic:n=40", "--out", out)
    assert_error(run, 2, r"no such checkpoint folder: .*nope")
    run = run_cli(capsys, "corrupt", checkpoint, "--data", tmp_path / "nope.npz", "--out", out)
    assert_error(run, 2, r"no such file or folder: .*nope\.npz")
    run = run_cli(
        capsys, "corrupt", checkpoint, "--data", "synthetic:n=40", "--out", tmp_path / "a" / "r"
    )
    assert_error(run, 2, r"output folder does not exist: .*a$")
    run = run_cli(
        capsys, "corrupt", checkpoint, "--data", "synthetic:n=40", "--plot", tmp_path / "b" / "p"
    )
    assert_error(run, 2, r"output folder does not exist: .*b$")
    assert_only(tmp_path)


def test_evaluate_class_map_on_unknown_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path
) -> None:
    data = make_dataset(8, n_persons=2, classes=("open", "shut")).save(tmp_path / "d.npz")
    out = tmp_path / "m.json"
    run = run_cli(capsys, "evaluate", checkpoint, "--data", data, "--out", out)
    assert_error(run, 1, r"data classes shut are unknown to the model")
    assert_only(tmp_path, "d.npz")


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        (["--corruptions", "fog"], r"unknown corruption 'fog'"),
        (["--corruptions", "jpeg", "--corruption-p", "0"], r"corruption_p must lie in \(0, 1\]"),
        (["--corruptions", "jpeg", "--corruption-p", "nan"], r"corruption_p must lie in"),
        (["--corruption-max-severity", "6"], r"corruption_max_severity must be an integer in"),
        (["--corruption-max-severity", "0"], r"corruption_max_severity must be an integer in"),
    ],
    ids=["unknown", "p-zero", "p-nan", "severity-6", "severity-0"],
)
def test_train_corruption_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], pattern: str
) -> None:
    run = run_cli(
        capsys, "train", "--model", "wrn", "--data", "synthetic:n=40", "--out", tmp_path / "run",
        "--epochs", "1", "--no-progress", *options,
    )  # fmt: skip
    assert_error(run, 2, pattern)
    assert_only(tmp_path)
