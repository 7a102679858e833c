"""The corruption benchmark: structure, mCA arithmetic, SNR, class maps and the figure."""

from __future__ import annotations

import json
import math

import pytest
import torch

from robusteye.attacks import snr_db
from robusteye.corruptions import corrupt
from robusteye.errors import UsageError
from robusteye.evaluate import (
    class_map,
    classification_metrics,
    corruption_benchmark,
    predict_logits,
)
from robusteye.evaluate.corruption import corruption_seed
from tests.toy import toy_batch


@pytest.fixture(scope="module")
def result(trained_toy):
    x, y = toy_batch(64, seed=3)
    return corruption_benchmark(
        trained_toy, x, y, ("top", "bottom"), "rotation,contrast,glare", (0, 2, 5), seed=4
    )


def test_points_match_the_library_pieces(result, trained_toy):
    x, y = toy_batch(64, seed=3)
    assert result.corruptions == ("rotation", "contrast", "glare")
    assert result.severities == (0, 2, 5)
    assert [(p.corruption, p.severity) for p in result.points][:3] == [
        ("rotation", 0),
        ("rotation", 2),
        ("rotation", 5),
    ]
    xc = corrupt(x, "glare", 5, seed=corruption_seed(4, "glare"))
    point = result.point("glare", 5)
    m = classification_metrics(predict_logits(trained_toy, xc), y, ("top", "bottom"))
    assert point.metrics == m
    assert point.snr_db == snr_db(x, xc)
    assert result.point("contrast", 0).metrics == result.clean
    assert result.point("contrast", 0).snr_db == math.inf


def test_mca_and_relative_drop(result):
    damaged = [p.metrics.accuracy for p in result.points if p.severity > 0]
    assert result.mean_corruption_accuracy == pytest.approx(sum(damaged) / 6)
    clean = result.clean.accuracy
    assert result.relative_drop == pytest.approx((clean - result.mean_corruption_accuracy) / clean)
    assert result.mean_accuracy("glare") == pytest.approx(sum(result.accuracies("glare")[1:]) / 2)


def test_to_dict_is_json(result):
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["severities"] == [0, 2, 5] and d["seed"] == 4 and d["class_map"] is None
    assert d["points"][0]["snr_db"] is None  # severity 0: +inf
    assert d["per_corruption"]["rotation"]["accuracy"] == result.accuracies("rotation")
    assert d["mean_corruption_accuracy"] == result.mean_corruption_accuracy


def test_class_map_scores_over_the_data_classes():
    from robusteye.data import STUDY_CLASSES
    from robusteye.models import create_model

    model = create_model("wrn_16_1", 4, seed=0)
    x = torch.rand(12, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    y = torch.arange(12) % 2
    cmap = class_map("auto", STUDY_CLASSES, ("open", "closed"))
    r = corruption_benchmark(model, x, y, ("open", "closed"), ["jpeg"], [3], class_map=cmap)
    assert r.clean.classes == ("open", "closed") and len(r.clean.confusion) == 2
    assert r.to_dict()["class_map"]["excluded"] == ["notVisible"]
    with pytest.raises(UsageError, match="class map is onto"):
        corruption_benchmark(model, x, y, ("closed", "open"), ["jpeg"], [3], class_map=cmap)


def test_bad_arguments(trained_toy):
    x, y = toy_batch(8)
    with pytest.raises(UsageError, match="unknown corruption 'fog'"):
        corruption_benchmark(trained_toy, x, y, ("a", "b"), "fog")
    with pytest.raises(UsageError, match=r"0\.\.5, got 7"):
        corruption_benchmark(trained_toy, x, y, ("a", "b"), "jpeg", [1, 7])
    with pytest.raises(UsageError, match="at least one severity"):
        corruption_benchmark(trained_toy, x, y, ("a", "b"), "jpeg", [])


def test_plot(result, tmp_path):
    from robusteye.report.corruption_plot import plot_corruption_benchmark

    adversarial = [("FGSM", [None, 40.0, 30.0, 20.0], [0.9, 0.8, 0.5, 0.2])]
    fig = plot_corruption_benchmark(result, tmp_path / "c.png", adversarial=adversarial)
    assert fig.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.png"]
