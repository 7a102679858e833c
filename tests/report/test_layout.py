"""Every report figure lays out cleanly, from one cell to a many-variant grid: no title or
legend leaves its figure, no legend covers a title, and no "None" reaches the page.

The runs are made from a real cell row (tests/results/results_samples.jsonl) copied into run
folders, so no model is trained; the figures are checked as `write_report` saved them.
"""

from __future__ import annotations

import copy
import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from robusteye.report import load_run, write_report
from robusteye.report.build import report_figures
from robusteye.report.style import house_style

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).parents[1] / "results" / "results_samples.jsonl"
#: pixels an artist may reach past the figure's edge (antialiasing)
SLACK = 1.0
REGIMES = ("standard", "augment", "adversarial", "pgd", "trades", "fgsm-rs", "certified")


def _template() -> dict[str, Any]:
    row: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8").splitlines()[0])
    assert row["kind"] == "cell"
    return row


def _cell(model: str, regime: str, fold: int, shift: float) -> dict[str, Any]:
    row = copy.deepcopy(_template())
    variant = f"{model}.{regime}"
    row.update(
        id=f"{variant}.f{fold}.s0",
        variant=variant,
        label=f"{model.upper()} · {regime} with a longer recipe description",
        model=model,
        regime={"kind": regime},
        fold=fold,
        checkpoint=f"cells/{variant}.f{fold}.s0/model",
    )
    for curve in row["attacks"]:
        for point in curve["points"]:
            point["metrics"]["accuracy"] = max(0.0, point["metrics"]["accuracy"] - shift)
    return row


def _transfer(fold: int, variants: list[str]) -> dict[str, Any]:
    k = len(variants)
    return {
        "kind": "transfer", "id": f"transfer.f{fold}.s0", "fold": fold, "seed": 0, "n": 20,
        "matrices": [{
            "names": variants, "attack": "fgsm", "eps": [0.02] * k, "snr_db": [35.0] * k,
            "target_snr_db": 35, "clean_accuracy": [0.5] * k,
            "accuracy": np.linspace(0.1, 0.9, k * k).reshape(k, k).round(3).tolist(),
        }],
    }  # fmt: skip


def _examples(path: Path, model: str) -> None:
    rng = np.random.default_rng(0)
    clean = rng.random((4, 1, 32, 32), dtype=np.float32)
    np.savez(
        path,
        clean=clean,
        labels=np.arange(4),
        classes=np.array(["closed", "notVisible", "open", "partiallyOpen"]),
        model=np.array(model),
        attacks=np.array(["fgsm"]),
        fgsm_eps=np.array([0.01, 0.03]),
        fgsm_snr_db=np.array([35.0, 25.0]),
        fgsm_adv=np.clip(clean[None] + rng.normal(0, 0.02, (2, 4, 1, 32, 32)), 0, 1),
    )


def _run(root: Path, rows: list[dict[str, Any]], folds: int, examples: str | None) -> Path:
    root.mkdir(parents=True)
    lines = [json.dumps(r, separators=(",", ":")) for r in rows]
    (root / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {"name": root.name, "data": "synthetic:n=120", "folds": folds, "seeds": [0]}
    (root / "spec.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (root / "splits.json").write_text(json.dumps({"folds": []}), encoding="utf-8")
    if examples is not None:
        _examples(root / "examples.npz", examples)
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layout")
    one = _run(root / "one-cell", [_cell("cnn", "standard", 0, 0.0)], 1, None)
    cells, transfers = [], []
    for fold in range(2):
        variants = []
        for model, regimes in (("cnn", REGIMES[:-1]), ("lipschitz_cnn", ("standard", "certified"))):
            for i, regime in enumerate(regimes):
                cells.append(_cell(model, regime, fold, 0.02 * i))
                variants.append(f"{model}.{regime}")
        transfers.append(_transfer(fold, variants))
    many = _run(root / "many-variants", cells + transfers, 2, "cnn.standard")
    return {"one cell": one, "many variants": many}


def _boxes(fig: Figure) -> tuple[list[tuple[str, Bbox]], list[tuple[str, Bbox]]]:
    """(titles, legends) of `fig` as drawn: their window extents in pixels."""
    canvas = FigureCanvasAgg(fig)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="constrained_layout not applied")
        canvas.draw()  # a layout that gave up is a failure, not a warning
    renderer = canvas.get_renderer()

    def box(artist: Artist) -> Bbox:
        return artist.get_window_extent(renderer)

    titles: list[tuple[str, Bbox]] = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        titles.append((f"title {fig._suptitle.get_text()!r}", box(fig._suptitle)))
    legends = [(f"figure legend {i}", box(lg)) for i, lg in enumerate(fig.legends)]
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for text in (ax.title, ax._left_title, ax._right_title):
            if text.get_text():
                titles.append((f"panel title {text.get_text()!r}", box(text)))
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            legends.append((f"legend of {ax.get_title()!r}", box(legend)))
    return titles, legends


def layout_problems(fig: Figure) -> list[str]:
    """Titles or legends that leave the figure, and legends that overlap a title."""
    titles, legends = _boxes(fig)
    edge = fig.bbox.padded(SLACK)
    problems = [
        f"{name} leaves the figure ({box.bounds} not in {fig.bbox.bounds})"
        for name, box in titles + legends
        if not (edge.contains(box.x0, box.y0) and edge.contains(box.x1, box.y1))
    ]
    problems += [
        f"{legend} overlaps {title}"
        for legend, lbox in legends
        for title, tbox in titles
        if lbox.overlaps(tbox)
    ]
    return problems


@pytest.mark.parametrize("name", ["one cell", "many variants"])
def test_every_figure_lays_out_cleanly(runs: dict[str, Path], tmp_path: Path, name: str) -> None:
    run = load_run(runs[name])
    with house_style():
        figures = report_figures(run, tmp_path)
        drawn = [f for files in figures.values() for f in files]
        assert len(drawn) >= 8
        problems = {f.path.name: layout_problems(f.figure) for f in drawn if f.figure is not None}
    assert {k: v for k, v in problems.items() if v} == {}


@pytest.mark.parametrize("name", ["one cell", "many variants"])
def test_no_none_reaches_the_page(runs: dict[str, Path], tmp_path: Path, name: str) -> None:
    page = write_report(runs[name], tmp_path).read_text(encoding="utf-8")
    text = re.sub(r'src="data:image/png;base64,[^"]*"', "", page)  # base64 holds any letters
    assert "None" not in text
    assert not re.search(r"\bnan\b", text)


def test_the_checks_can_fail() -> None:
    fig = Figure(figsize=(2.0, 2.0), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], label="a line with a long legend entry")
    fig.suptitle("A title far too long for a figure two inches wide, cut at both sides")
    fig.legend(loc="upper center")
    problems = layout_problems(fig)
    assert any("leaves the figure" in p for p in problems)
    assert any("overlaps title" in p for p in problems)
