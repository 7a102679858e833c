"""Spec parsing: the shipped specs load, grids expand as written, and every mistake is one
clear line naming the field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from robusteye.errors import UsageError
from robusteye.experiments import expand_cells, load_spec

SPECS = Path(__file__).resolve().parents[2] / "experiments"


def base() -> dict[str, Any]:
    return {
        "name": "t",
        "data": "synthetic:n=160",
        "folds": 2,
        "models": ["wrn_16_1", {"name": "parseval_wrn_16_1", "options": {"beta": 0.01}}],
        "train": {"epochs": 1, "batch_size": 32},
        "regimes": [
            {"kind": "standard"},
            {"kind": "augment", "perturbation": ["fgsm", "noise"], "eps": [0.01, 0.03]},
            {"kind": "adversarial", "eps_max": 0.02},
        ],
        "evaluation": {"attacks": [{"name": "fgsm", "eps": [0.01, 0.03]}]},
    }


@pytest.mark.parametrize(("name", "cells"), [("aim1", 820), ("aim2", 40), ("quick", None)])
def test_shipped_specs_load(name: str, cells: int | None) -> None:
    spec = load_spec(SPECS / f"{name}.yaml")
    assert spec.name == name
    if cells is not None:
        assert len(expand_cells(spec)) == cells
    assert {m.name for m in spec.models} == {"wrn_16_1", "parseval_wrn_16_1"}


def test_the_certified_spec_loads() -> None:
    spec = load_spec(SPECS / "certified.yaml")
    cells = expand_cells(spec)
    assert len(cells) == 9
    kinds = {(c.model.name, c.regime.kind) for c in cells}
    assert ("lipschitz_cnn", "certified") in kinds and ("wrn_16_1", "standard") in kinds
    assert spec.evaluation.certify is not None and spec.evaluation.audit is not None


def test_grid_expands_in_spec_order_with_stable_ids() -> None:
    cells = expand_cells(load_spec(base()))
    # 2 models x (1 standard + 2 x 2 augment + 1 adversarial) x 2 folds
    assert len(cells) == 24
    first = [c.id for c in cells[:6]]
    assert first == [
        "wrn_16_1.standard.f0.s0",
        "wrn_16_1.augment-fgsm-e0.01-p50.f0.s0",
        "wrn_16_1.augment-fgsm-e0.03-p50.f0.s0",
        "wrn_16_1.augment-noise-e0.01-p50.f0.s0",
        "wrn_16_1.augment-noise-e0.03-p50.f0.s0",
        "wrn_16_1.adversarial-fgsm-e0.001-0.02-f0.5.f0.s0",
    ]
    fgsm = [c for c in cells if c.regime.kind == "augment" and c.regime.perturbation == "fgsm"]
    assert all(c.source == f"{c.model.id}.standard.f{c.fold}.s0" for c in fgsm)
    assert all(c.source is None for c in cells if c not in fgsm)
    assert len({c.id for c in cells}) == len(cells)


def test_regime_restricted_to_some_models_and_data_override() -> None:
    raw = base()
    raw["regimes"][2]["models"] = ["parseval_wrn_16_1"]
    spec = load_spec(raw, data="synthetic:n=80")
    assert spec.data == "synthetic:n=80"
    adv = [c for c in expand_cells(spec) if c.regime.kind == "adversarial"]
    assert {c.model.name for c in adv} == {"parseval_wrn_16_1"}


def _mutate(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(base())
    *parents, last = path.split(".")
    node: Any = raw
    for p in parents:
        node = node[int(p)] if p.isdigit() else node[p]
    node[int(last) if last.isdigit() else last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("foldz", 3, r"^spec: foldz: unknown key$"),
        ("folds", 1, r"^spec: folds: .*greater than or equal to 2"),
        ("train.epochs", 0, r"^spec: train: epochs must be >= 1, got 0$"),
        ("train.epoch", 3, r"unknown training option\(s\): epoch"),
        ("train.seed", 1, r"seed cannot be set here"),
        ("regimes.1.eps", [0.01, -1], r"regimes\.1: eps must lie in \(0, 1\], got -1"),
        ("regimes.1.eps", [], r"regimes\.1: eps must be a value or a non-empty list"),
        ("regimes.0.eps", 0.1, r"'eps' is not an option of the standard regime"),
        ("regimes.1.perturbation", "cw", r"augment perturbation must be one of fgsm, noise, pgd"),
        ("regimes.2.models", ["nope"], r"regime adversarial names unknown models: nope"),
        ("models.0", "resnet", r"models\.0\.name: unknown model 'resnet' \(known: .*wrn_16_1"),
        ("models.1.options", {"bogus": 1}, r"unknown parameter\(s\) \['bogus'\]"),
        ("models.1", "wrn_16_1", r"models repeat"),
        ("evaluation.attacks.0.snr", [30.0], r"give either eps or snr values"),
        ("evaluation.attacks.0.eps", [2.0], r"eps values must lie in \[0, 1\]"),
        ("evaluation.attacks.0.steps", 3, r"fgsm takes no option steps \(known: targeted"),
        ("evaluation.limit", 0, r"evaluation\.limit: .*greater than or equal to 1"),
        ("name", "a b", r"^spec: name: "),
    ],
)
def test_bad_values_give_one_line(path: str, value: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        load_spec(_mutate(path, value))
    assert "\n" not in str(info.value)


def test_fgsm_augment_needs_a_standard_regime() -> None:
    raw = base()
    del raw["regimes"][0]
    with pytest.raises(UsageError, match="needs a standard regime"):
        load_spec(raw)


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such spec file"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [wrn_16_1\n")
    with pytest.raises(UsageError, match=r"bad.yaml: not valid YAML"):
        load_spec(bad)
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(UsageError, match="a spec must be a mapping"):
        load_spec(bad)
    named = tmp_path / "my-run.yaml"
    named.write_text("models: [wrn_16_1]\nregimes: [{kind: standard}]\n")
    assert load_spec(named).name == "my-run"  # the file name is the default name
