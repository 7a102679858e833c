"""Evaluation: metrics from logits, robustness curves, the attack audit (worst case and
indicators of attack failure), certified accuracy from Lipschitz bounds, transferability
between models, the corruption benchmark, and class maps for data labelled with other
classes than the model's."""

from robusteye.evaluate.audit import AuditPoint, AuditResult, Indicator, audit
from robusteye.evaluate.certify import (
    CertPoint,
    CertResult,
    certify,
    lipschitz_bound,
    lipschitz_lower_bound,
)
from robusteye.evaluate.classmap import CLASS_MAPS, ClassMap, align_to_model, class_map
from robusteye.evaluate.corruption import (
    CorruptionPoint,
    CorruptionResult,
    corruption_benchmark,
)
from robusteye.evaluate.metrics import Metrics, classification_metrics
from robusteye.evaluate.predict import predict_logits
from robusteye.evaluate.robustness import CurvePoint, RobustnessCurve, robustness_curve
from robusteye.evaluate.transfer import TransferMatrix, transfer_matrix

__all__ = [
    "CLASS_MAPS",
    "AuditPoint",
    "AuditResult",
    "CertPoint",
    "CertResult",
    "ClassMap",
    "CorruptionPoint",
    "CorruptionResult",
    "CurvePoint",
    "Indicator",
    "Metrics",
    "RobustnessCurve",
    "TransferMatrix",
    "align_to_model",
    "audit",
    "certify",
    "class_map",
    "classification_metrics",
    "corruption_benchmark",
    "lipschitz_bound",
    "lipschitz_lower_bound",
    "predict_logits",
    "robustness_curve",
    "transfer_matrix",
]
