"""The rows of `results.jsonl`, one per finished task: a grid cell (`CellRow`), a fold's
transferability matrices (`TransferRow`) and a search trial on one fold (`TrialRow`).

`to_dict` writes the keys in the order rows have always had, optional keys only when set,
so a row read and written again is the same line.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from robusteye._results._fields import Fields
from robusteye._results.bounds import AuditSummary, CertificateSummary
from robusteye._results.corruption import CorruptionScores
from robusteye._results.curves import Curve, CurveKind, Roc, metrics_from
from robusteye.errors import RobustEyeError
from robusteye.evaluate.metrics import Metrics
from robusteye.train.curves import EpochRecord

_EPOCH_FIELDS = {f.name: f for f in fields(EpochRecord)}


def read_history(f: Fields) -> tuple[EpochRecord, ...]:
    """Training curves, one `EpochRecord` per epoch (null for a NaN, kept as null)."""
    out = []
    for epoch in f.objs("history"):
        for key in epoch.data:
            if key not in _EPOCH_FIELDS:
                epoch.unknown(key)
            value = epoch.number_or_none(key)
            if key in ("epoch", "collapsed") and not isinstance(value, int):
                epoch.fail(key, "an integer", value)
        try:
            out.append(EpochRecord(**epoch.data))
        except TypeError:
            missing = [k for k, x in _EPOCH_FIELDS.items() if k not in epoch.data]
            raise RobustEyeError(f"missing field {epoch.name(missing[0])!r}") from None
    return tuple(out)


#: epoch fields added later, left out of a row where not measured (so earlier rows write
#: back as they were read)
_LATE_EPOCH_FIELDS = ("check_acc",)


def epoch_dict(record: EpochRecord) -> dict[str, Any]:
    """One epoch as a row stores it."""
    out = asdict(record)
    for key in _LATE_EPOCH_FIELDS:
        value = out[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            del out[key]
    return out


@dataclass(frozen=True)
class CellRow:
    """A grid cell: its spec (model, regime, fold, seed, data), its training curves, clean
    metrics with ROC, its curves (attacks, then the audit's worst case and the certificate)
    and, where the spec asks, the corruption benchmark and the audit."""

    KIND: ClassVar[str] = "cell"

    id: str
    variant: str
    label: str
    model: str
    model_options: dict[str, Any]
    regime: dict[str, Any]  # TrainConfig.regime.summary(): its kind and its own fields
    fold: int
    seed: int
    data: str
    classes: tuple[str, ...]
    eval_set: str
    n_train: int
    n_val: int
    n_eval: int
    epochs: int
    history: tuple[EpochRecord, ...]
    clean: Metrics
    roc: Roc
    attacks: tuple[Curve, ...]
    checkpoint: str
    seconds: float
    natural: dict[str, Any] | None = None  # corruption-training settings
    ema_decay: float | None = None
    label_smoothing: float | None = None
    stopped: int | None = None  # the epoch the robustness guard stopped training at
    corruptions: CorruptionScores | None = None
    audit: AuditSummary | None = None

    @property
    def kind(self) -> str:
        return self.KIND

    @property
    def regime_kind(self) -> str:
        return str(self.regime.get("kind", "?"))

    @property
    def certificate(self) -> CertificateSummary | None:
        curve = self.curve(CurveKind.CERTIFIED)
        return None if curve is None else CertificateSummary.from_curve(curve)

    def curve(self, kind: CurveKind, name: str | None = None) -> Curve | None:
        """The first curve of `kind` (and `name`), or None."""
        return next((c for c in self.attacks if c.kind is kind and name in (None, c.name)), None)

    def to_dict(self) -> dict[str, Any]:
        def some(key: str, value: Any) -> dict[str, Any]:
            return {key: value} if value is not None else {}

        return {
            "kind": self.KIND,
            "id": self.id,
            "variant": self.variant,
            "label": self.label,
            "model": self.model,
            "model_options": self.model_options,
            "regime": self.regime,
            **some("natural", self.natural),
            **some("ema_decay", self.ema_decay),
            **some("label_smoothing", self.label_smoothing),
            **some("stopped", self.stopped),
            "fold": self.fold,
            "seed": self.seed,
            "data": self.data,
            "classes": list(self.classes),
            "eval_set": self.eval_set,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_eval": self.n_eval,
            "epochs": self.epochs,
            "history": [epoch_dict(r) for r in self.history],
            "clean": self.clean.to_dict(),
            "roc": self.roc.to_dict(),
            "attacks": [c.to_dict() for c in self.attacks],
            **some("corruptions", None if self.corruptions is None else self.corruptions.to_dict()),
            **some("audit", None if self.audit is None else self.audit.to_dict()),
            "checkpoint": self.checkpoint,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Any) -> CellRow:
        f = Fields(data, "")
        f.raw("kind")

        def opt(key: str, read: Any) -> Any:
            return read(key) if f.has(key) else None

        out = cls(
            id=f.text("id"),
            variant=f.text("variant"),
            label=f.text("label"),
            model=f.text("model"),
            model_options=f.mapping("model_options"),
            regime=f.mapping("regime"),
            natural=opt("natural", f.mapping),
            ema_decay=opt("ema_decay", f.number),
            label_smoothing=opt("label_smoothing", f.number),
            stopped=opt("stopped", f.integer),
            fold=f.integer("fold"),
            seed=f.integer("seed"),
            data=f.text("data"),
            classes=f.texts("classes"),
            eval_set=f.text("eval_set"),
            n_train=f.integer("n_train"),
            n_val=f.integer("n_val"),
            n_eval=f.integer("n_eval"),
            epochs=f.integer("epochs"),
            history=read_history(f),
            clean=metrics_from(f.obj("clean")),
            roc=Roc.from_dict(f.raw("roc")),
            attacks=tuple(Curve.from_dict(c.data, c.where) for c in f.objs("attacks")),
            corruptions=opt("corruptions", lambda k: CorruptionScores.from_dict(f.raw(k))),
            audit=opt("audit", lambda k: AuditSummary.from_dict(f.raw(k))),
            checkpoint=f.text("checkpoint"),
            seconds=f.number("seconds"),
        )
        f.done()
        return out


@dataclass(frozen=True)
class TransferScores:
    """One transferability matrix: `accuracy[i][j]` is model j on examples crafted on model
    i, at one eps or target SNR (`robusteye.evaluate.transfer`)."""

    names: tuple[str, ...]
    attack: str
    eps: tuple[float, ...]
    snr_db: tuple[float | None, ...]
    target_snr_db: float | None
    clean_accuracy: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "attack": self.attack,
            "eps": list(self.eps),
            "snr_db": list(self.snr_db),
            "target_snr_db": self.target_snr_db,
            "clean_accuracy": list(self.clean_accuracy),
            "accuracy": [list(r) for r in self.accuracy],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "matrix") -> TransferScores:
        return cls.from_fields(Fields(data, where))

    @classmethod
    def from_fields(cls, f: Fields) -> TransferScores:
        accuracy = f.array("accuracy")
        if not all(isinstance(r, list) for r in accuracy):
            f.fail("accuracy", "a list of lists of numbers", accuracy)
        out = cls(
            names=f.texts("names"),
            attack=f.text("attack"),
            eps=f.numbers("eps"),
            snr_db=f.numbers("snr_db", null=True),
            target_snr_db=f.number_or_none("target_snr_db"),
            clean_accuracy=f.numbers("clean_accuracy"),
            accuracy=tuple(tuple(r) for r in accuracy),
        )
        f.done()
        return out


@dataclass(frozen=True)
class TransferRow:
    """A fold's (and seed's) transferability matrices on `n` attacked images."""

    KIND: ClassVar[str] = "transfer"

    id: str
    fold: int
    seed: int
    n: int
    matrices: tuple[TransferScores, ...]

    @property
    def kind(self) -> str:
        return self.KIND

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.KIND,
            "id": self.id,
            "fold": self.fold,
            "seed": self.seed,
            "n": self.n,
            "matrices": [m.to_dict() for m in self.matrices],
        }

    @classmethod
    def from_dict(cls, data: Any) -> TransferRow:
        f = Fields(data, "")
        f.raw("kind")
        out = cls(
            id=f.text("id"),
            fold=f.integer("fold"),
            seed=f.integer("seed"),
            n=f.integer("n"),
            matrices=tuple(TransferScores.from_fields(m) for m in f.objs("matrices")),
        )
        f.done()
        return out
