"""The training loop: SGD, the lr schedule, augmentation, the regime's batch perturbation and
loss (`regimes/`), `model.apply_constraints()` after every step, the weight average, and
per-epoch validation; the robust check and its guard are in `guard.py`, checkpoints and
resume in `state.py`, learning curves and schedules in `curves.py`.

Determinism: data order, augmentation, adversarial draws, constraint subsampling and
corruption draws each have their own seeded generator; dropout uses torch's global RNG inside
`fork_rng`, seeded from the config and saved with the state, so the caller's global RNG is left
untouched.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from robusteye.corruptions import random_corruption_batch
from robusteye.data import EyeDataset
from robusteye.devices import resolve_device
from robusteye.errors import UsageError
from robusteye.evaluate import Metrics, classification_metrics, predict_logits
from robusteye.models import EyeModel
from robusteye.train.augment import random_affine, random_hflip
from robusteye.train.awp import weight_perturbation, weights_moved
from robusteye.train.config import TrainConfig
from robusteye.train.curves import EpochRecord, lr_at, write_tensorboard
from robusteye.train.ema import WeightAverage
from robusteye.train.extra import ExtraData, mixed_batch, real_per_batch
from robusteye.train.guard import RobustGuard, Snapshot, did_not_learn, final_clean
from robusteye.train.state import (
    RunParts,
    RunProgress,
    last_folder,
    resume_run,
    save_run,
    seeded_generators,
)


@dataclass(frozen=True)
class FitResult:
    model: EyeModel
    history: tuple[EpochRecord, ...]
    best_epoch: int
    val_metrics: Metrics | None
    #: the weight average (TrainConfig.ema_decay > 0), and its validation metrics
    ema: EyeModel | None = None
    ema_metrics: Metrics | None = None
    #: the epoch whose robust accuracy collapsed, where the guard stopped the run
    stopped: int | None = None
    #: the final clean accuracy (validation, else the robust check's images, else the last
    #: epoch's training batches) and the share of the largest class in the same images
    final_clean: float = math.nan
    chance: float = math.nan

    @property
    def learned(self) -> bool:
        """False when the final clean accuracy is no better than answering the largest class
        (`guard.did_not_learn`): a run that never learned, whatever the guard said."""
        return not did_not_learn(self.final_clean, self.chance)

    @property
    def scored(self) -> EyeModel:
        """The model a run is judged by: the weight average when there is one (it is what
        weight averaging is for), else the trained weights."""
        return self.model if self.ema is None else self.ema


class Trainer:
    """Fits one model; `out_dir` (optional) receives `last/`, `best/`, `curves.csv` and, with
    weight averaging, `ema/`."""

    def __init__(
        self,
        model: EyeModel,
        config: TrainConfig,
        out_dir: str | os.PathLike[str] | None = None,
        *,
        progress: bool = False,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        training_info: dict[str, Any] | None = None,
    ) -> None:
        self.regime = config.regime.definition
        self.regime.check_model(config.regime, model)
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.out = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.on_epoch = on_epoch
        self.training_info = dict(training_info or {})
        self.optimizer = torch.optim.SGD(
            self.model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
        self._bar: tqdm = tqdm(disable=True)  # fit() makes one bar for the whole run
        self.generators = seeded_generators(config.seed)
        self.ema = WeightAverage(self.model, config.ema_decay) if config.ema_decay > 0 else None
        self.guard = RobustGuard(config, self.device)
        self.parts = RunParts(self.model, self.optimizer, self.generators, self.ema)
        self.stopped: int | None = None
        self._extra: tuple[torch.Tensor, torch.Tensor] | None = None

    def fit(
        self,
        train: EyeDataset,
        val: EyeDataset | None = None,
        *,
        resume: bool = False,
        until: int | None = None,
        extra: ExtraData | None = None,
    ) -> FitResult:
        """Train to `config.epochs` (or only up to epoch `until`, keeping the full run's
        schedule, so that a later `fit(..., resume=True)` continues the same run: what
        successive halving needs to stop a hopeless trial early). `extra` supplies
        `config.extra_fraction` of every batch (`train.extra`)."""
        cfg = self.config
        if (cfg.extra_fraction > 0) != (extra is not None and len(extra) > 0):
            raise UsageError(
                "extra data and an extra fraction > 0 go together (--extra-data with "
                f"--extra-fraction), got fraction {cfg.extra_fraction:g} and "
                f"{'no' if extra is None else len(extra)} extra images"
            )
        if extra is not None and tuple(extra.data.classes) != tuple(train.classes):
            raise UsageError("the extra data must be labelled in the training data's classes")
        self._extra = None  # the extra crops moved to the device once, not per batch
        if extra is not None:
            self._extra = (extra.data.images.to(self.device), extra.data.labels.to(self.device))
        stop = cfg.epochs if until is None else max(0, min(until, cfg.epochs))
        run = RunProgress(stopped=self.stopped)
        vm: Metrics | None = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            last = last_folder(self.out) if resume and self.out is not None else None
            if last is not None:
                run = resume_run(last, self.parts)
                self.stopped = run.stopped
            x = train.images.to(self.device)
            y = train.labels.to(self.device)
            per_epoch = -(-x.shape[0] // real_per_batch(cfg.batch_size, cfg.extra_fraction))
            if self.stopped is not None:
                stop = len(run.history)
            self._bar = tqdm(  # over the whole run: its estimate is the time left for all epochs
                total=per_epoch * max(stop, len(run.history)),
                initial=per_epoch * len(run.history),
                unit="batch",
                disable=not self.progress,
                leave=False,
            )
            # the robust check attacks validation images, or training images without them
            checked = val if val is not None and len(val) else train
            for epoch in range(len(run.history), stop):
                start = time.perf_counter()
                before = Snapshot.take(self.parts) if self.guard.active else None
                loss, acc = self._epoch(x, y, epoch)
                vm = self._validate(val)
                check = self.guard.check(self.model, checked)
                robust = check.robust
                ema = self._validate(val, self.ema.model) if self.ema is not None else None
                record = EpochRecord(
                    epoch=epoch + 1,
                    lr=lr_at(cfg, epoch),
                    train_loss=loss,
                    train_acc=acc,
                    val_loss=vm.loss if vm else math.nan,
                    val_acc=vm.accuracy if vm else math.nan,
                    val_macro_f1=vm.macro_f1 if vm else math.nan,
                    seconds=time.perf_counter() - start,
                    val_robust_acc=robust,
                    ema_val_acc=ema.accuracy if ema else math.nan,
                    check_acc=check.clean,
                )
                if before is not None and self.guard.collapsed(run.history, robust, check.clean):
                    before.roll_back(self.parts)
                    vm = self._validate(val)  # the metrics of the weights kept
                    self.stopped = run.stopped = record.epoch
                    run.history.append(replace(record, collapsed=1))
                    self._save(run, vm, improved=False)
                    break
                run.history.append(record)
                score = self.guard.score(epoch, robust, record.val_acc if vm else -loss)
                improved = score > run.best[0]
                run.best = (score, record.epoch) if improved else run.best
                self._save(run, vm, improved)
            self._bar.close()
        if vm is None:  # nothing trained in this call (a finished run resumed)
            vm = self._validate(val)
        final, chance = final_clean(run.history, vm, val, train, self.config.robust_val)
        return FitResult(
            self.model,
            tuple(run.history),
            run.best[1],
            vm,
            ema=None if self.ema is None else self.ema.model,
            ema_metrics=None if self.ema is None else self._validate(val, self.ema.model),
            stopped=self.stopped,
            final_clean=final,
            chance=chance,
        )

    def _epoch(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[float, float]:
        cfg, g, regime = self.config, self.generators, self.config.regime
        n = x.shape[0]
        order = torch.randperm(n, generator=g["data"]).to(self.device)
        total_loss, correct, seen = 0.0, 0, 0
        self._bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
        self.model.train()
        step = real_per_batch(cfg.batch_size, cfg.extra_fraction)
        for i in range(0, n, step):
            at = epoch + i / n  # the fractional epoch: per-batch schedules and eps warm-up
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(cfg, at)
            xb, yb = mixed_batch(
                x, y, order[i : i + step], self._extra, cfg.batch_size - step, g["extra"]
            )
            xb = self._augment(xb)
            scale = regime.eps_scale(at)
            xb = self.regime.perturb(self.model, xb, yb, regime, g["adversarial"], scale)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)

            loss_of = partial(
                self.regime.loss,
                self.model, xb, yb, regime, g["adversarial"], scale, cfg.label_smoothing,
            )  # fmt: skip
            moves = []
            if regime.awp_gamma > 0 and regime.attacks_model and scale >= 1.0:
                moves = weight_perturbation(self.model, loss_of, regime.awp_gamma)
            self.optimizer.zero_grad(set_to_none=True)
            with weights_moved(moves):  # the gradient at w + v, applied to w
                loss, logits = loss_of()
                loss.backward()
            self.optimizer.step()
            self.model.apply_constraints(g["constraints"])
            if self.ema is not None:
                self.ema.update(self.model)
            total_loss += float(loss.detach()) * yb.numel()
            correct += int((logits.argmax(1) == yb).sum())
            seen += yb.numel()
            self._bar.update()
        return total_loss / seen, correct / seen

    def _augment(self, xb: torch.Tensor) -> torch.Tensor:
        """The batch mirrored, rotated and shifted, and corrupted, as the config asks."""
        cfg, g = self.config, self.generators
        if cfg.hflip:
            xb = random_hflip(xb, generator=g["augment"])
        if cfg.augment:
            xb = random_affine(
                xb, rotation_deg=cfg.rotation_deg, shift=cfg.shift, generator=g["augment"]
            )
        if cfg.corruptions:
            xb = random_corruption_batch(
                xb, cfg.corruptions, cfg.corruption_max_severity, g["corrupt"], p=cfg.corruption_p
            )
        return xb

    def _validate(self, val: EyeDataset | None, model: EyeModel | None = None) -> Metrics | None:
        if val is None or len(val) == 0:
            return None
        net = self.model if model is None else model
        return classification_metrics(predict_logits(net, val.images), val.labels, val.classes)

    def _save(self, run: RunProgress, vm: Metrics | None, improved: bool) -> None:
        """Write the checkpoints (`state.save_run`) and report the epoch just done."""
        if self.out is not None:
            training = {
                **self.training_info,
                "config": self.config.to_dict(),
                "epochs_done": len(run.history),
                **({"stopped": self.stopped} if self.stopped is not None else {}),
            }
            metrics = {"val": vm.to_dict()} if vm else None
            save_run(self.out, self.parts, run, training=training, metrics=metrics,
                     improved=improved)  # fmt: skip
            if self.config.tensorboard:
                write_tensorboard(self.out / "tensorboard", run.history[-1])
        if self.on_epoch is not None:
            self.on_epoch(run.history[-1])
