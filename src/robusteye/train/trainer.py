"""The training loop: SGD, the lr schedule, augmentation, the regime's batch perturbation,
`model.apply_constraints()` after every step, per-epoch validation, best and last checkpoints,
learning curves, and exact resume.

Determinism: data order, augmentation, adversarial draws, constraint subsampling and
corruption draws each have their own seeded generator; dropout uses torch's global RNG inside
`fork_rng`, seeded from the config and saved with the state, so the caller's global RNG is left
untouched.

One file of about 300 lines: the loop, its checkpoints and its resume share the trainer's
state (generators, optimizer, history) and are only correct together.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from robusteye.corruptions import random_corruption_batch
from robusteye.data import EyeDataset
from robusteye.devices import resolve_device
from robusteye.errors import UsageError
from robusteye.evaluate import Metrics, classification_metrics, predict_logits
from robusteye.io import atomic_path, staging_folder
from robusteye.models import EyeModel, load_model, save_model
from robusteye.models.checkpoint import write_checkpoint
from robusteye.train.augment import random_affine
from robusteye.train.config import TrainConfig
from robusteye.train.regimes import adversarial_batch, check_regime_model, regime_loss
from robusteye.train.state import STATE_JSON, load_state, save_state

CURVE_FIELDS = (
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_macro_f1",
    "seconds",
)
#: one seeded generator each; new ones go at the end so the others keep their seeds
_GENERATORS = ("data", "augment", "adversarial", "constraints", "corrupt")
#: generators a checkpoint written before they existed may lack (they start fresh on resume)
_LATE_GENERATORS = ("corrupt",)


@dataclass(frozen=True)
class EpochRecord:
    epoch: int
    lr: float
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_macro_f1: float
    seconds: float


@dataclass(frozen=True)
class FitResult:
    model: EyeModel
    history: tuple[EpochRecord, ...]
    best_epoch: int
    val_metrics: Metrics | None


def lr_at(config: TrainConfig, epoch: int) -> float:
    """The learning rate of (0-based) `epoch`: a pure function, so resume needs no state."""
    if config.schedule == "step":
        return config.lr * config.gamma ** (epoch // config.step_size)
    if config.schedule == "cosine":
        return 0.5 * config.lr * (1.0 + math.cos(math.pi * epoch / config.epochs))
    return config.lr


class Trainer:
    """Fits one model; `out_dir` (optional) receives `last/`, `best/` and `curves.csv`."""

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
        best = (-1.0, -1)
        vm: Metrics | None = None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            last = _last_folder(self.out) if resume and self.out is not None else None
            if last is not None:
                history, best = self._restore(last)
            x = train.images.to(self.device)
            y = train.labels.to(self.device)
            per_epoch = -(-x.shape[0] // cfg.batch_size)
            # One bar over the whole run, so its estimate is the time left for all epochs.
            self._bar = tqdm(
                total=per_epoch * max(stop, len(history)),
                initial=per_epoch * len(history),
                unit="batch",
                disable=not self.progress,
                leave=False,
            )
            for epoch in range(len(history), stop):
                start = time.perf_counter()
                lr = lr_at(cfg, epoch)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                loss, acc = self._epoch(x, y, epoch)
                vm = self._validate(val)
                record = EpochRecord(
                    epoch + 1,
                    lr,
                    loss,
                    acc,
                    vm.loss if vm else math.nan,
                    vm.accuracy if vm else math.nan,
                    vm.macro_f1 if vm else math.nan,
                    time.perf_counter() - start,
                )
                history.append(record)
                score = record.val_acc if vm else -record.train_loss
                improved = score > best[0]
                if improved:
                    best = (score, record.epoch)
                self._save(history, best, vm, improved)
                if self.on_epoch is not None:
                    self.on_epoch(record)
            self._bar.close()
        if vm is None:  # nothing trained in this call (a finished run resumed)
            vm = self._validate(val)
        return FitResult(self.model, tuple(history), best[1], vm)

    def _epoch(self, x: torch.Tensor, y: torch.Tensor, epoch: int) -> tuple[float, float]:
        cfg, g = self.config, self.generators
        n = x.shape[0]
        order = torch.randperm(n, generator=g["data"]).to(self.device)
        total_loss, correct = 0.0, 0
        self._bar.set_description(f"epoch {epoch + 1}/{cfg.epochs}")
        self.model.train()
        for i in range(0, n, cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            xb, yb = x[idx], y[idx]
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
            if cfg.regime.kind == "adversarial":
                xb = adversarial_batch(self.model, xb, yb, cfg.regime, g["adversarial"])
            if cfg.channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            logits = self.model(xb)
            loss = regime_loss(logits, yb, cfg.regime)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.model.apply_constraints(g["constraints"])
            total_loss += float(loss.detach()) * idx.numel()
            correct += int((logits.argmax(1) == yb).sum())
            self._bar.update()
        return total_loss / n, correct / n

    def _validate(self, val: EyeDataset | None) -> Metrics | None:
        if val is None or len(val) == 0:
            return None
        return classification_metrics(
            predict_logits(self.model, val.images), val.labels, val.classes
        )

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
        }
        metrics = {"val": vm.to_dict()} if vm else None
        if improved:
            save_model(self.model, self.out / "best", training=training, metrics=metrics)
        for stale in self.out.glob(".last.tmp*"):  # left by a kill -9 of an earlier save
            shutil.rmtree(stale, ignore_errors=True)
        info = {"history": [asdict(r) for r in history], "best": list(best)}
        with staging_folder(self.out, "last") as tmp:  # removed whatever happens
            write_checkpoint(self.model, tmp, training=training, metrics=metrics)
            save_state(tmp, optimizer=self.optimizer, generators=self.generators, info=info)
            _swap_in(tmp, self.out / "last")
        write_curves(self.out / "curves.csv", history)
        if self.config.tensorboard:
            write_tensorboard(self.out / "tensorboard", history[-1])

    def _restore(self, folder: Path) -> tuple[list[EpochRecord], tuple[float, int]]:
        saved = load_model(folder)
        self.model.load_state_dict(saved.state_dict())
        info = load_state(
            folder,
            optimizer=self.optimizer,
            generators=self.generators,
            optional=_LATE_GENERATORS,
        )
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


def write_curves(path: Path, history: list[EpochRecord]) -> None:
    """Learning curves as CSV (rewritten whole, atomically, so a resume never duplicates rows)."""
    lines = [",".join(CURVE_FIELDS)]
    for r in history:
        lines.append(
            ",".join(
                f"{getattr(r, f):.6g}" if isinstance(getattr(r, f), float) else str(getattr(r, f))
                for f in CURVE_FIELDS
            )
        )
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def write_tensorboard(folder: Path, record: EpochRecord) -> None:
    """Append one epoch's curves as TensorBoard scalars (needs the `tensorboard` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise UsageError(
            "--tensorboard needs the tensorboard package: pip install 'robusteye[tensorboard]'"
        ) from None
    with SummaryWriter(str(folder)) as writer:
        for name in CURVE_FIELDS[1:]:
            value = getattr(record, name)
            if math.isfinite(value):
                writer.add_scalar(name.replace("_", "/", 1), value, record.epoch)
