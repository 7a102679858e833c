"""Training specs: one model, one training configuration, one data source and its hold-out
persons, in a YAML file that `robusteye train --spec` runs as written.

`robusteye select` writes its winner as such a file and retrains the winner from it, so the
selected model can be rebuilt by anyone holding the file and the data: the same persons are
held out (`holdout`, `split_seed`), the same seed draws the weights and the batches.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator

from robusteye.data import EyeDataset, load_dataset
from robusteye.data.splits import rows_of_persons
from robusteye.experiments.base import (
    AttackEval,
    BaseSpec,
    ModelEntry,
    Strict,
    model_entry,
    parse_spec,
)
from robusteye.experiments.rundir import SPEC_FILE, check_or_write
from robusteye.experiments.scoring import attack_curve
from robusteye.io import atomic_path, write_json
from robusteye.train.config import TrainConfig
from robusteye.train.run import JobResult, TrainJob, run_job

EVALUATION_FILE = "evaluation.json"


class TrainEvaluation(Strict):
    """Attacks run on the hold-out persons after training (at most `limit` images)."""

    attacks: list[AttackEval] = Field(default_factory=list)
    limit: int | None = Field(default=None, ge=1)


class TrainSpec(BaseSpec):
    """One model, one training configuration (`seed` its own; no validation split: the last
    epoch is kept, and the hold-out persons are scored once)."""

    kind: Literal["train"] = "train"
    name: str = Field(default="train", pattern=r"^[A-Za-z0-9_.-]+$")
    #: fraction of persons held out and scored once at the end (0: none)
    holdout: float = Field(default=0.1, ge=0.0, lt=1.0)
    seed: int = 0
    model: ModelEntry
    evaluation: TrainEvaluation = Field(default_factory=TrainEvaluation)

    @field_validator("model", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        return model_entry(v)

    def train_config(self, device: str = "cpu") -> TrainConfig:
        return TrainConfig.from_dict(
            {**self.train, "seed": self.seed, "device": device, "val_fraction": 0.0}
        )

    def override(self, changes: Mapping[str, Any]) -> TrainSpec:
        """This spec with `changes` set, validated again: dotted keys (`train.lr`,
        `train.regime.kind`, `holdout`); `model` a model name (a new name drops the old
        model's options)."""
        raw = self.to_dict()
        for key, value in changes.items():
            if key == "model":
                if value != self.model.name:
                    raw["model"] = {"name": value}
                continue
            *parents, leaf = key.split(".")
            node = raw
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return load_train_spec(raw)

    def to_yaml(self, header: str = "") -> str:
        lines = "".join(f"# {line}\n" for line in header.splitlines())
        return lines + yaml.safe_dump(self.to_dict(), sort_keys=False)


def load_train_spec(
    source: str | os.PathLike[str] | dict[str, Any], *, data: str | None = None
) -> TrainSpec:
    """Read and validate a training spec; `data` overrides its data source."""
    return parse_spec(TrainSpec, source, data=data)


def write_train_spec(spec: TrainSpec, path: Path, header: str = "") -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(spec.to_yaml(header), encoding="utf-8")
    return path


@dataclass(frozen=True)
class TrainSpecResult:
    out: Path
    job: JobResult
    #: clean metrics and attack curves on the hold-out persons (None without a hold-out)
    evaluation: dict[str, Any] | None


def train_from_spec(
    spec: TrainSpec,
    out: str | os.PathLike[str],
    *,
    data: EyeDataset | None = None,
    device: str = "cpu",
    resume: bool = True,
    progress: bool = False,
    log: Callable[[str], None] = lambda _: None,
) -> TrainSpecResult:
    """Train the spec's model on every non-held-out person; score it once on the hold-out.

    Writes `out/spec.yaml` (the spec as run: a resumed run must have the same), `out/last`
    (the final model), `out/curves.csv`, `out/splits.json`,
    `out/metrics.json` and `out/evaluation.json` (clean metrics and attack curves on the
    hold-out persons). A finished or interrupted run in `out` is resumed.
    """
    start = time.perf_counter()
    out = Path(out)
    ds = data if data is not None else load_dataset(spec.data)
    cfg = spec.train_config(device)
    job = TrainJob(
        spec.model.name,
        ds,
        cfg,
        out,
        model_overrides=dict(spec.model.options),
        test_fraction=spec.holdout,
        split_seed=spec.split_seed,
    )

    def record(folder: Path) -> None:  # the resolved spec beside the outputs, checked on resume
        check_or_write(folder / SPEC_FILE, spec.to_dict(), "a different training spec",
                       as_yaml=True)  # fmt: skip

    result = run_job(job, resume=resume, progress=progress, log=log, on_claim=record)
    evaluation = None
    if result.test_metrics is not None:
        model = result.fit.scored.eval()
        held = rows_of_persons(ds, result.splits["test"])
        rows = held[: spec.evaluation.limit] if spec.evaluation.limit else held
        curves = [attack_curve(model, ds, rows, a, spec.seed) for a in spec.evaluation.attacks]
        evaluation = {
            "eval_set": "holdout",
            "n": int(held.size),
            "persons": len(result.splits["test"]),
            "clean": (result.ema_test_metrics or result.test_metrics).to_dict(),
            "attacks": [c.to_dict() for c in curves],
            "seconds": round(time.perf_counter() - start, 3),
        }
        write_json(out / EVALUATION_FILE, evaluation)
    return TrainSpecResult(out, result, evaluation)
