"""Robust training in an experiment: the new regimes as grid points, weight averaging as a
regime's grid axis (two cells, the averaged one scored as its own model), the audit's worst
case beside clean accuracy in the report, and `experiments/robust.yaml` itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from robusteye.errors import UsageError
from robusteye.evaluate.audit import WORST_CASE
from robusteye.evaluate.ceiling import CEILING
from robusteye.experiments import RunResult, load_spec, run_experiment
from robusteye.experiments.grid.cells import expand_cells
from robusteye.models import load_model
from robusteye.report import write_report

ROOT = Path(__file__).resolve().parents[2]

SPEC: dict[str, Any] = {
    "name": "robust",
    "data": "synthetic:n=80",
    "folds": 2,
    "models": [{"name": "wrn", "options": {"depth": 10, "width": 1}}],
    "train": {"epochs": 2, "batch_size": 32, "augment": False, "robust_val": 16},
    "regimes": [
        {"kind": "trades", "eps": 0.02, "pgd_steps": 2, "beta": 3, "ema_decay": [0, 0.9]},
        {"kind": "fgsm-rs", "eps": 0.02, "eps_warmup": 1},
    ],
    "evaluation": {
        "audit": {"snr": [35], "suite": "quick", "limit": 12},
        "limit": 12,
        "examples": 0,
    },
}


def _dicts(rows: list[Any]) -> list[dict[str, Any]]:
    """Typed rows as written to results.jsonl."""
    return [r.to_dict() for r in rows]


@pytest.fixture(scope="module")
def robust_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_experiment(load_spec(SPEC), tmp_path_factory.mktemp("runs") / "robust")


def test_weight_averaging_is_a_grid_axis_and_scored_as_its_own_model(robust_run: RunResult):
    rows = {r["variant"]: r for r in _dicts(robust_run.rows) if r["fold"] == 0}
    assert sorted(rows) == [
        "wrn.fgsm-rs-e0.02-w1",
        "wrn.trades-k2-b3-e0.02",
        "wrn.trades-k2-b3-e0.02+ema0.9",
    ]
    averaged, raw = rows["wrn.trades-k2-b3-e0.02+ema0.9"], rows["wrn.trades-k2-b3-e0.02"]
    assert averaged["ema_decay"] == 0.9 and "ema_decay" not in raw
    assert "EMA 0.9" in averaged["label"] and averaged["regime"]["beta"] == 3
    # the same training, so the same raw curves; the averaged cell scores other weights
    assert [h["train_loss"] for h in averaged["history"]] == [
        h["train_loss"] for h in raw["history"]
    ]
    a = load_model(robust_run.out / averaged["checkpoint"]).state_dict()
    b = load_model(robust_run.out / raw["checkpoint"]).state_dict()
    assert any(not (a[k] == b[k]).all() for k in a if a[k].is_floating_point())
    for row in _dicts(robust_run.rows):  # the robust check runs on training images (no validation)
        assert all(0 <= h["val_robust_acc"] <= 1 for h in row["history"])
        assert [c["attack"] for c in row["attacks"]] == [WORST_CASE, CEILING]


def test_report_sets_clean_accuracy_beside_the_worst_case(robust_run: RunResult):
    html = write_report(robust_run.out).read_text()
    assert "Clean accuracy against the worst case" in html
    assert "worst case SNR 35 dB" in html
    assert (robust_run.out / "figures" / "clean_vs_worst_case.png").stat().st_size > 10_000


def test_robust_yaml_loads_and_expands_each_recipe_with_and_without_averaging():
    spec = load_spec(ROOT / "experiments" / "robust.yaml")
    variants = {c.variant for c in expand_cells(spec)}
    kinds = {r.kind for g in spec.regimes for r in g.expand()}
    assert kinds == {"standard", "adversarial", "pgd", "trades", "fgsm-rs"}
    assert len(variants) == 10 and sum("+ema" in v for v in variants) == 5
    assert spec.evaluation.audit is not None


def test_levers_yaml_crosses_the_spatial_head_with_weight_perturbation():
    spec = load_spec(ROOT / "experiments" / "levers.yaml")
    cells = expand_cells(spec)
    assert len({c.variant for c in cells}) == 4 and len(cells) == 12
    grids = {c.model.options.get("head_grid", 1) for c in cells}
    gammas = {c.regime.awp_gamma for c in cells}
    assert grids == {1, 8} and gammas == {0.0, 0.005}
    assert all(c.regime.kind == "adversarial" and c.regime.attack == "pgd" for c in cells)


@pytest.mark.parametrize(
    ("regime", "match"),
    [
        ({"kind": "trades", "fraction": 0.5}, "'fraction' is not an option of the trades"),
        ({"kind": "pgd", "ema_decay": [0, 1.0]}, "ema decay"),
        ({"kind": "pgd", "overfit_drop": [0.1, 0.2]}, "takes one value"),
        ({"kind": "mixup"}, "kind"),
    ],
)
def test_bad_robust_regimes_are_one_line(regime: dict[str, Any], match: str) -> None:
    spec = {**SPEC, "regimes": [regime]}
    with pytest.raises(UsageError, match=match):
        load_spec(spec)
