from __future__ import annotations

import pytest
import torch

from robusteye.evaluate import classification_metrics


def test_toy_values_worked_by_hand():
    # 3 classes, 6 examples; predictions: 0,0,1,1,2,0 vs truth 0,1,1,1,2,2
    logits = torch.tensor([[5.0, 0, 0], [5, 0, 0], [0, 5, 0], [0, 5, 0], [0, 0, 5], [5, 0, 0]])
    y = torch.tensor([0, 1, 1, 1, 2, 2])
    m = classification_metrics(logits, y, ("a", "b", "c"))
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.precision == pytest.approx({"a": 1 / 3, "b": 1.0, "c": 1.0})
    assert m.recall == pytest.approx({"a": 1.0, "b": 2 / 3, "c": 0.5})
    assert m.f1["a"] == pytest.approx(0.5)
    assert m.macro_recall == pytest.approx((1 + 2 / 3 + 0.5) / 3)
    assert m.confusion == [[1, 0, 0], [1, 2, 0], [1, 0, 1]]
    assert 0.5 < m.roc_auc_macro <= 1.0 and 0.5 < m.roc_auc_micro <= 1.0
    assert m.loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)))


def test_perfect_and_binary():
    y = torch.tensor([0, 1, 0, 1])
    logits = torch.tensor([[2.0, -2], [-1, 1], [3, 0], [0, 4]])
    m = classification_metrics(logits, y, ("open", "closed"))
    assert m.accuracy == 1.0 and m.roc_auc_macro == 1.0 and m.roc_auc_micro == 1.0
    # reversed scores give AUC 0
    assert classification_metrics(-logits, y, ("open", "closed")).roc_auc_macro == 0.0


def test_absent_class_and_single_class():
    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])  # class 3 absent: AUC over present classes
    m = classification_metrics(logits, y, ("a", "b", "c", "d"))
    assert m.roc_auc_macro is not None and m.recall["d"] == 0.0
    one = classification_metrics(logits, torch.zeros(6, dtype=torch.int64), ("a", "b", "c", "d"))
    assert one.roc_auc_macro is None and one.roc_auc_micro is None


def test_roundtrip_dict():
    m = classification_metrics(torch.eye(3), torch.arange(3), ("x", "y", "z"))
    assert type(m).from_dict(m.to_dict()) == m
