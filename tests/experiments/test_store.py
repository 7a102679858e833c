"""The results store survives a writer killed mid-line and refuses silent damage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from robusteye.errors import RobustEyeError
from robusteye.experiments import ResultsStore


def test_append_and_read_back(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    assert store.rows() == []
    store.append({"id": "a", "x": 1.5})
    store.append({"id": "b", "x": [1, 2]})
    assert ResultsStore(store.path).rows() == [{"id": "a", "x": 1.5}, {"id": "b", "x": [1, 2]}]
    assert store.path.read_text().count("\n") == 2


def test_torn_last_line_is_dropped_then_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    ResultsStore(path).append({"id": "a"})
    with path.open("a") as f:
        f.write('{"id": "b", "x": [1, 2')  # a kill in the middle of a write
    store = ResultsStore(path)
    assert [r["id"] for r in store.rows()] == ["a"]
    store.append({"id": "c"})
    lines = path.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "c"]


def test_complete_json_without_newline_counts_as_torn(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}')
    assert [r["id"] for r in ResultsStore(path).rows()] == ["a"]


def test_damage_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n')
    with pytest.raises(RobustEyeError, match=r"line 2 is not a result row"):
        ResultsStore(path).rows()


def test_non_finite_numbers_become_null(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    store.append({"id": "a", "x": float("nan"), "y": [float("inf"), 1.0], "z": {"w": -math.inf}})
    assert store.rows() == [{"id": "a", "x": None, "y": [None, 1.0], "z": {"w": None}}]
