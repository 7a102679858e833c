"""Train one model on one split: the single route every caller takes (`robusteye train`, a
grid cell, a search trial, a training spec).

The caller decides what to train (model, options, config) and on which rows; this module
does the rest the same way for all of them: the regime's data preparation (aim 1 adds
perturbed copies crafted on a source model: one given, a checkpoint named by the regime, or a
standard model trained first on the same split), the model's seeded construction, and the
fit (resumable, optionally stopped at epoch `until`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.models import EyeModel, create_model, load_model
from robusteye.train.config import RegimeConfig, TrainConfig
from robusteye.train.curves import EpochRecord
from robusteye.train.regimes import perturbed_copies
from robusteye.train.trainer import FitResult, Trainer

#: the offset of the aim-1 copies' seed from the training seed
AUGMENT_SEED_OFFSET = 17
SOURCE_DIR = "source"


@dataclass(frozen=True)
class SplitFit:
    """The fit, and the data it saw: the training set as trained on (aim 1's copies
    included) and the validation set."""

    fit: FitResult
    train: EyeDataset
    val: EyeDataset

    @property
    def model(self) -> EyeModel:
        return self.fit.model


def train_on_split(
    data: EyeDataset,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    *,
    model: str,
    config: TrainConfig,
    model_options: Mapping[str, Any] | None = None,
    work_dir: Path | None = None,
    source: EyeModel | None = None,
    resume: bool = False,
    until: int | None = None,
    training_info: Mapping[str, Any] | None = None,
    progress: bool = False,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> SplitFit:
    """Train `model` (a registered name with `model_options`) on `data`'s `train_rows`,
    validating on `val_rows` (none when empty), under `config` and its regime.

    `work_dir` receives the trainer's checkpoints and resume state (`last/`, `best/`,
    `curves.csv`) and, where aim 1 trains its own source model, `work_dir/source/`. `source`
    is aim 1's FGSM source when the caller has one; otherwise the regime's `source`
    checkpoint is loaded, or a standard model is trained first with the same config and
    rows (always to the full `config.epochs`: `until` stops only the model itself).
    """
    train, val = data.subset(train_rows), data.subset(val_rows)
    regime = config.regime
    if regime.kind == "augment":
        if regime.needs_source and source is None:
            source = _aim1_source(
                data, train, val, model, config, model_options, work_dir, resume, progress, log
            )
        train = perturbed_copies(train, regime, source, config.seed + AUGMENT_SEED_OFFSET)
        log(
            f"aim 1: added {len(train) - len(train_rows)} {regime.perturbation} examples "
            f"(eps {regime.eps}, {regime.percent:g}%)"
        )
    net = new_model(model, data, config.seed, model_options)
    info = {**(training_info or {}), "n_train": len(train), "n_val": len(val)}
    trainer = Trainer(
        net, config, work_dir, progress=progress, on_epoch=on_epoch, training_info=info
    )
    fit = trainer.fit(train, val if len(val) else None, resume=resume, until=until)
    return SplitFit(fit, train, val)


def new_model(
    name: str, data: EyeDataset, seed: int, options: Mapping[str, Any] | None = None
) -> EyeModel:
    """A registered model for `data`'s classes, its weights drawn from `seed`."""
    overrides = dict(options or {})
    overrides.setdefault("classes", data.classes)
    return create_model(name, data.num_classes, seed=seed, **overrides)


def _aim1_source(
    data: EyeDataset,
    train: EyeDataset,
    val: EyeDataset,
    model: str,
    config: TrainConfig,
    model_options: Mapping[str, Any] | None,
    work_dir: Path | None,
    resume: bool,
    progress: bool,
    log: Callable[[str], None],
) -> EyeModel:
    """Aim 1's FGSM source: the regime's checkpoint, or a standard model trained first."""
    regime = config.regime
    if regime.source is not None:
        if not Path(regime.source).exists():
            raise UsageError(f"no such source checkpoint: {regime.source}")
        loaded = load_model(regime.source)
        if loaded.classes != data.classes:
            raise UsageError(
                f"source checkpoint classes {list(loaded.classes)} differ from the "
                f"data's {list(data.classes)}"
            )
        return loaded.to(config.device)
    log("aim 1: training a standard source model first")
    trainer = Trainer(
        new_model(model, data, config.seed, model_options),
        replace(config, regime=RegimeConfig(kind="standard")),
        None if work_dir is None else work_dir / SOURCE_DIR,
        progress=progress,
        training_info={"model": model, "role": "aim 1 FGSM source"},
    )
    return trainer.fit(train, val if len(val) else None, resume=resume).model.eval()
