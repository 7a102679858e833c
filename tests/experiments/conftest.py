"""A tiny spec (2 folds, 2 epochs, 120 synthetic crops) and one in-process run of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from robusteye.experiments import RunResult, load_spec, run_experiment

TINY: dict[str, Any] = {
    "name": "tiny",
    "data": "synthetic:n=120",
    "folds": 2,
    "models": ["wrn_16_1"],
    "train": {"epochs": 2, "batch_size": 32},
    "regimes": [{"kind": "standard"}, {"kind": "adversarial"}],
    "evaluation": {
        "attacks": [
            {"name": "fgsm", "eps": [0.01, 0.03, 0.1]},
            {"name": "noise", "snr": [30.0, 20.0]},
        ],
        "transfer": {"attack": "fgsm", "eps": [0.03]},
        "limit": 40,
        "examples": 3,
    },
}


@pytest.fixture(scope="session")
def tiny_spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    out = tmp_path_factory.mktemp("runs") / "tiny"
    return run_experiment(load_spec(TINY), out)


def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without wall-clock fields, sorted by id (completion order varies by backend)."""

    def strip(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k != "seconds"}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v

    return sorted((strip(r) for r in rows), key=lambda r: r["id"])
