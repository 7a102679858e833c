"""`summarize` on hand-made rows: hand-worked means and stds, None-safety, point matching."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from robusteye.evaluate.metrics import Metrics
from robusteye.report import summarize
from robusteye.report.summary import stat
from robusteye.results import CellRow, Curve, CurveKind, CurvePoint, Row, TransferRow

#: a real cell row, whose fields the hand-made rows below replace
TEMPLATE = CellRow.from_dict(
    json.loads(
        (Path(__file__).parents[1] / "results" / "results_samples.jsonl")
        .read_text()
        .splitlines()[0]
    )
)


def _metrics(accuracy: float) -> Metrics:
    # loss NaN (stored as null): no usable value
    return replace(TEMPLATE.clean, accuracy=accuracy, macro_f1=0.5, roc_auc_macro=None,
                   loss=math.nan)  # fmt: skip


def _point(eps: float, snr: float, acc: float, target: float | None = None) -> CurvePoint:
    return CurvePoint(eps, snr, snr, target, _metrics(acc))


def _cell(variant: str, fold: int, acc: float, points: list[CurvePoint], seed: int = 0) -> CellRow:
    curve = Curve(CurveKind.ATTACK, "fgsm", {}, _metrics(acc), tuple(points), 60)
    return replace(
        TEMPLATE,
        id=f"{variant}.f{fold}.s{seed}",
        variant=variant,
        model="wrn_16_1",
        label=f"WRN · {variant}",
        regime={"kind": variant},
        fold=fold,
        seed=seed,
        clean=_metrics(acc),
        attacks=(curve,),
    )


def test_stat_hand_worked() -> None:
    s = stat([0.5, 0.7])
    assert s.mean == pytest.approx(0.6, abs=1e-12)
    assert s.std == pytest.approx(0.1, abs=1e-12)  # population std: |0.7 - 0.6|
    assert s.n == 2
    assert stat([0.3]).std == 0.0
    assert stat([None, float("nan")]).to_dict() == {"mean": None, "std": None, "n": 0}
    assert stat([1.0, None, 3.0]).mean == pytest.approx(2.0)
    assert stat([0.5, 0.7]).format(2) == "0.60 ± 0.10"


def test_summarize_means_and_stds_across_folds() -> None:
    rows: list[Row] = [
        _cell("standard", 0, 0.5, [_point(0.01, 33.0, 0.2), _point(0.03, 23.0, 0.1)]),
        _cell("standard", 1, 0.7, [_point(0.01, 35.0, 0.4), _point(0.03, 25.0, 0.3)]),
        TransferRow("transfer.f0.s0", 0, 0, 0, ()),
        _cell("adversarial", 0, 0.8, [_point(0.01, 34.0, 0.6)]),
    ]
    standard, adversarial = summarize(rows)
    assert (standard.variant, adversarial.variant) == ("standard", "adversarial")
    assert standard.label == "WRN · standard"
    assert (standard.n_folds, standard.n_seeds, standard.n_cells) == (2, 1, 2)
    assert standard.clean["accuracy"].mean == pytest.approx(0.6)
    assert standard.clean["accuracy"].std == pytest.approx(0.1)
    assert standard.clean["macro_f1"].std == 0.0
    assert standard.clean["roc_auc_macro"].mean is None  # every value None: skipped
    assert standard.clean["loss"].n == 0  # NaN: skipped
    (fgsm,) = standard.attacks
    weak, strong = fgsm.points
    assert (weak.label, weak.label_kind) == (0.01, "eps")
    assert weak.metrics["accuracy"].mean == pytest.approx(0.3)
    assert weak.metrics["accuracy"].std == pytest.approx(0.1)
    assert weak.snr_db.mean == pytest.approx(34.0)
    assert weak.snr_db.std == pytest.approx(1.0)
    assert strong.metrics["accuracy"].mean == pytest.approx(0.2)
    assert fgsm.strongest() is strong
    assert adversarial.n_folds == 1
    assert adversarial.clean["accuracy"].std == 0.0  # one fold: std 0


def test_summarize_skips_none_and_counts_seeds() -> None:
    rows = [
        _cell("standard", 0, 0.5, [], seed=0),
        _cell("standard", 0, math.nan, [], seed=1),
        _cell("standard", 1, 0.9, [], seed=1),
    ]
    (s,) = summarize(rows)
    assert (s.n_folds, s.n_seeds, s.n_cells) == (2, 2, 3)
    assert s.clean["accuracy"].n == 2
    assert s.clean["accuracy"].mean == pytest.approx(0.7)
    assert s.clean["accuracy"].std == pytest.approx(0.2)


def test_points_by_target_snr() -> None:
    rows = [
        _cell("standard", f, 0.8, [_point(e40, 40.0, 0.5, 40.0), _point(e30, 30.0, 0.2, 30.0)])
        for f, (e40, e30) in enumerate([(0.008, 0.02), (0.010, 0.03)])
    ]
    (s,) = summarize(rows)
    p40, p30 = s.attacks[0].points
    assert (p40.label, p40.label_kind) == (40.0, "target_snr_db")
    assert p40.eps.mean == pytest.approx(0.009)
    assert p40.eps.std == pytest.approx(0.001)
    assert s.attacks[0].strongest() is p30  # lowest SNR is the strongest
    assert p30.title().startswith("SNR 30 dB")


def test_summary_is_json_ready() -> None:
    rows = [_cell("standard", f, a, [_point(0.03, 24.0, a / 2)]) for f, a in ((0, 0.5), (1, 0.7))]
    doc = json.loads(json.dumps([s.to_dict() for s in summarize(rows)], allow_nan=False))
    assert doc[0]["clean"]["accuracy"] == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(0.1),
        "n": 2,
    }
    assert doc[0]["attacks"][0]["strongest"] == 0
    assert doc[0]["attacks"][0]["points"][0]["metrics"]["accuracy"]["mean"] == pytest.approx(0.3)
    assert summarize([]) == []


def test_variant_order_does_not_depend_on_finish_order() -> None:
    rows = [_cell("adversarial", 0, 0.5, []), _cell("augment", 0, 0.5, [])]
    rows += [_cell("standard", 0, 0.5, [])]
    rows += [replace(_cell("standard", 0, 0.5, []), model="cnn", variant="cnn.standard")]
    order = [s.variant for s in summarize(rows)]
    assert order == ["cnn.standard", "standard", "augment", "adversarial"]
    assert order == [s.variant for s in summarize(rows[::-1])]
