"""Class maps: a 4-class model scored over 2-class (open / closed) data, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch

from robusteye.data import STUDY_CLASSES
from robusteye.errors import DataError, UsageError
from robusteye.evaluate import class_map, classification_metrics

OC = ("open", "closed")
#: model probabilities over (open, partiallyOpen, closed, notVisible)
PROBS = torch.tensor(
    [
        [0.30, 0.30, 0.20, 0.20],
        [0.10, 0.50, 0.30, 0.10],
        [0.20, 0.10, 0.60, 0.10],
        [0.05, 0.10, 0.25, 0.60],
    ]
)
LABELS = torch.tensor([0, 0, 1, 1])  # open, open, closed, closed


def test_partial_as_open_by_hand():
    cmap = class_map("partial-as-open", STUDY_CLASSES, OC)
    assert cmap is not None and cmap.describe() == "partiallyOpen -> open, notVisible excluded"
    p = cmap.apply(torch.log(PROBS)).exp()
    # P(open) = (p_open + p_partial) / (1 - p_notVisible)
    expected = torch.tensor([[0.75, 0.25], [2 / 3, 1 / 3], [1 / 3, 2 / 3], [0.375, 0.625]])
    assert torch.allclose(p, expected, atol=1e-6)
    m = classification_metrics(cmap.apply(torch.log(PROBS)), LABELS, OC)
    assert m.accuracy == 1.0 and m.classes == OC
    assert m.loss == pytest.approx(-(math.log(0.75) + 2 * math.log(2 / 3) + math.log(0.625)) / 4)
    assert m.roc_auc_macro == pytest.approx(1.0)
    assert m.confusion == [[2, 0], [0, 2]]


def test_exclude_partial_by_hand():
    cmap = class_map("exclude-partial", STUDY_CLASSES, OC)
    assert cmap is not None and cmap.describe() == "partiallyOpen, notVisible excluded"
    p = cmap.apply(torch.log(PROBS)).exp()
    expected = torch.tensor([[0.6, 0.4], [0.25, 0.75], [0.25, 0.75], [1 / 6, 5 / 6]])
    assert torch.allclose(p, expected, atol=1e-6)
    m = classification_metrics(cmap.apply(torch.log(PROBS)), LABELS, OC)
    assert m.accuracy == 0.75  # the second example, mostly partiallyOpen, turns closed
    assert m.loss == pytest.approx(
        -(math.log(0.6) + math.log(0.25) + math.log(0.75) + math.log(5 / 6)) / 4
    )
    # P(closed) of positives {0.75, 5/6} vs negatives {0.4, 0.75}: 3.5 of 4 pairs
    assert m.roc_auc_macro == pytest.approx(0.875)
    assert m.confusion == [[1, 1], [0, 2]]


def test_data_class_order_is_kept():
    cmap = class_map("auto", STUDY_CLASSES, ("closed", "open"))
    assert cmap is not None and cmap.name == "partial-as-open"
    p = cmap.apply(torch.log(PROBS[:1])).exp()
    assert torch.allclose(p, torch.tensor([[0.25, 0.75]]))
    assert cmap.to_dict() == {
        "name": "partial-as-open",
        "description": "partiallyOpen -> open, notVisible excluded",
        "model_classes": list(STUDY_CLASSES),
        "classes": ["closed", "open"],
        "merged": {"partiallyOpen": "open"},
        "excluded": ["notVisible"],
    }


def test_when_there_is_no_map():
    assert class_map("auto", STUDY_CLASSES, STUDY_CLASSES) is None
    assert class_map("none", STUDY_CLASSES, OC) is None
    assert class_map("auto", OC, ("closed", "open")) is None  # nothing to merge: align by name
    assert class_map("auto", STUDY_CLASSES, ("open", "partiallyOpen", "closed")) is None


@pytest.mark.parametrize(
    ("name", "model", "data", "error", "match"),
    [
        ("partial-as-open", STUDY_CLASSES, STUDY_CLASSES[:3], UsageError, "without partially"),
        ("partial-as-open", OC, ("closed", "open"), UsageError, "a model with partiallyOpen"),
        ("exclude-partial", STUDY_CLASSES, STUDY_CLASSES[:3], UsageError, "without partially"),
        ("auto", STUDY_CLASSES, ("open", "shut"), DataError, "data classes shut are unknown"),
        ("merge", STUDY_CLASSES, OC, UsageError, "unknown class map 'merge'"),
    ],
)
def test_bad_maps(name, model, data, error, match):
    with pytest.raises(error, match=match):
        class_map(name, model, data)


def test_logits_must_match_the_model_classes():
    cmap = class_map("exclude-partial", STUDY_CLASSES, OC)
    assert cmap is not None
    with pytest.raises(UsageError, match="expects logits over 4 classes"):
        cmap.apply(torch.zeros(2, 2))


def test_explicit_maps_on_equal_classes():
    assert class_map("exclude-partial", OC, OC) is None
    with pytest.raises(UsageError, match="without partiallyOpen"):
        class_map("exclude-partial", STUDY_CLASSES, STUDY_CLASSES)
