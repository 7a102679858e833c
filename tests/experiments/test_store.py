"""The results store survives a writer killed mid-line and refuses silent damage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from robusteye.errors import RobustEyeError
from robusteye.experiments import ResultsStore
from robusteye.results import TransferRow, TransferScores


def _row(id: str, snr: float = 30.0) -> TransferRow:
    """The smallest real row: a transfer row with one 1 x 1 matrix."""
    matrix = TransferScores(("m",), "fgsm", (0.03,), (snr,), None, (0.5,), ((0.25,),))
    return TransferRow(id=id, fold=0, seed=0, n=4, matrices=(matrix,))


def _line(id: str) -> str:
    return json.dumps(_row(id).to_dict(), separators=(",", ":"))


def test_append_and_read_back(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    assert store.rows() == []
    store.append(_row("a"))
    store.append(_row("b"))
    assert ResultsStore(store.path).rows() == [_row("a"), _row("b")]
    assert store.path.read_text().splitlines() == [_line("a"), _line("b")]


def test_torn_last_line_is_dropped_then_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    ResultsStore(path).append(_row("a"))
    with path.open("a") as f:
        f.write(_line("b")[:30])  # a kill in the middle of a write
    store = ResultsStore(path)
    assert [r.id for r in store.rows()] == ["a"]
    store.append(_row("c"))
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "c"]


def test_complete_json_without_newline_counts_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(f"{_line('a')}\n{_line('b')}")
    assert [r.id for r in ResultsStore(path).rows()] == ["a"]


def test_damage_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(f"{_line('a')}\nnot json\n{_line('c')}\n")
    with pytest.raises(RobustEyeError, match=r"line 2 is not a result row"):
        ResultsStore(path).rows()


def test_a_row_of_the_wrong_shape_names_its_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(f"{_line('a')}\n" + _line("b").replace('"n":4', '"n":"4"') + "\n")
    with pytest.raises(
        RobustEyeError, match=r"line 2 is not a result row: field 'n' must be an integer"
    ):
        ResultsStore(path).rows()


def test_non_finite_numbers_become_null(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    store.append(_row("a", snr=math.inf))
    assert '"snr_db":[null]' in store.path.read_text()
    (row,) = store.rows()
    assert isinstance(row, TransferRow) and row.matrices[0].snr_db == (None,)
