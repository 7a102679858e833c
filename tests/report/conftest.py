"""A real tiny run (2 folds, standard + adversarial wrn_16_1, FGSM, transfer, examples), built
once per session with `run_experiment`, and one report written on a copy of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robusteye.experiments import load_spec, run_experiment
from robusteye.report import write_report

TINY_SPEC = {
    "name": "tiny",
    "data": "synthetic:n=160",
    "folds": 2,
    "models": ["wrn_16_1"],
    "train": {"epochs": 1, "batch_size": 32},
    "regimes": [{"kind": "standard"}, {"kind": "adversarial"}],
    "evaluation": {
        "attacks": [{"name": "fgsm", "eps": [0.01, 0.03]}],
        "transfer": {"attack": "fgsm", "eps": [0.03]},
        "limit": 40,
        "examples": 3,
    },
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run folder; tests copy it before writing (write_report adds model cards)."""
    out = tmp_path_factory.mktemp("tiny") / "run"
    run_experiment(load_spec(TINY_SPEC), out, backend="local", workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def reported(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run copy, report.html) after one `write_report` on a copy of the tiny run."""
    run = Path(shutil.copytree(tiny_run, tmp_path_factory.mktemp("reported") / "run"))
    return run, write_report(run)
