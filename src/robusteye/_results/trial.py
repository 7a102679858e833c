"""The row of one search trial on one fold (`robusteye.experiments.selection`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from robusteye._results._fields import Fields
from robusteye._results.rows import epoch_dict, read_history
from robusteye.train.curves import EpochRecord


@dataclass(frozen=True)
class TrialMetrics:
    """A trial's scores on its fold: the objective, clean metrics, robust accuracy (None
    when the objective names no attack) and the last epoch's training loss and accuracy."""

    objective: float
    accuracy: float
    robust_accuracy: float | None
    robust_snr_db: float | None
    macro_f1: float | None
    roc_auc_macro: float | None
    loss: float | None
    train_loss: float | None
    train_acc: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_fields(cls, f: Fields) -> TrialMetrics:
        out = cls(
            objective=f.number("objective"),
            accuracy=f.number("accuracy"),
            **{k.name: f.number_or_none(k.name) for k in fields(cls)[2:]},
        )
        f.done()
        return out


@dataclass(frozen=True)
class TrialRow:
    """One trial trained on one fold up to one rung's epochs, then scored."""

    KIND: ClassVar[str] = "trial"

    id: str
    trial: str
    params: dict[str, Any]
    model: str
    model_options: dict[str, Any]
    fold: int
    rung: int
    epochs: int
    max_epochs: int
    n_train: int
    n_val: int
    n_attacked: int
    metrics: TrialMetrics
    history: tuple[EpochRecord, ...]
    seconds: float

    @property
    def kind(self) -> str:
        return self.KIND

    def value(self, metric: str) -> float | None:
        """A metric by name (`seconds` too), for rankings that take metric names."""
        if metric == "seconds":
            return self.seconds
        return getattr(self.metrics, metric)  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "id": self.id,
            "trial": self.trial,
            "params": self.params,
            "model": self.model,
            "model_options": self.model_options,
            "fold": self.fold,
            "rung": self.rung,
            "epochs": self.epochs,
            "max_epochs": self.max_epochs,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_attacked": self.n_attacked,
            "metrics": self.metrics.to_dict(),
            "history": [epoch_dict(r) for r in self.history],
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Any) -> TrialRow:
        f = Fields(data, "")
        f.raw("kind")
        out = cls(
            id=f.text("id"),
            trial=f.text("trial"),
            params=f.mapping("params"),
            model=f.text("model"),
            model_options=f.mapping("model_options"),
            fold=f.integer("fold"),
            rung=f.integer("rung"),
            epochs=f.integer("epochs"),
            max_epochs=f.integer("max_epochs"),
            n_train=f.integer("n_train"),
            n_val=f.integer("n_val"),
            n_attacked=f.integer("n_attacked"),
            metrics=TrialMetrics.from_fields(f.obj("metrics")),
            history=read_history(f),
            seconds=f.number("seconds"),
        )
        f.done()
        return out
