"""Train one model on one split: the single route every caller takes (`robusteye train`, a
grid cell, a search trial, a training spec).

The caller says what to train (model, options, config), on which rows and how the run goes
in one `SplitRequest`; this module
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
from robusteye.train.extra import ExtraData
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


def _silent(_: str) -> None:
    pass


@dataclass(frozen=True, eq=False)
class SplitRequest:
    """One model to train on one split: what (`model`, a registered name with
    `model_options`, under `config` and its regime), on which rows of `data` (`val_rows`
    empty: no validation), and how the run goes.

    `work_dir` receives the trainer's checkpoints and resume state (`last/`, `best/`,
    `curves.csv`) and, where aim 1 trains its own source model, `work_dir/source/`. `source`
    is aim 1's FGSM source when the caller has one; otherwise the regime's `source`
    checkpoint is loaded, or a standard model is trained first with the same config and
    rows (always to the full `config.epochs`: `until` stops only the model itself).
    """

    data: EyeDataset
    train_rows: np.ndarray
    val_rows: np.ndarray
    model: str
    config: TrainConfig
    model_options: Mapping[str, Any] | None = None
    work_dir: Path | None = None
    source: EyeModel | None = None
    #: continue the run in `work_dir` (`Trainer.fit(resume=True)`), and stop at epoch `until`
    resume: bool = False
    until: int | None = None
    #: recorded in the checkpoints' config beside the training config
    training_info: Mapping[str, Any] | None = None
    progress: bool = False
    on_epoch: Callable[[EpochRecord], None] | None = None
    log: Callable[[str], None] = _silent
    #: extra crops for `config.extra_fraction` of each batch (`train.extra`)
    extra: ExtraData | None = None


def train_on_split(request: SplitRequest) -> SplitFit:
    """Train `request.model` on its training rows under its config's regime, after the data
    the regime adds first (`Regime.prepare`: aim 1's perturbed copies)."""
    r = request
    train, val = r.data.subset(r.train_rows), r.data.subset(r.val_rows)
    regime = r.config.regime
    source = r.source
    if regime.needs_source and source is None:
        source = _source_model(r, train, val)
    seed = r.config.seed + AUGMENT_SEED_OFFSET
    train = regime.definition.prepare(train, regime, source, seed, r.log)
    net = new_model(r.model, r.data, r.config.seed, r.model_options)
    info = {**(r.training_info or {}), "n_train": len(train), "n_val": len(val)}
    trainer = Trainer(
        net, r.config, r.work_dir, progress=r.progress, on_epoch=r.on_epoch, training_info=info
    )
    fit = trainer.fit(
        train, val if len(val) else None, resume=r.resume, until=r.until, extra=r.extra
    )
    return SplitFit(fit, train, val)


def new_model(
    name: str, data: EyeDataset, seed: int, options: Mapping[str, Any] | None = None
) -> EyeModel:
    """A registered model for `data`'s classes, its weights drawn from `seed`."""
    overrides = dict(options or {})
    overrides.setdefault("classes", data.classes)
    return create_model(name, data.num_classes, seed=seed, **overrides)


def _source_model(r: SplitRequest, train: EyeDataset, val: EyeDataset) -> EyeModel:
    """Aim 1's FGSM source: the regime's checkpoint, or a standard model trained first."""
    config = r.config
    regime = config.regime
    if regime.source is not None:
        if not Path(regime.source).exists():
            raise UsageError(f"no such source checkpoint: {regime.source}")
        loaded = load_model(regime.source)
        if loaded.classes != r.data.classes:
            raise UsageError(
                f"source checkpoint classes {list(loaded.classes)} differ from the "
                f"data's {list(r.data.classes)}"
            )
        return loaded.to(config.device)
    r.log("aim 1: training a standard source model first")
    trainer = Trainer(
        new_model(r.model, r.data, config.seed, r.model_options),
        replace(config, regime=RegimeConfig(kind="standard")),
        None if r.work_dir is None else r.work_dir / SOURCE_DIR,
        progress=r.progress,
        training_info={"model": r.model, "role": "aim 1 FGSM source"},
    )
    return trainer.fit(train, val if len(val) else None, resume=r.resume).model.eval()
