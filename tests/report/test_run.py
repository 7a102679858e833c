"""Reading a run folder: tolerant of a killed writer, strict about corruption elsewhere."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from robusteye.cli.report import report
from robusteye.errors import RobustEyeError, UsageError
from robusteye.report import load_run, read_results, write_report
from robusteye.results import CellRow

#: a real cell row (written before rows were typed)
CELL = json.loads(
    (Path(__file__).parents[1] / "results" / "results_samples.jsonl").read_text().split("\n")[0]
)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "results.jsonl", [json.dumps(CELL), "", json.dumps(CELL)[:25]])
    assert read_results(path) == [CellRow.from_dict(CELL)]


def test_corrupt_middle_line_names_its_number(tmp_path: Path) -> None:
    path = _write(tmp_path / "results.jsonl", [json.dumps(CELL), "{not json", json.dumps(CELL)])
    expected = r"results\.jsonl: line 2 is not a result row: not valid JSON"
    with pytest.raises(RobustEyeError, match=expected):
        read_results(path)


def test_non_object_line_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "results.jsonl", ["[1, 2]", json.dumps(CELL)])
    expected = r"line 1 is not a result row \(not a JSON object\); the file is damaged"
    with pytest.raises(RobustEyeError, match=expected):
        read_results(path)


def test_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="run folder does not exist"):
        write_report(tmp_path / "nope")


def test_folder_without_results(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no results\.jsonl"):
        load_run(tmp_path)


def test_results_without_cells(tmp_path: Path) -> None:
    transfer = {"kind": "transfer", "id": "transfer.f0.s0", "fold": 0, "seed": 0, "n": 0}
    _write(tmp_path / "results.jsonl", [json.dumps({**transfer, "matrices": []}), ""])
    with pytest.raises(UsageError, match="no cell rows"):
        write_report(tmp_path)


def test_load_run_reads_optional_files(tmp_path: Path) -> None:
    _write(tmp_path / "results.jsonl", [json.dumps(CELL)])
    (tmp_path / "spec.yaml").write_text("name: demo\nfolds: 2\n", encoding="utf-8")
    run = load_run(tmp_path)
    assert run.spec == {"name": "demo", "folds": 2}
    assert run.cells == (CellRow.from_dict(CELL),)
    assert (run.splits, run.transfers, run.examples) == ({}, (), None)


def test_cli_missing_run_folder(tmp_path: Path) -> None:
    result = CliRunner().invoke(report, [str(tmp_path / "missing")])
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError)


def _minimal_cell(variant: str, accuracy: float) -> dict[str, object]:
    """A cell scored clean only: no attacks, audit, certificate or corruptions."""
    cell = {
        **CELL,
        "id": f"{variant}.f0.s0",
        "variant": variant,
        "label": f"m · {variant}",
        "model": "m",
        "regime": {"kind": variant},
        "clean": {**CELL["clean"], "accuracy": accuracy},
        "attacks": [],
        "checkpoint": f"cells/{variant}.f0.s0/model",
    }
    del cell["corruptions"], cell["audit"]
    return cell


def test_minimal_run_without_attacks_checkpoints_or_examples(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [_minimal_cell("standard", 0.7), _minimal_cell("augment", 0.6)]
    _write(tmp_path / "results.jsonl", [json.dumps(r) for r in rows])
    with caplog.at_level(logging.WARNING, logger="robusteye.report"):
        html = write_report(tmp_path)
    text = html.read_text(encoding="utf-8")
    assert "0.700 ± 0.000" in text and 'id="transfer"' not in text
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {
        "roc_clean.png",
        "learning_curves.png",
        "confusion.png",
    }
    assert "no checkpoint folder" in caplog.text
