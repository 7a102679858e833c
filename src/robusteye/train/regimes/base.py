"""What a training regime is: one object that knows its parameters, its names and what it
does to a batch and to the loss.

A regime reads its parameters from `RegimeConfig` (the one frozen config of every regime, so
that configs, checkpoints and result rows keep one form) and says which of them are its own
(`fields`); everything else about it is here: the keys a grid spec may give it, its tag in
cell ids and its label in reports, the data it adds before training, how it perturbs a batch
and its loss. The registry (`registry.py`) holds one instance per name; the trainer, the
specs, the grid cells, the `--regime` choices and the report read it from there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from robusteye.data import EyeDataset
    from robusteye.models import EyeModel
    from robusteye.train.config import RegimeConfig

#: the fields every attack regime also has: the eps warm-up, the overfitting guard and
#: adversarial weight perturbation
ATTACK_FIELDS = ("eps_warmup", "overfit_drop", "awp_gamma")


class Regime:
    """One training regime; the defaults are clean training with cross entropy.

    To add a regime, subclass this in a module of `robusteye.train.regimes` (modules there
    are registered on import: the module's `REGIME`), or register an instance from anywhere
    with `register_regime`. Set `name`, `fields` and the spec keys, and override what
    differs: `perturb` (the batch the model trains on), `criterion` (the loss of the logits)
    or `loss` (the whole loss, where it needs the model, as TRADES does), `prepare` (data
    added once before training, as aim 1 does).
    """

    #: the regime's name: `RegimeConfig.kind`, `--regime`, a spec's `kind`
    name: str = ""
    #: the `RegimeConfig` fields it reads: its summary in configs, logs and result rows
    #: (attack regimes also list `ATTACK_FIELDS`)
    fields: tuple[str, ...] = ()
    #: the keys a grid spec may give it as lists (grid axes), and those taking one value
    grid_keys: tuple[str, ...] = ()
    scalar_keys: tuple[str, ...] = ()
    #: whether it attacks the current model while training: the eps warm-up, the robust
    #: check (PGD-10 at `train_eps` each epoch) and its guard against catastrophic
    #: overfitting apply
    attacks_model: bool = False
    #: where it is listed (`--regime` choices, error messages), and where its variants come
    #: in a report (lower first; equal ranks keep the order of registration)
    rank: float = math.inf
    report_rank: float = math.inf

    @property
    def summary_keys(self) -> tuple[str, ...]:
        """The fields of its summary, in order (`RegimeConfig.summary`)."""
        return (*self.fields, *ATTACK_FIELDS) if self.attacks_model else self.fields

    @property
    def spec_keys(self) -> tuple[str, ...]:
        return (*self.grid_keys, *self.scalar_keys)

    def tag(self, r: RegimeConfig) -> str:
        """A short stable name of a config of this regime, in cell ids (`pgd-k2-e0.03-w1`)."""
        return self.name

    def label(self, r: RegimeConfig) -> str:
        """A human name of a config of this regime, for tables and legends."""
        return self.name

    def train_eps(self, r: RegimeConfig) -> float | None:
        """The largest eps it trains at (what the robust check attacks with; None: none)."""
        return r.eps if self.attacks_model else None

    def needs_source(self, r: RegimeConfig) -> bool:
        """Whether `prepare` needs a source model (given, `r.source`, or trained first)."""
        return False

    def check_model(self, r: RegimeConfig, model: EyeModel) -> None:
        """Refuse (`UsageError`) a model this regime cannot train."""

    def prepare(
        self,
        train: EyeDataset,
        r: RegimeConfig,
        source: nn.Module | None,
        seed: int,
        log: Callable[[str], None],
    ) -> EyeDataset:
        """The training set it trains on, made once before training (default: `train`)."""
        return train

    def perturb(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        r: RegimeConfig,
        generator: torch.Generator,
        scale: float = 1.0,
    ) -> Tensor:
        """The batch the model trains on, crafted on the current `model`; `scale` is the eps
        warm-up's factor (default: `x` unchanged)."""
        return x

    def criterion(
        self, logits: Tensor, y: Tensor, r: RegimeConfig, label_smoothing: float = 0.0
    ) -> Tensor:
        """The loss of the logits (default: cross entropy with `label_smoothing`)."""
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)

    def loss(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        r: RegimeConfig,
        generator: torch.Generator,
        scale: float = 1.0,
        label_smoothing: float = 0.0,
    ) -> tuple[Tensor, Tensor]:
        """(the training loss of the batch `x`, the logits its accuracy is counted from)."""
        logits = model(x)
        return self.criterion(logits, y, r, label_smoothing), logits


def warmup_tag(r: RegimeConfig) -> str:
    """The cell-id suffix of an eps warm-up and of weight perturbation ('-w3-awp0.005'; ''
    without either)."""
    return (f"-w{r.eps_warmup}" if r.eps_warmup else "") + awp_tag(r)


def awp_tag(r: RegimeConfig) -> str:
    """The cell-id suffix of adversarial weight perturbation ('-awp0.005'; '' without)."""
    return f"-awp{r.awp_gamma:g}" if r.awp_gamma else ""
