"""The corruption benchmark: metrics of one model on every corruption at every severity.

Each point also carries the SNR of its corrupted images, so natural damage and adversarial
attacks sit on one axis. mCA (mean corruption accuracy) averages accuracy over all corruptions
and severities >= 1; the relative drop is (clean accuracy - mCA) / clean accuracy.
`adversarial_curve` measures an attack at target SNRs, to draw beside the corruptions.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from robusteye.attacks import mean_snr_db, snr_db
from robusteye.corruptions import check_severity, corrupt, parse_corruptions
from robusteye.errors import UsageError
from robusteye.evaluate.classmap import ClassMap
from robusteye.evaluate.metrics import Metrics, classification_metrics
from robusteye.evaluate.predict import predict_logits
from robusteye.evaluate.robustness import robustness_curve
from robusteye.tensors import check_images

#: (label, SNRs in dB, accuracies): one adversarial curve, e.g. from a `RobustnessCurve`
AdversarialCurve = tuple[str, Sequence[float | None], Sequence[float | None]]


def _finite(v: float | None) -> float | None:
    return v if v is not None and math.isfinite(v) else None


@dataclass(frozen=True)
class CorruptionPoint:
    """One corruption at one severity; SNRs are +inf (None in JSON) for unchanged images."""

    corruption: str
    severity: int
    snr_db: float
    mean_snr_db: float
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        return {
            "corruption": self.corruption,
            "severity": self.severity,
            "snr_db": _finite(self.snr_db),
            "mean_snr_db": _finite(self.mean_snr_db),
            "metrics": self.metrics.to_dict(),
        }


@dataclass(frozen=True)
class CorruptionResult:
    """Clean metrics and one point per (corruption, severity), corruption-major."""

    clean: Metrics
    points: tuple[CorruptionPoint, ...]
    corruptions: tuple[str, ...]
    severities: tuple[int, ...]
    seed: int
    class_map: ClassMap | None = None

    def point(self, corruption: str, severity: int) -> CorruptionPoint:
        for p in self.points:
            if p.corruption == corruption and p.severity == severity:
                return p
        raise KeyError((corruption, severity))

    def accuracies(self, corruption: str) -> list[float]:
        """Accuracy at each of `severities` under `corruption`."""
        return [self.point(corruption, s).metrics.accuracy for s in self.severities]

    def mean_accuracy(self, corruption: str) -> float:
        """Mean accuracy of `corruption` over severities >= 1 (clean accuracy if none)."""
        accs = [p.metrics.accuracy for p in self.points if p.corruption == corruption]
        damaged = [a for a, s in zip(accs, self.severities, strict=True) if s >= 1]
        return sum(damaged) / len(damaged) if damaged else self.clean.accuracy

    @property
    def mean_corruption_accuracy(self) -> float:
        """mCA: mean accuracy over every corruption and every severity >= 1."""
        damaged = [p.metrics.accuracy for p in self.points if p.severity >= 1]
        return sum(damaged) / len(damaged) if damaged else self.clean.accuracy

    @property
    def relative_drop(self) -> float:
        """(clean accuracy - mCA) / clean accuracy; NaN when the clean accuracy is 0."""
        clean = self.clean.accuracy
        return (clean - self.mean_corruption_accuracy) / clean if clean > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "corruptions": list(self.corruptions),
            "severities": list(self.severities),
            "seed": self.seed,
            "class_map": None if self.class_map is None else self.class_map.to_dict(),
            "clean": self.clean.to_dict(),
            "mean_corruption_accuracy": self.mean_corruption_accuracy,
            "relative_drop": _finite(self.relative_drop),
            "per_corruption": {
                c: {"accuracy": self.accuracies(c), "mean_accuracy": self.mean_accuracy(c)}
                for c in self.corruptions
            },
            "points": [p.to_dict() for p in self.points],
        }


def corruption_seed(seed: int, name: str) -> int:
    """The generator seed of corruption `name`: the same at every severity, so each image
    keeps its random draws (direction, position) and only the strength grows."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63


def corruption_benchmark(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    classes: tuple[str, ...],
    names: Sequence[str] | str = "all",
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    seed: int = 0,
    batch_size: int = 512,
    class_map: ClassMap | None = None,
) -> CorruptionResult:
    """Metrics of `model` on clean `images` and under each corruption at each severity.

    `labels` index `classes`. With `class_map`, the model's logits are mapped onto `classes`
    (the data's, which must be the map's) before scoring.
    """
    check_images(images, "images")
    names = parse_corruptions(names)
    severities = tuple(sorted({check_severity(s) for s in severities}))
    if not severities:
        raise UsageError("give at least one severity")
    if class_map is not None and tuple(classes) != class_map.classes:
        raise UsageError(
            f"class map is onto {list(class_map.classes)}, but the labels index {list(classes)}"
        )

    def metrics(x: Tensor) -> Metrics:
        logits = predict_logits(model, x, batch_size=batch_size)
        if class_map is not None:
            logits = class_map.apply(logits)
        return classification_metrics(logits, labels, tuple(classes))

    clean = metrics(images)
    points = []
    for name in names:
        for s in severities:
            x = corrupt(images, name, s, seed=corruption_seed(seed, name))
            m = clean if s == 0 else metrics(x)
            points.append(CorruptionPoint(name, s, snr_db(images, x), mean_snr_db(images, x), m))
    return CorruptionResult(clean, tuple(points), names, severities, seed, class_map)


def adversarial_curve(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    classes: tuple[str, ...],
    attack: str,
    snr: Sequence[float],
    *,
    seed: int = 0,
) -> AdversarialCurve:
    """`attack`'s accuracy at each target SNR (dB) on the benchmark's images, as the
    (label, SNRs reached, accuracies) that `plot_corruption_benchmark` draws on its SNR axes.

    `labels` must be in the model's classes (`classes`): an attack needs the model's labels.
    """
    curve = robustness_curve(model, images, labels, classes, attack, snr=snr, seed=seed)
    points = curve.points[1:]  # the clean point is the benchmark's own
    return (
        f"{attack.upper()} (adversarial)",
        [p.snr_db for p in points],
        [p.metrics.accuracy for p in points],
    )
