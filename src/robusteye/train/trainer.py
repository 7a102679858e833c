"""The training loop: SGD, the lr schedule, augmentation, the regime's batch perturbation,
`model.apply_constraints()` after every step, the weight average, per-epoch validation (clean,
the attack regimes' PGD check and its guard against catastrophic overfitting), best, last and
weight-average checkpoints, learning curves, and exact resume.

Determinism: data order, augmentation, adversarial draws, constraint subsampling and
corruption draws each have their own seeded generator; dropout uses torch's global RNG inside
`fork_rng`, seeded from the config and saved with the state, so the caller's global RNG is left
untouched. The robust check draws its PGD starts from a generator seeded afresh every epoch.

Over 300 lines because the loop, its checkpoints, its guard's roll-back and its resume
share the trainer's state (generators, optimizer, weight average, history) and are only
correct together; the records, schedules and curve files are in `curves.py`.
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from robusteye.attacks import pgd
from robusteye.corruptions import random_corruption_batch
from robusteye.data import EyeDataset
from robusteye.devices import resolve_device
from robusteye.errors import CheckpointError
from robusteye.evaluate import Metrics, classification_metrics, predict_logits
from robusteye.io import staging_folder
from robusteye.models import EyeModel, load_model, save_model
from robusteye.models.checkpoint import write_checkpoint
from robusteye.train.augment import random_affine, random_hflip
from robusteye.train.config import TrainConfig
from robusteye.train.curves import EpochRecord, lr_at, write_curves, write_tensorboard
from robusteye.train.ema import WeightAverage
from robusteye.train.regimes import (
    adversarial_batch,
    check_regime_model,
    regime_loss,
    trades_loss,
)
from robusteye.train.state import STATE_JSON, load_state, save_state

#: the robust check: PGD steps, and the seed offset of its generator
ROBUST_CHECK_STEPS = 10
_ROBUST_SEED = 7919
EMA_DIR = "ema"
#: one seeded generator each; new ones go at the end so the others keep their seeds
_GENERATORS = ("data", "augment", "adversarial", "constraints", "corrupt")
#: generators a checkpoint written before they existed may lack (they start fresh on resume)
_LATE_GENERATORS = ("corrupt",)


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
        check_regime_model(config.regime, model)
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
        self._bar: tqdm = tqdm(disable=True)  # replaced by fit() with one bar for the whole run
        self.generators = {
            name: torch.Generator().manual_seed(config.seed * 1009 + i)
            for i, name in enumerate(_GENERATORS)
        }
        self.ema = WeightAverage(self.model, config.ema_decay) if config.ema_decay > 0 else None
        self.stopped: int | None = None

    def fit(
        self,
        train: EyeDataset,
        val: EyeDataset | None = None,
        *,
        resume: bool = False,
        until: int | None = None,
    ) -> FitResult:
        """Train to `config.epochs` (or only up to epoch `until`, keeping the full run's
        schedule, so that a later `fit(..., resume=True)` continues the same run: what
        successive halving needs to stop a hopeless trial early)."""
        cfg = self.config
        stop = cfg.epochs if until is None else max(0, min(until, cfg.epochs))
        history: list[EpochRecord] = []
        best = (-math.inf, -1)
        vm: Metrics | None = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            last = _last_folder(self.out) if resume and self.out is not None else None
            if last is not None:
                history, best = self._restore(last)
            x = train.images.to(self.device)
            y = train.labels.to(self.device)
            per_epoch = -(-x.shape[0] // cfg.batch_size)
            if self.stopped is not None:
                stop = len(history)
            # One bar over the whole run, so its estimate is the time left for all epochs.
            self._bar = tqdm(
                total=per_epoch * max(stop, len(history)),
                initial=per_epoch * len(history),
                unit="batch",
                disable=not self.progress,
                leave=False,
            )
            # the robust check attacks validation images, or training images without them
            checked = val if val is not None and len(val) else train
            for epoch in range(len(history), stop):
                start = time.perf_counter()
                before = self._snapshot() if self._guarded() else None
                loss, acc = self._epoch(x, y, epoch)
                vm = self._validate(val)
                robust = self._robust_check(checked)
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
                )
                if before is not None and self._collapsed(history, robust, record.val_acc):
                    self._roll_back(before)
                    vm = self._validate(val)  # the metrics of the weights kept
                    self.stopped = record.epoch
                    history.append(replace(record, collapsed=1))
                    self._save(history, best, vm, improved=False)
                    if self.on_epoch is not None:
                        self.on_epoch(history[-1])
                    break
                history.append(record)
                score = self._score(epoch, robust, record.val_acc if vm else -loss)
                improved = score > best[0]
                if improved:
                    best = (score, record.epoch)
                self._save(history, best, vm, improved)
                if self.on_epoch is not None:
                    self.on_epoch(record)
            self._bar.close()
        if vm is None:  # nothing trained in this call (a finished run resumed)
            vm = self._validate(val)
        ema_metrics = None if self.ema is None else self._validate(val, self.ema.model)
        return FitResult(
            self.model,
            tuple(history),
            best[1],
            vm,
            ema=None if self.ema is None else self.ema.model,
            ema_metrics=ema_metrics,
            stopped=self.stopped,
        )

    def _score(self, epoch: int, robust: float, fallback: float) -> float:
        """What picks `best/`: the robust check's accuracy, else validation accuracy (else
        minus the training loss). A robust score of an epoch before `guard_from` ranks below
        every later one: an early model that predicts almost one class scores a high robust
        accuracy (half of a balanced 2-class set) that real learning then lowers."""
        if not math.isfinite(robust):
            return fallback
        return robust - 1.0 if epoch < self.config.regime.guard_from else robust

    def _guarded(self) -> bool:
        """Whether the overfitting guard watches this run (and needs a snapshot per epoch)."""
        regime = self.config.regime
        return regime.overfit_drop > 0 and regime.attacks_model and self.config.robust_val > 0

    def _collapsed(self, history: list[EpochRecord], robust: float, clean: float) -> bool:
        """Catastrophic overfitting: robust accuracy more than `overfit_drop` below the
        previous epoch's, beyond how far clean validation accuracy moved in the same epoch,
        counting from the regime's `guard_from` epoch.

        The previous epoch, not the best (Wong et al. 2020's rule): a collapse happens within
        an epoch, while a half-batch run's robust accuracy slides slowly as clean accuracy
        rises. Beyond the clean move: a collapse is a robust fall at a steady clean accuracy,
        while in an epoch whose clean accuracy moves a lot the model still changes which
        points it gets right. On the real crops, noisy PGD half-batch epochs lost 0.15 and
        0.20 robust with 0.065 and 0.053 clean, and a SiLU run went from 0.59 robust at 0.77
        clean (near-constant) to 0.32 at 0.86; none was a collapse, which falls to near 0."""
        regime = self.config.regime
        counted = history[regime.guard_from :]
        last = next((r for r in reversed(counted) if math.isfinite(r.val_robust_acc)), None)
        if last is None:
            return False
        moved = abs(last.val_acc - clean) if math.isfinite(last.val_acc - clean) else 0.0
        return last.val_robust_acc - robust - moved > regime.overfit_drop

    def _snapshot(self) -> dict[str, Any]:
        return {
            "model": copy.deepcopy(self.model.state_dict()),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "ema": None if self.ema is None else self.ema.tensors(),
        }

    def _roll_back(self, snapshot: dict[str, Any]) -> None:
        self.model.load_state_dict(snapshot["model"])
        self.optimizer.load_state_dict(snapshot["optimizer"])
        if self.ema is not None:
            self.ema.restore(snapshot["ema"])

    def _robust_check(self, data: EyeDataset) -> float:
        """Accuracy of the first `robust_val` images of `data` under PGD-10 at the regime's
        training eps (NaN for regimes that do not attack)."""
        eps = self.config.regime.train_eps
        n = self.config.robust_val
        if eps is None or n == 0 or len(data) == 0:
            return math.nan
        xv = data.images[:n].to(self.device)
        yv = data.labels[:n].to(self.device)
        g = torch.Generator().manual_seed(self.config.seed * 1009 + _ROBUST_SEED)
        adv = pgd(self.model, xv, yv, eps, steps=ROBUST_CHECK_STEPS, generator=g)
        right = predict_logits(self.model, adv).argmax(1) == yv.cpu()
        return float(right.float().mean())

    def _epoch(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[float, float]:
        cfg, g = self.config, self.generators
        n = x.shape[0]
        order = torch.randperm(n, generator=g["data"]).to(self.device)
        total_loss, correct = 0.0, 0
        self._bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
        self.model.train()
        regime = cfg.regime
        for i in range(0, n, cfg.batch_size):
            at = epoch + i / n  # the fractional epoch: per-batch schedules and eps warm-up
            for group in self.optimizer.param_groups:
                group["lr"] = lr_at(cfg, at)
            idx = order[i : i + cfg.batch_size]
            xb, yb = x[idx], y[idx]
            if cfg.hflip:
                xb = random_hflip(xb, generator=g["augment"])
            if cfg.augment:
                xb = random_affine(
                    xb, rotation_deg=cfg.rotation_deg, shift=cfg.shift, generator=g["augment"]
                )
            if cfg.corruptions:
                xb = random_corruption_batch(
                    xb,
                    cfg.corruptions,
                    cfg.corruption_max_severity,
                    g["corrupt"],
                    p=cfg.corruption_p,
                )
            scale = regime.eps_scale(at)
            if regime.replaces_examples:
                xb = adversarial_batch(self.model, xb, yb, regime, g["adversarial"], scale)
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            if regime.kind == "trades":
                loss, logits = trades_loss(
                    self.model, xb, yb, regime, g["adversarial"], scale, cfg.label_smoothing
                )
            else:
                logits = self.model(xb)
                loss = regime_loss(logits, yb, regime, cfg.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.model.apply_constraints(g["constraints"])
            if self.ema is not None:
                self.ema.update(self.model)
            total_loss += float(loss.detach()) * idx.numel()
            correct += int((logits.argmax(1) == yb).sum())
            self._bar.update()
        return total_loss / n, correct / n

    def _validate(self, val: EyeDataset | None, model: EyeModel | None = None) -> Metrics | None:
        if val is None or len(val) == 0:
            return None
        net = self.model if model is None else model
        return classification_metrics(predict_logits(net, val.images), val.labels, val.classes)

    def _save(
        self,
        history: list[EpochRecord],
        best: tuple[float, int],
        vm: Metrics | None,
        improved: bool,
    ) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        training = {
            **self.training_info,
            "config": self.config.to_dict(),
            "epochs_done": len(history),
            **({"stopped": self.stopped} if self.stopped is not None else {}),
        }
        metrics = {"val": vm.to_dict()} if vm else None
        if improved:
            save_model(self.model, self.out / "best", training=training, metrics=metrics)
        for stale in self.out.glob(".last.tmp*"):  # left by a kill -9 of an earlier save
            shutil.rmtree(stale, ignore_errors=True)
        info = {
            "history": [asdict(r) for r in history],
            "best": list(best),
            "stopped": self.stopped,
        }
        extra = None if self.ema is None else self.ema.tensors()
        with staging_folder(self.out, "last") as tmp:  # removed whatever happens
            write_checkpoint(self.model, tmp, training=training, metrics=metrics)
            save_state(
                tmp, optimizer=self.optimizer, generators=self.generators, info=info, extra=extra
            )
            _swap_in(tmp, self.out / "last")
        if self.ema is not None:
            ema_training = {**training, "weights": f"moving average, decay {self.ema.decay:g}"}
            save_model(self.ema.model, self.out / EMA_DIR, training=ema_training)
        write_curves(self.out / "curves.csv", history)
        if self.config.tensorboard:
            write_tensorboard(self.out / "tensorboard", history[-1])

    def _restore(self, folder: Path) -> tuple[list[EpochRecord], tuple[float, int]]:
        saved = load_model(folder)
        self.model.load_state_dict(saved.state_dict())
        info, extra = load_state(
            folder,
            optimizer=self.optimizer,
            generators=self.generators,
            optional=_LATE_GENERATORS,
        )
        if self.ema is not None:
            try:
                self.ema.restore(extra)
            except KeyError:
                raise CheckpointError(
                    f"cannot resume from {folder}: it holds no weight average (ema_decay "
                    "was 0 when it was written)"
                ) from None
        self.stopped = info.get("stopped")
        history = [EpochRecord(**r) for r in info["history"]]
        return history, (float(info["best"][0]), int(info["best"][1]))


def _last_folder(out: Path) -> Path | None:
    """`out/last`, or the previous one if a kill struck between the two renames of a swap."""
    for name in ("last", ".last.old"):
        if (out / name / STATE_JSON).is_file():
            return out / name
    return None


def _swap_in(tmp: Path, dest: Path) -> None:
    old = dest.with_name(".last.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)
