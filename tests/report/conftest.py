"""A report written once on a copy of the shared tiny run (tests/conftest.py: 2 folds,
standard + adversarial wrn_16_1, FGSM and noise, transfer, examples)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from robusteye.experiments import RunResult
from robusteye.report import write_report


@pytest.fixture(scope="session")
def tiny_run_dir(tiny_run: RunResult) -> Path:
    """The shared tiny run's folder; tests copy it before writing (cards go into it)."""
    return tiny_run.out


@pytest.fixture(scope="session")
def reported(tiny_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run copy, report.html) after one `write_report` on a copy of the tiny run."""
    run = Path(shutil.copytree(tiny_run_dir, tmp_path_factory.mktemp("reported") / "run"))
    return run, write_report(run)
