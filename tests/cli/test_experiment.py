"""`robusteye experiment`: dry run, and one-line errors for bad specs and options."""

from __future__ import annotations

from pathlib import Path

import pytest

from robusteye.cli import main


def test_dry_run_lists_the_cells(capsys: pytest.CaptureFixture[str]) -> None:
    spec = Path(__file__).resolve().parents[2] / "experiments" / "aim2.yaml"
    assert main(["experiment", str(spec), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "wrn_16_1.standard.f0.s0"
    assert lines[-1] == "40 cells (10 folds, 1 seed(s))"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [wrn_16_1]\nregimes: [{kind: standard}]\nfolds: 0\n", "folds: Input should be"),
        ("models: [wrn_16_1]\nregimes: [{kind: sometimes}]\n", "regimes.0.kind: Input should be"),
        ("models: [wrn_16_1]\n", "regimes: Field required"),
        ("models: [wrn_16_1\n", "not valid YAML"),
    ],
)
def test_bad_spec_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    assert main(["experiment", str(spec), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # nothing written for a bad spec


def test_missing_spec_and_bad_backend(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["experiment", str(tmp_path / "nope.yaml")]) == 2
    assert "no such spec file" in capsys.readouterr().err
    spec = Path(__file__).resolve().parents[2] / "experiments" / "quick.yaml"
    assert main(["experiment", str(spec), "--backend", "slurm"]) == 2
    assert "Invalid value for '--backend'" in capsys.readouterr().err
