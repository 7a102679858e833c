"""The typed result rows: rows written by earlier code load and are written back byte for
byte, a field of the wrong type is one error line naming it, and each curve knows its kind."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from robusteye.errors import RobustEyeError
from robusteye.evaluate.audit.result import WORST_CASE
from robusteye.evaluate.certify import CERTIFIED
from robusteye.evaluate.metrics import classification_metrics
from robusteye.io import dumps_json
from robusteye.results import (
    AuditSummary,
    CellRow,
    CertificatePoint,
    CertificateSummary,
    CurveKind,
    ResultsStore,
    TransferRow,
    TrialRow,
    row_from_dict,
)

#: rows as the code before the typed schema wrote them (a parity run's cell, its ROC grids
#: thinned; a transfer row; a search trial row)
SAMPLES = Path(__file__).with_name("results_samples.jsonl")
CLASSES = ("closed", "open")


def _line(row: Any) -> str:
    return dumps_json(row, separators=(",", ":"))


def _samples() -> list[str]:
    return SAMPLES.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("index", range(3))
def test_rows_written_before_load_and_write_back_identically(index: int) -> None:
    line = _samples()[index]
    row = row_from_dict(json.loads(line))
    assert row.kind == json.loads(line)["kind"]
    assert _line(row.to_dict()) == line


def test_a_sample_cell_reads_as_attributes() -> None:
    row = row_from_dict(json.loads(_samples()[0]))
    assert isinstance(row, CellRow)
    kinds = [c.kind for c in row.attacks]
    assert kinds[-2:] == [CurveKind.WORST_CASE, CurveKind.CERTIFIED]
    assert set(kinds[:-2]) == {CurveKind.ATTACK}
    assert row.audit is not None and row.audit.worst_case() == row.attacks[-2]
    certificate = row.certificate
    assert certificate is not None and certificate.curve() == row.attacks[-1]
    assert row.corruptions is not None
    curves = row.corruptions.curves()
    assert [c.kind for c in curves] == [CurveKind.CORRUPTION] * len(row.corruptions.corruptions)
    assert all(p.severity is not None and p.eps is None for c in curves for p in c.points)
    assert row.ema_decay == 0.9 and row.history[-1].epoch == row.epochs


def _metrics() -> dict[str, Any]:
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.2], [-1.0, 1.5], [0.1, 0.3]])
    return classification_metrics(logits, torch.tensor([0, 1, 1, 0]), CLASSES).to_dict()


def _cell() -> dict[str, Any]:
    """A cell row with every optional key, in the order the runner writes them."""
    roc = {"fpr": [0.0, 1.0], "tpr": [None, 1.0], "auc": None}
    point = {"eps": 0.03, "snr_db": 31.5, "mean_snr_db": 31.6, "target_snr_db": None,
             "metrics": _metrics(), "roc": roc}  # fmt: skip
    audit = {
        "norm": "linf", "suite": "quick", "seed": 0, "n": 4, "classes": 2,
        "settings": {"pgd_steps": 2}, "notes": [],
        "points": [{"eps": 0.03, "snr_db": 30.0, "target_snr_db": 30, "clean_accuracy": 0.5,
                    "worst_accuracy": 0.25, "attacks": [{"name": "fgsm", "settings":
                    {"attack": "fgsm"}, "cascade": True, "attacked": 2, "broken": 1,
                    "accuracy": 0.25, "seconds": 0.012}]}],
        "indicators": [{"name": "gradient", "status": "warn", "reason": "flat"}],
    }  # fmt: skip
    cert = CertificateSummary(1.5, 4, 0.5, (CertificatePoint(0.1, None, math.inf, 0.25),))
    epoch = {"epoch": 1, "lr": 0.1, "train_loss": 1.2, "train_acc": 0.4, "val_loss": None,
             "val_acc": 0.5, "val_macro_f1": 0.3, "seconds": 0.5, "val_robust_acc": None,
             "ema_val_acc": 0.5, "collapsed": 1}  # fmt: skip
    return {
        "kind": "cell", "id": "m.pgd.f0.s0", "variant": "m.pgd", "label": "M · pgd",
        "model": "m", "model_options": {"width": 2}, "regime": {"kind": "pgd", "eps": 0.03},
        "natural": {"corruptions": ["blur"], "corruption_p": 0.5, "corruption_max_severity": 3},
        "ema_decay": 0.99, "label_smoothing": 0.1, "stopped": 1,
        "fold": 0, "seed": 0, "data": "synthetic", "classes": list(CLASSES),
        "eval_set": "fold test", "n_train": 8, "n_val": 4, "n_eval": 4, "epochs": 2,
        "history": [epoch], "clean": _metrics(),
        "roc": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.75, 1.0], "auc": 0.8},
        "attacks": [
            {"attack": "pgd", "options": {"steps": 2}, "points": [point], "clean": _metrics(),
             "n": 4},
            AuditSummary.from_dict(audit).worst_case().to_dict(),
            json.loads(_line(cert.curve().to_dict())),
        ],
        "corruptions": {
            "corruptions": ["blur"], "severities": [1], "seed": 0, "class_map": None,
            "clean": _metrics(), "mean_corruption_accuracy": 0.5, "relative_drop": None,
            "per_corruption": {"blur": {"accuracy": [0.5], "mean_accuracy": 0.5}},
            "points": [{"corruption": "blur", "severity": 1, "snr_db": None,
                        "mean_snr_db": 20.0, "metrics": _metrics()}],
            "n": 4,
        },
        "audit": audit, "checkpoint": "cells/m.pgd.f0.s0/model", "seconds": 1.25,
    }  # fmt: skip


def test_every_optional_key_round_trips_in_order() -> None:
    data = json.loads(_line(_cell()))
    row = CellRow.from_dict(data)
    assert list(row.to_dict()) == list(data)
    assert _line(row.to_dict()) == _line(data)
    assert row.stopped == 1 and row.natural is not None and row.label_smoothing == 0.1
    assert row.history[0].val_loss is None  # null kept as null
    point = CertificatePoint(0.1, None, None, 0.25)  # inf written as null
    assert row.certificate == CertificateSummary(1.5, 4, 0.5, (point,))


def test_optional_keys_are_left_out_when_unset() -> None:
    data = _cell()
    for key in ("natural", "ema_decay", "label_smoothing", "stopped", "corruptions", "audit"):
        del data[key]
    data = json.loads(_line(data))
    assert _line(CellRow.from_dict(data).to_dict()) == _line(data)


@pytest.mark.parametrize(
    ("path", "value", "what"),
    [
        ("fold", "0", "an integer, got '0'"),
        ("attacks.0.points.0.snr_db", "x", "a number or null"),
        ("attacks.0.points.0.metrics.accuracy", None, "a number"),
        ("audit.points.0.attacks.0.cascade", 1, "true or false"),
        ("history.0.epoch", 1.5, "an integer"),
        ("corruptions.severities", ["1"], "a list of numbers"),
        ("classes", "closed", "a list"),
    ],
)
def test_a_wrong_type_is_one_line_naming_the_field(path: str, value: Any, what: str) -> None:
    data = copy.deepcopy(_cell())
    *parents, last = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = data
    for key in parents:
        target = target[key]
    target[last] = value
    with pytest.raises(RobustEyeError) as err:
        row_from_dict(data)
    name = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in [*parents, last])
    assert str(err.value).startswith(f"field {name.lstrip('.')!r} must be {what}")
    assert "\n" not in str(err.value)


def test_missing_and_unknown_fields_are_named() -> None:
    data = _cell()
    del data["attacks"][0]["n"]
    with pytest.raises(RobustEyeError, match=r"^missing field 'attacks\[0\]\.n'$"):
        row_from_dict(data)
    data = _cell()
    data["attacks"][1]["points"][0]["extra"] = 1
    with pytest.raises(RobustEyeError, match=r"unknown field 'attacks\[1\]\.points\[0\]\.extra'"):
        row_from_dict(data)
    with pytest.raises(RobustEyeError, match="unknown row kind 'cel'"):
        row_from_dict({**_cell(), "kind": "cel"})


def test_curve_kinds_are_explicit_and_stored_under_their_old_names() -> None:
    row = CellRow.from_dict(_cell())
    attack, worst, certified = row.attacks
    assert (attack.kind, worst.kind, certified.kind) == (
        CurveKind.ATTACK, CurveKind.WORST_CASE, CurveKind.CERTIFIED,
    )  # fmt: skip
    assert [c.to_dict()["attack"] for c in row.attacks] == ["pgd", WORST_CASE, CERTIFIED]
    assert not attack.is_bound and worst.is_bound and certified.is_bound
    assert worst.points[0].metrics.accuracy == 0.25 and worst.n == 4
    assert list(attack.to_dict()) == ["attack", "options", "points", "clean", "n"]
    assert list(worst.to_dict()) == ["attack", "options", "clean", "points", "n"]
    assert row.curve(CurveKind.ATTACK, "fgsm") is None


def test_the_store_writes_row_objects_and_names_the_line_of_a_bad_one(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results.jsonl")
    cell = CellRow.from_dict(_cell())
    store.append(cell)
    assert ResultsStore(store.path).rows() == [cell]
    bad = {**_cell(), "id": "b", "n_eval": "4"}
    with store.path.open("a") as f:
        f.write(_line(bad) + "\n")
    with pytest.raises(
        RobustEyeError,
        match=r"results\.jsonl: line 2 is not a result row: field 'n_eval' must be an integer",
    ):
        ResultsStore(store.path).rows()


def test_transfer_and_trial_rows_by_attribute() -> None:
    transfer, trial = (row_from_dict(json.loads(line)) for line in _samples()[1:3])
    assert isinstance(transfer, TransferRow) and isinstance(trial, TrialRow)
    matrix = transfer.matrices[0]
    assert len(matrix.accuracy) == len(matrix.names) == len(matrix.clean_accuracy)
    assert trial.value("seconds") == trial.seconds
    assert trial.value("objective") == trial.metrics.objective
