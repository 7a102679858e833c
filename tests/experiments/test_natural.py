"""Natural robustness in experiments: a regime trained against corruptions too, the
corruption benchmark in every row, and the report showing clean, adversarial and corruption
accuracy side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from robusteye.errors import UsageError
from robusteye.experiments import RunResult, expand_cells, load_spec, run_experiment
from robusteye.models import load_model
from robusteye.report import write_report

NATURAL: dict[str, Any] = {
    "name": "natural",
    "data": "synthetic:n=120",
    "folds": 2,
    "models": ["wrn_16_1"],
    "train": {"epochs": 2, "batch_size": 32, "augment": False},
    "regimes": [
        {"kind": "standard"},
        {"kind": "standard", "corruptions": "all", "corruption_p": 0.5},
        {"kind": "adversarial", "corruptions": ["jpeg", "glare"], "corruption_max_severity": 2},
    ],
    "evaluation": {
        "attacks": [{"name": "fgsm", "eps": [0.01, 0.03]}],
        "corruptions": {"names": ["rotation", "jpeg", "occlusion"], "severities": [1, 3, 5]},
        "limit": 30,
        "examples": 0,
    },
}


@pytest.fixture(scope="module")
def natural_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    return run_experiment(load_spec(NATURAL), tmp_path_factory.mktemp("runs") / "natural")


def test_regimes_with_corruption_training_are_distinct_variants() -> None:
    cells = expand_cells(load_spec(NATURAL))
    variants = list(dict.fromkeys(c.variant for c in cells))
    assert variants == [
        "wrn_16_1.standard",
        "wrn_16_1.standard+nat-all-p0.5-s3",
        "wrn_16_1.adversarial-fgsm-e0.001-0.032-f0.5+nat-jpeg-glare-p0.5-s2",
    ]
    natural = next(c for c in cells if "+nat-all" in c.id)
    assert "corruptions (all, 50% of each batch, severity <= 3)" in natural.label


def test_rows_carry_the_corruption_benchmark_and_the_training_settings(
    natural_run: RunResult,
) -> None:
    cells = [r.to_dict() for r in natural_run.rows if r.kind == "cell"]
    assert len(cells) == 6
    for row in cells:
        c = row["corruptions"]
        assert c["n"] == 30 and c["severities"] == [1, 3, 5]
        assert c["corruptions"] == ["rotation", "jpeg", "occlusion"]
        assert len(c["points"]) == 9
        accs = [p["metrics"]["accuracy"] for p in c["points"]]
        assert c["mean_corruption_accuracy"] == pytest.approx(sum(accs) / 9)
    trained = [r for r in cells if "+nat-" in r["variant"]]
    assert {tuple(r["natural"]["corruptions"]) for r in trained} == {
        ("jpeg", "glare"),
        (
            "rotation", "translation", "scale", "brightness", "contrast", "gamma",
            "gaussian_noise", "shot_noise", "defocus_blur", "motion_blur", "jpeg", "pixelate",
            "occlusion", "glare",
        ),
    }  # fmt: skip
    assert all("natural" not in r for r in cells if "+nat-" not in r["variant"])


def test_corruption_training_changes_the_model_and_is_recorded_in_its_checkpoint(
    natural_run: RunResult,
) -> None:
    out = natural_run.out / "cells"
    plain = load_model(out / "wrn_16_1.standard.f0.s0" / "model")
    robust = load_model(out / "wrn_16_1.standard+nat-all-p0.5-s3.f0.s0" / "model")
    first = next(iter(plain.state_dict()))
    assert not plain.state_dict()[first].equal(robust.state_dict()[first])
    config_file = out / "wrn_16_1.standard+nat-all-p0.5-s3.f0.s0" / "model" / "config.json"
    config = json.loads(config_file.read_text())
    assert len(config["training"]["config"]["corruptions"]) == 14


def test_summary_and_report_show_the_three_kinds_side_by_side(natural_run: RunResult) -> None:
    by_variant = {s["variant"]: s for s in natural_run.summary}
    for s in by_variant.values():
        c = s["corruptions"]
        assert c["severities"] == [1, 3, 5]
        assert set(c["per_corruption"]) == {"rotation", "jpeg", "occlusion"}
        assert 0 <= c["mean"]["accuracy"]["mean"] <= 1
    path = write_report(natural_run.out)
    html = path.read_text()
    assert "Clean, adversarial and natural robustness" in html
    assert "corruptions (mCA)" in html and "worst corruption" in html
    assert "corruptions (mean of 9)" in html
    assert (natural_run.out / "figures" / "corruption_severity.png").stat().st_size > 5000
    assert (natural_run.out / "figures" / "corruption_vs_attacks.png").stat().st_size > 5000


@pytest.mark.parametrize(
    ("regime", "message"),
    [
        ({"kind": "standard", "corruptions": "fog"}, "unknown corruption 'fog'"),
        ({"kind": "standard", "corruption_p": 0}, "corruption_p must lie in (0, 1]"),
        ({"kind": "augment", "corruption_max_severity": 9}, "corruption_max_severity"),
        ({"kind": "standard", "corruption_p": [0.1, 0.2]}, "takes one value, not a list"),
    ],
)
def test_bad_natural_settings_are_one_line_errors(regime: dict[str, Any], message: str) -> None:
    spec = {**NATURAL, "regimes": [{"kind": "standard"}, regime]}
    with pytest.raises(UsageError) as info:
        load_spec(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_corruption_evaluation_is_a_one_line_error() -> None:
    for bad, message in (
        ({"names": ["fog"]}, "unknown corruption 'fog'"),
        ({"severities": [0, 1]}, "severities must lie in 1..5"),
        ({"severities": [6]}, "severity must lie in 0..5"),
        ({"severities": []}, "at least 1 item"),
    ):
        spec = {**NATURAL, "evaluation": {"corruptions": bad}}
        with pytest.raises(UsageError) as info:
            load_spec(spec)
        assert message in str(info.value), info.value


def test_spec_files_may_name_the_natural_section(tmp_path: Path) -> None:
    path = tmp_path / "n.yaml"
    path.write_text(yaml.safe_dump(NATURAL))
    assert load_spec(path).evaluation.corruptions is not None
