"""Training configuration: frozen dataclasses that check themselves on construction.

Defaults are the study's: SGD lr 0.1, momentum 0.9, x0.1 every 10 epochs, 50 epochs, batch 64,
weight decay 1e-4, rotation +-10 deg and shifts +-5/32.

`RegimeConfig` holds the parameters of every regime, so that a grid spec, the command line
and a checkpoint's config share one form and one rule per field; what a regime does with
them, and which are its own, is its object in `robusteye.train.regimes` (`REGIMES`).

Over 300 lines because every field's check sits beside its field, one rule per field in one
place, for the two configs that the command line, specs and checkpoints all share.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from robusteye.attacks.registry import ATTACKS, attack_names
from robusteye.corruptions import MAX_SEVERITY, parse_corruptions
from robusteye.devices import parse_device
from robusteye.errors import UsageError
from robusteye.train.regimes.base import Regime
from robusteye.train.regimes.registry import REGIMES, get_regime

__all__ = ["REGIMES", "SCHEDULES", "RegimeConfig", "TrainConfig"]

SCHEDULES = ("step", "cosine", "constant", "onecycle")
#: options left out of a regime's summary when off (0), so earlier rows keep their form
QUIET_WHEN_OFF = ("awp_gamma",)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise UsageError(message)


@dataclass(frozen=True)
class RegimeConfig:
    """A training regime (`kind`, one of `REGIMES`) and its parameters; each regime reads
    its own (`Regime.fields`, documented in its module) and ignores the others.

    - `perturbation`, `eps`, `percent`, `source`: aim 1's added examples (`augment`); `eps`
      is also the training eps of `pgd`, `trades` and `fgsm-rs`.
    - `fraction`, `attack`, `eps_min`, `eps_max`, `eps_choices`: aim 2's batches
      (`adversarial`); `pgd_steps`: the steps of the training attack where it takes steps.
    - `radius`, `temperature`: the certified regime's margin loss; `beta`: TRADES' KL weight.

    For the attack regimes (`Regime.attacks_model`), `eps_warmup` epochs ramp the training
    eps linearly from 0 (per batch), and `overfit_drop` is the guard: when the robust
    validation accuracy (the trainer's PGD check, `TrainConfig.robust_val`) falls more than
    this below the previous epoch's, beyond how far clean validation accuracy moved
    (counting from epoch `guard_from`: after the warm-up and the first two epochs), PGD has
    collapsed: the trainer says so in the curves, rolls back that epoch and stops (0 turns
    the guard off). `awp_gamma` > 0 adds adversarial weight perturbation (`train.awp`) once
    the warm-up has ended.
    """

    kind: str = "standard"
    perturbation: str = "fgsm"
    eps: float = 0.01
    percent: float = 50.0
    source: str | None = None
    fraction: float = 0.5
    attack: str = "fgsm"
    eps_min: float = 0.001
    eps_max: float = 0.032
    eps_choices: tuple[float, ...] = ()
    pgd_steps: int = 5
    radius: float = 0.2
    temperature: float = 0.1
    beta: float = 6.0
    eps_warmup: int = 0
    overfit_drop: float = 0.2
    awp_gamma: float = 0.0

    def __post_init__(self) -> None:
        get_regime(self.kind)  # a registered regime, or one line naming them
        _check(
            self.perturbation in ATTACKS,
            f"augment perturbation must be one of {', '.join(ATTACKS)}, got {self.perturbation!r}",
        )
        white_box = attack_names(white_box=True)
        _check(
            self.attack in white_box,
            f"adversarial attack must be one of {', '.join(white_box)}, got {self.attack!r}",
        )
        _check(_finite(self.eps) and 0 < self.eps <= 1, f"eps must lie in (0, 1], got {self.eps}")
        _check(
            _finite(self.percent) and 0 < self.percent <= 100,
            f"percent must lie in (0, 100], got {self.percent}",
        )
        _check(
            _finite(self.fraction) and 0 < self.fraction <= 1,
            f"adversarial fraction must lie in (0, 1], got {self.fraction}",
        )
        _check(
            _finite(self.eps_min)
            and _finite(self.eps_max)
            and 0 <= self.eps_min <= self.eps_max <= 1,
            f"need 0 <= eps_min <= eps_max <= 1, got {self.eps_min}, {self.eps_max}",
        )
        object.__setattr__(self, "eps_choices", tuple(float(e) for e in self.eps_choices))
        _check(
            all(_finite(e) and 0 <= e <= 1 for e in self.eps_choices),
            f"eps choices must lie in [0, 1], got {list(self.eps_choices)}",
        )
        _check(self.pgd_steps >= 1, f"pgd_steps must be >= 1, got {self.pgd_steps}")
        _check(
            _finite(self.radius) and 0 <= self.radius <= 10,
            f"certified radius must lie in [0, 10], got {self.radius}",
        )
        _check(
            _finite(self.temperature) and 0 < self.temperature <= 100,
            f"temperature must lie in (0, 100], got {self.temperature}",
        )
        _check(
            _finite(self.beta) and 0 <= self.beta <= 1000,
            f"beta must lie in [0, 1000], got {self.beta}",
        )
        _check(
            _whole(self.eps_warmup) and self.eps_warmup >= 0,
            f"eps_warmup must be a whole number of epochs >= 0, got {self.eps_warmup!r}",
        )
        _check(
            _finite(self.overfit_drop) and 0 <= self.overfit_drop <= 1,
            f"overfit_drop must lie in [0, 1], got {self.overfit_drop}",
        )
        _check(
            _finite(self.awp_gamma) and 0 <= self.awp_gamma <= 0.1,
            f"awp_gamma must lie in [0, 0.1], got {self.awp_gamma}",
        )

    @property
    def definition(self) -> Regime:
        """The registered regime this config is a point of (what it does, its names)."""
        return get_regime(self.kind)

    @property
    def needs_source(self) -> bool:
        """Whether the regime crafts data on a source model first (aim 1 but noise)."""
        return self.definition.needs_source(self)

    @property
    def attacks_model(self) -> bool:
        """Whether training attacks the current model (the adversarial-training regimes)."""
        return self.definition.attacks_model

    @property
    def train_eps(self) -> float | None:
        """The largest eps the regime trains at (what the robust check attacks with)."""
        return self.definition.train_eps(self)

    @property
    def guard_from(self) -> int:
        """The first (0-based) epoch the overfitting guard and the choice of `best/` count: not
        before the eps warm-up has ended, nor in the first two epochs, where a model that
        still predicts almost one class scores a high robust accuracy that real learning then
        lowers."""
        return max(self.eps_warmup, 2)

    def eps_scale(self, epoch: float) -> float:
        """The warm-up's factor on the training eps at (fractional, 0-based) `epoch`."""
        return 1.0 if self.eps_warmup == 0 else min(1.0, epoch / self.eps_warmup)

    def summary(self) -> dict[str, Any]:
        """Only the fields that matter for this kind (for configs, logs and result rows)."""
        keys = self.definition.summary_keys
        out: dict[str, Any] = {"kind": self.kind}
        for k in keys:
            v = getattr(self, k)
            if k in QUIET_WHEN_OFF and not v:
                continue  # a run without it keeps the summary it had before the option
            out[k] = list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 50
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    schedule: str = "step"
    step_size: int = 10
    gamma: float = 0.1
    augment: bool = True
    rotation_deg: float = 10.0
    shift: float = 5.0 / 32.0
    #: mirror a random half of each batch left to right (independent of `augment`)
    hflip: bool = False
    val_fraction: float = 0.1
    seed: int = 0
    regime: RegimeConfig = field(default_factory=RegimeConfig)
    device: str = "cpu"
    #: NHWC memory layout: measured 1.11-1.16x faster training on CPU (benchmarks/bench_train.py)
    channels_last: bool = True
    #: also write the learning curves as TensorBoard scalars to OUT/tensorboard
    tensorboard: bool = False
    #: natural corruptions applied to training batches (empty: none; "all" also accepted)
    corruptions: tuple[str, ...] = ()
    #: share of each batch corrupted, at a severity uniform in 1..corruption_max_severity
    corruption_p: float = 0.5
    corruption_max_severity: int = 3
    #: label smoothing of the cross entropy (0: none)
    label_smoothing: float = 0.0
    #: decay of an exponential moving average of the weights, evaluated each epoch and saved
    #: as OUT/ema (0: none); 0.999 averages over about the last 1,000 steps
    ema_decay: float = 0.0
    #: images attacked each epoch by PGD-10 at the regime's training eps, for the attack
    #: regimes: the first of the validation set (of the training set without one); with a
    #: validation set it also picks the best checkpoint (0: no check, and no guard)
    robust_val: int = 256
    #: share of each batch drawn from extra data (`Trainer.fit(extra=...)`, `train.extra`):
    #: generated or pseudo-labelled crops (0: none)
    extra_fraction: float = 0.0

    def __post_init__(self) -> None:
        _check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")
        _check(self.batch_size >= 1, f"batch size must be >= 1, got {self.batch_size}")
        _check(_finite(self.lr) and self.lr > 0, f"lr must be > 0, got {self.lr}")
        _check(
            _finite(self.momentum) and 0 <= self.momentum < 1,
            f"momentum must lie in [0, 1), got {self.momentum}",
        )
        _check(not self.nesterov or self.momentum > 0, "nesterov needs momentum > 0")
        _check(
            _finite(self.weight_decay) and self.weight_decay >= 0,
            f"weight decay must be >= 0, got {self.weight_decay}",
        )
        _check(
            self.schedule in SCHEDULES,
            f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}",
        )
        _check(self.step_size >= 1, f"step size must be >= 1, got {self.step_size}")
        _check(
            _finite(self.gamma) and 0 < self.gamma <= 1,
            f"gamma must lie in (0, 1], got {self.gamma}",
        )
        _check(
            _finite(self.rotation_deg) and 0 <= self.rotation_deg <= 180,
            f"rotation must lie in [0, 180] degrees, got {self.rotation_deg}",
        )
        _check(
            _finite(self.shift) and 0 <= self.shift < 1,
            f"shift must lie in [0, 1), got {self.shift}",
        )
        _check(
            _finite(self.val_fraction) and 0 <= self.val_fraction < 1,
            f"validation fraction must lie in [0, 1), got {self.val_fraction}",
        )
        _check(
            _finite(self.label_smoothing) and 0 <= self.label_smoothing < 1,
            f"label smoothing must lie in [0, 1), got {self.label_smoothing}",
        )
        _check(
            _finite(self.ema_decay) and 0 <= self.ema_decay < 1,
            f"ema decay must lie in [0, 1), got {self.ema_decay}",
        )
        _check(
            _whole(self.robust_val) and self.robust_val >= 0,
            f"robust_val must be a whole number of images >= 0, got {self.robust_val!r}",
        )
        _check(
            _finite(self.extra_fraction) and 0 <= self.extra_fraction < 1,
            f"extra fraction must lie in [0, 1), got {self.extra_fraction}",
        )
        parse_device(self.device)  # the spelling; whether it exists is checked where it runs
        if isinstance(self.regime, dict):
            object.__setattr__(self, "regime", RegimeConfig(**self.regime))
        self._check_corruptions()

    def _check_corruptions(self) -> None:
        names = self.corruptions
        if isinstance(names, str) or names:
            object.__setattr__(self, "corruptions", parse_corruptions(names))
        else:
            object.__setattr__(self, "corruptions", ())
        _check(
            _finite(self.corruption_p) and 0 < self.corruption_p <= 1,
            f"corruption_p must lie in (0, 1], got {self.corruption_p}",
        )
        _check(
            isinstance(self.corruption_max_severity, int)
            and not isinstance(self.corruption_max_severity, bool)
            and 1 <= self.corruption_max_severity <= MAX_SEVERITY,
            f"corruption_max_severity must be an integer in 1..{MAX_SEVERITY}, "
            f"got {self.corruption_max_severity!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["regime"] = asdict(self.regime) | {"eps_choices": list(self.regime.eps_choices)}
        d["corruptions"] = list(self.corruptions)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        _check(not unknown, f"unknown training option(s): {', '.join(unknown)}")
        regime = data.get("regime", {})
        if isinstance(regime, dict):
            rknown = {f.name for f in fields(RegimeConfig)}
            bad = sorted(set(regime) - rknown)
            _check(not bad, f"unknown regime option(s): {', '.join(bad)}")
            regime = RegimeConfig(**regime)
        return cls(**{**data, "regime": regime})


def _whole(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
