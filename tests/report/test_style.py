"""Plot helpers: ragged fold averages, ROC averaging on the shared grid, variant colours."""

from __future__ import annotations

import numpy as np
import pytest

from robusteye.report.curves import FPR_GRID, mean_roc
from robusteye.report.style import mean_std, palette, short_label
from robusteye.results import Roc


def test_mean_std_ragged_with_missing_values() -> None:
    mean, std = mean_std([[1.0, 2.0, None], [3.0, float("nan")], [5.0]])
    np.testing.assert_allclose(mean, [3.0, 2.0, np.nan], atol=1e-12)
    np.testing.assert_allclose(std, [np.sqrt(8 / 3), 0.0, np.nan], atol=1e-12)


def test_mean_roc_on_the_shared_grid() -> None:
    diagonal = Roc((0.0, 1.0), (0.0, 1.0), 0.5)
    perfect = Roc(tuple(FPR_GRID), (0.0,) + (1.0,) * 100, 1.0)
    result = mean_roc([diagonal, perfect, None])
    assert result is not None
    mean, std, text = result
    assert mean[50] == pytest.approx(0.75)  # (0.5 + 1.0) / 2 at FPR 0.5
    assert std[50] == pytest.approx(0.25)
    assert text == "AUC 0.750 ± 0.250"
    assert mean_roc([None, None]) is None


def test_palette_is_stable_per_variant() -> None:
    colors = palette(["a", "b", "c"])
    assert colors == palette(["a", "b", "c"])
    assert len(set(colors.values())) == 3
    assert short_label("WRN-16-1 · adversarial") == "adversarial"
