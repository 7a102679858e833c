"""`evaluation.certify` in an experiment: the certified regime trains the 1-Lipschitz family,
every row carries certified accuracy as a curve beside the attacks (never above the L2
audit's worst case at the same SNR), and the report draws it."""

from __future__ import annotations

from typing import Any

import pytest

from robusteye.errors import UsageError
from robusteye.evaluate.audit import WORST_CASE
from robusteye.evaluate.ceiling import CEILING
from robusteye.evaluate.certify import CERTIFIED
from robusteye.experiments import RunResult, load_spec, run_experiment
from robusteye.report import write_report

SPEC: dict[str, Any] = {
    "name": "certified",
    "data": "synthetic:n=80",
    "folds": 2,
    "models": ["cnn", {"name": "lipschitz_cnn", "options": {"width": 4, "hidden": 16}}],
    "train": {"epochs": 1, "batch_size": 32, "lr": 0.01, "augment": False},
    "regimes": [
        {"kind": "standard", "models": ["cnn"]},
        {"kind": "certified", "models": ["lipschitz_cnn"], "radius": 0.3},
    ],
    "evaluation": {
        "attacks": [{"name": "fgsm", "snr": [40, 30]}],
        "audit": {"snr": [40, 30], "norm": "l2", "suite": "quick", "limit": 16},
        "certify": {"snr": [40, 30], "limit": 16},
        "limit": 20,
        "examples": 0,
    },
}


@pytest.fixture(scope="module")
def certified_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_experiment(load_spec(SPEC), tmp_path_factory.mktemp("runs") / "certified")


def test_rows_carry_certified_accuracy_under_the_audit(certified_run: RunResult) -> None:
    rows = [r.to_dict() for r in certified_run.rows]
    assert sorted(r["regime"]["kind"] for r in rows) == ["certified"] * 2 + ["standard"] * 2
    for row in rows:
        curves = {c["attack"]: c for c in row["attacks"]}
        assert list(curves) == ["fgsm", WORST_CASE, CEILING, CERTIFIED]
        cert = curves[CERTIFIED]
        assert cert["n"] == 16 and cert["options"]["lipschitz"] > 0
        assert [p["target_snr_db"] for p in cert["points"]] == [40, 30]
        for c, w in zip(cert["points"], curves[WORST_CASE]["points"], strict=True):
            assert c["metrics"]["accuracy"] <= w["metrics"]["accuracy"] + 1e-9
        if row["regime"]["kind"] == "certified":
            assert row["regime"]["radius"] == 0.3
            assert cert["options"]["lipschitz"] <= 1.0 + 1e-5


def test_report_draws_the_certificate(certified_run: RunResult) -> None:
    html = write_report(certified_run.out).read_text()
    assert "each attack, the worst case and the certificate" in html
    assert "Accuracy against SNR under CERTIFIED" in html


@pytest.mark.parametrize(
    ("certify", "field"),
    [
        ({"radius": [0.1], "snr": [30]}, "one of them"),
        ({}, "one of them"),
        ({"radius": [-0.1]}, "radius values must be >= 0"),
        ({"snr": [30], "norm": "l2"}, "norm"),
    ],
)
def test_bad_certify_settings_are_one_line(certify: dict[str, Any], field: str) -> None:
    bad = {**SPEC, "evaluation": {**SPEC["evaluation"], "certify": certify}}
    with pytest.raises(UsageError, match=r"evaluation\.certify") as err:
        load_spec(bad)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_the_certified_regime_refuses_a_model_that_is_not_one_lipschitz() -> None:
    bad = {**SPEC, "regimes": [{"kind": "certified", "models": ["cnn"]}]}
    with pytest.raises(UsageError, match="1-Lipschitz"):
        load_spec(bad)
