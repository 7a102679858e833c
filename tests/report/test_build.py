"""`write_report` on a real tiny run: a self-contained page, PNG figures, model cards."""

from __future__ import annotations

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from robusteye.cli.report import report
from robusteye.report import read_results, summarize
from robusteye.results import CellRow

PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {
    "roc_clean.png",
    "roc_fgsm.png",
    "learning_curves.png",
    "accuracy_vs_snr_fgsm.png",
    "examples_fgsm.png",
    "confusion.png",
}

pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "img":
            self.images.append(dict(attrs).get("src") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


def _cells(run: Path) -> list[CellRow]:
    return [r for r in read_results(run / "results.jsonl") if isinstance(r, CellRow)]


def test_page_parses_and_embeds_every_figure(reported: tuple[Path, Path]) -> None:
    run, html = reported
    assert html == run / "report.html"
    page = _parse(html)
    figures = sorted((run / "figures").glob("*.png"))
    assert len(page.images) == len(figures) >= len(FIGURES) + 1
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True)
        assert data.startswith(PNG)
        assert len(data) > 1024
    assert not page.tags & {"script", "link", "iframe"}  # self-contained: no external assets
    text = " ".join(page.text)
    assert "tiny" in text and "synthetic:n=120" in text
    for cell in _cells(run):
        assert cell.label in text


def test_figure_files(reported: tuple[Path, Path]) -> None:
    run, _ = reported
    names = {p.name for p in (run / "figures").glob("*.png")}
    assert names >= FIGURES
    assert any(n.startswith("transfer_") for n in names)
    for path in (run / "figures").iterdir():
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 1024, path.name


def test_summary_table_has_fold_means(reported: tuple[Path, Path]) -> None:
    run, html = reported
    cells = _cells(run)
    acc = [c.clean.accuracy for c in cells if c.variant == cells[0].variant]
    assert len(acc) == 2
    assert f"{np.mean(acc):.3f} ± {np.std(acc):.3f}" in html.read_text(encoding="utf-8")
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary == json.loads(json.dumps([s.to_dict() for s in summarize(cells)]))


def test_model_card_per_checkpoint(reported: tuple[Path, Path]) -> None:
    run, _ = reported
    cells = _cells(run)
    assert len(cells) == 4
    for cell in cells:
        text = (run / cell.checkpoint / "README.md").read_text(encoding="utf-8")
        _, header, body = text.split("---\n", 2)
        meta = yaml.safe_load(header)
        assert meta["library_name"] == "robusteye"
        assert "eye-state" in meta["tags"]
        (entry,) = meta["model-index"]
        assert entry["name"] == cell.variant
        (result,) = entry["results"]
        assert result["task"]["type"] == "image-classification"
        assert result["dataset"]["split"] == cell.eval_set
        metrics = {m["name"]: m["value"] for m in result["metrics"]}
        assert metrics["Clean accuracy"] == pytest.approx(cell.clean.accuracy, abs=1e-4)
        fgsm = [m for m in metrics if m.startswith("FGSM accuracy at eps")]
        assert len(fgsm) == len(cell.attacks[0].points) == 3
        assert "load_model" in body and "Synthetic data" in body


def test_report_never_touches_results(tiny_run_dir: Path, reported: tuple[Path, Path]) -> None:
    run, _ = reported
    original = (tiny_run_dir / "results.jsonl").read_bytes()
    assert (run / "results.jsonl").read_bytes() == original
    assert not (tiny_run_dir / "report.html").exists()


def test_cli_out_folder_with_truncated_last_line(tiny_run_dir: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(tiny_run_dir, tmp_path / "run"))
    with (run / "results.jsonl").open("a", encoding="utf-8") as f:
        f.write('{"kind": "cell", "id": "killed mid-wri')
    before = (run / "results.jsonl").read_bytes()
    out = tmp_path / "site"
    result = CliRunner().invoke(report, [str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(out / "report.html")
    assert (out / "report.html").is_file() and (out / "figures" / "roc_clean.png").is_file()
    assert not (run / "report.html").exists()
    assert (run / "results.jsonl").read_bytes() == before
