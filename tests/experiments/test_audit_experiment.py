"""`evaluation.audit` in an experiment: every row carries the audit, its worst case sits
among the attack curves never above them, and the report draws it and shows the
indicators."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from robusteye.errors import UsageError
from robusteye.evaluate.audit import WORST_CASE
from robusteye.evaluate.ceiling import CEILING
from robusteye.experiments import RunResult, load_spec, run_experiment
from robusteye.report import write_report

SPEC: dict[str, Any] = {
    "name": "audited",
    "data": "synthetic:n=80",
    "folds": 2,
    "models": ["cnn"],
    "train": {"epochs": 1, "batch_size": 32, "augment": False},
    "regimes": [{"kind": "standard"}],
    "evaluation": {
        "attacks": [{"name": "fgsm", "snr": [40, 30]}, {"name": "pgd", "snr": [40, 30]}],
        "audit": {"snr": [40, 30], "suite": "quick", "limit": 16},
        "limit": 20,
        "examples": 2,  # the image grid skips the worst case (not an attack)
    },
}


@pytest.fixture(scope="module")
def audited_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_experiment(load_spec(SPEC), tmp_path_factory.mktemp("runs") / "audited")


def test_rows_carry_the_audit_and_its_worst_case_curve(audited_run: RunResult) -> None:
    rows = [r.to_dict() for r in audited_run.rows]
    assert len(rows) == 2
    for row in rows:
        audit = row["audit"]
        assert audit["suite"] == "quick" and audit["n"] == 16
        assert [p["target_snr_db"] for p in audit["points"]] == [40, 30]
        names = [c["attack"] for c in row["attacks"]]
        assert names == ["fgsm", "pgd", WORST_CASE, CEILING]
        for p in audit["points"]:
            own = {a["name"]: a["accuracy"] for a in p["attacks"]}
            assert p["worst_accuracy"] <= min(own["fgsm"], own["pgd-10"]) + 1e-9
            # no model beats the data's ceiling on the same images in the same ball
            assert p["worst_accuracy"] <= p["ceiling"] <= 1.0
        ceiling = next(c for c in row["attacks"] if c["attack"] == CEILING)
        assert [q["metrics"]["accuracy"] for q in ceiling["points"]] == [
            p["ceiling"] for p in audit["points"]
        ]
        assert {i["name"] for i in audit["indicators"]} >= {"gradients", "unbounded"}


def test_the_image_grid_shows_the_attacks_not_the_worst_case(audited_run: RunResult) -> None:
    with np.load(audited_run.out / "examples.npz") as grid:
        assert list(grid["attacks"]) == ["fgsm", "pgd"]
        assert grid["pgd_adv"].shape[:2] == (2, 2)  # two SNRs, two crops


def test_report_draws_the_worst_case_and_lists_indicators(audited_run: RunResult) -> None:
    html = write_report(audited_run.out).read_text()
    assert "worst case" in html and "DATA CEILING: accuracy at every point" in html
    assert "indicators of attack failure" in html or "audit-pass" in html or "audit-warn" in html


def test_bad_audit_settings_are_one_line() -> None:
    bad = {**SPEC, "evaluation": {**SPEC["evaluation"], "audit": {"suite": "huge", "snr": [30]}}}
    with pytest.raises(UsageError, match=r"evaluation\.audit\.suite"):
        load_spec(bad)
