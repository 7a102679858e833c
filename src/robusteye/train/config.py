"""Training configuration: frozen dataclasses that check themselves on construction.

Defaults are the study's: SGD lr 0.1, momentum 0.9, x0.1 every 10 epochs, 50 epochs, batch 64,
weight decay 1e-4, rotation +-10 deg and shifts +-5/32.

Over 300 lines because `RegimeConfig` documents and checks the fields of all seven regimes in
one place, so that a grid spec, the command line and a checkpoint's config share one rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from robusteye.attacks.registry import ATTACKS, attack_names
from robusteye.corruptions import MAX_SEVERITY, parse_corruptions
from robusteye.devices import parse_device
from robusteye.errors import UsageError

REGIMES = ("standard", "augment", "adversarial", "certified", "pgd", "trades", "fgsm-rs")
#: regimes that attack the current model during training (the robust check watches them)
ATTACK_REGIMES = ("adversarial", "pgd", "trades", "fgsm-rs")
SCHEDULES = ("step", "cosine", "constant", "onecycle")


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise UsageError(message)


@dataclass(frozen=True)
class RegimeConfig:
    """How training data is perturbed.

    - `standard`: clean data only.
    - `augment` (aim 1): `percent`% of the training set perturbed once by `perturbation`
      (any attack of `ATTACKS`: "fgsm" from `source` or a standard model trained first, or
      "noise", which needs no model) at `eps`, added with
      the true labels; then training from scratch.
    - `adversarial` (aim 2): in every batch a `fraction` of the examples is replaced by
      `attack` examples (a gradient attack of `ATTACKS`, `pgd_steps` steps where it takes
      steps) crafted on the current model, eps per example uniform in
      [`eps_min`, `eps_max`] (or drawn from `eps_choices` when given).
    - `certified`: clean data, and the Lipschitz-margin loss (Tsuzuku et al. 2018): cross
      entropy on `(z - sqrt(2) radius e_y) / temperature`, which pushes each margin beyond
      what certifies the L2 `radius`; for models that are 1-Lipschitz by construction
      (`lipschitz_cnn`), where the margin is the certificate. The defaults (radius 0.2,
      temperature 0.1) are the recipe measured best on real eyes at 36/255 (README).
    - `pgd` (Madry et al. 2018): every example replaced by the last iterate of `pgd_steps`
      L-inf PGD steps of 2.5 `eps` / steps from a random start, at `eps`.
    - `trades` (Zhang et al. 2019): cross entropy on the clean batch plus `beta` times the KL
      divergence between the clean and the adversarial prediction, the adversarial point the
      maximiser of that KL found by `pgd_steps` L-inf steps in the `eps` ball.
    - `fgsm-rs` (Wong et al. 2020, "Fast is better than free"): one FGSM step of 1.25 `eps`
      from a uniform random start in the ball, projected back; fast, and prone to
      catastrophic overfitting, which the robust check detects (`overfit_drop`).

    For the four attack regimes, `eps_warmup` epochs ramp the training eps linearly from 0
    (per batch), and `overfit_drop` is the guard: when the robust validation accuracy (the
    trainer's PGD check, `TrainConfig.robust_val`) falls more than this below the previous
    epoch's, beyond how far clean validation accuracy moved (counting from epoch `guard_from`:
    after the warm-up and the first two epochs), PGD has collapsed: the trainer says so in
    the curves, rolls back that epoch and stops (0 turns the guard off).
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

    def __post_init__(self) -> None:
        _check(
            self.kind in REGIMES, f"regime must be one of {', '.join(REGIMES)}, got {self.kind!r}"
        )
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

    @property
    def needs_source(self) -> bool:
        """Aim 1 with a perturbation crafted on a model (anything but noise)."""
        return self.kind == "augment" and ATTACKS[self.perturbation].needs_model

    @property
    def attacks_model(self) -> bool:
        """Whether training attacks the current model (the adversarial-training regimes)."""
        return self.kind in ATTACK_REGIMES

    @property
    def replaces_examples(self) -> bool:
        """Whether training swaps examples for adversarial ones (`adversarial_batch`): every
        attack regime but TRADES, which keeps the clean batch and adds a KL term."""
        return self.attacks_model and self.kind != "trades"

    @property
    def train_eps(self) -> float | None:
        """The largest eps the regime trains at (what the robust check attacks with)."""
        if self.kind == "adversarial":
            return max(self.eps_choices) if self.eps_choices else self.eps_max
        return self.eps if self.kind in ATTACK_REGIMES else None

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

    def attack_options(self) -> dict[str, Any]:
        """Options of the adversarial regime's attack: `pgd_steps` where it takes steps, and
        the last iterate (Madry's training attack) where it would keep the best one."""
        names = ATTACKS[self.attack].options
        opts: dict[str, Any] = {"steps": self.pgd_steps} if "steps" in names else {}
        return {**opts, "best": False} if "best" in names else opts

    def summary(self) -> dict[str, Any]:
        """Only the fields that matter for this kind (for configs, logs and result rows)."""
        keys = {
            "standard": (),
            "augment": ("perturbation", "eps", "percent", "source"),
            "adversarial": ("fraction", "attack", "eps_min", "eps_max", "eps_choices", "pgd_steps"),
            "certified": ("radius", "temperature"),
            "pgd": ("eps", "pgd_steps"),
            "trades": ("eps", "pgd_steps", "beta"),
            "fgsm-rs": ("eps",),
        }[self.kind]
        if self.attacks_model:
            keys = (*keys, "eps_warmup", "overfit_drop")
        out: dict[str, Any] = {"kind": self.kind}
        for k in keys:
            v = getattr(self, k)
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
