"""The docs renderer reads a row's figures from the raw audit it names, never typed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "render_docs.py"


@pytest.fixture(scope="module")
def render():
    spec = importlib.util.spec_from_file_location("render_docs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AUDIT = {
    "points": [
        {"eps": 0.0095, "target_snr_db": 35.0, "clean_accuracy": 0.95, "worst_accuracy": 0.9},
        {"eps": 0.0302, "target_snr_db": 25.0, "clean_accuracy": 0.95, "worst_accuracy": 0.6},
    ],
    "indicators": [{"name": "a", "status": "pass"}, {"name": "b", "status": "warn"}],
    "ceiling": {"points": [{"eps": 0.0095, "ceiling": 1.0}, {"eps": 0.0302, "ceiling": 0.99}]},
}


def test_a_row_reads_its_figures_from_its_audit(render, tmp_path, monkeypatch):
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "x.json").write_text(json.dumps(AUDIT))
    monkeypatch.setattr(render, "RESULTS", tmp_path)
    doc = {
        "title": "T",
        "columns": [
            {"key": "recipe"},
            {"key": "clean", "audit": "clean", "format": ".3f"},
            {"key": "w35", "audit": "worst@35", "format": ".3f"},
            {"key": "w25", "audit": "worst@25", "format": ".3f"},
            {"key": "ind", "audit": "indicators"},
            {"key": "c25", "audit": "ceiling@25", "format": ".2f"},
        ],
        "rows": [{"recipe": "r1", "audit": "raw/x.json", "command": "robusteye train ..."}],
    }
    text = render.render_table_doc(doc, None)
    assert "| r1 | 0.950 | 0.900 | 0.600 | 1/2 | 0.99 |" in text
    assert "# r1\nrobusteye train ..." in text
    with pytest.raises(ValueError, match="no point at 30"):
        render.from_audit(AUDIT, "worst@30")
