"""Evaluation: predictions (batched logits, labels of image files), metrics from logits,
robustness curves, the attack audit (worst case and indicators of attack failure),
certified accuracy from Lipschitz bounds, transferability between models, the corruption
benchmark (with an attack's curve to draw beside it), and class maps for data labelled with
other classes than the model's."""

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
    AdversarialCurve,
    CorruptionPoint,
    CorruptionResult,
    adversarial_curve,
    corruption_benchmark,
)
from robusteye.evaluate.metrics import Metrics, classification_metrics
from robusteye.evaluate.predict import Prediction, find_images, predict_files, predict_logits
from robusteye.evaluate.robustness import CurvePoint, RobustnessCurve, robustness_curve
from robusteye.evaluate.transfer import TransferMatrix, transfer_matrix

__all__ = [
    "CLASS_MAPS",
    "AdversarialCurve",
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
    "Prediction",
    "RobustnessCurve",
    "TransferMatrix",
    "adversarial_curve",
    "align_to_model",
    "audit",
    "certify",
    "class_map",
    "classification_metrics",
    "corruption_benchmark",
    "find_images",
    "lipschitz_bound",
    "lipschitz_lower_bound",
    "predict_files",
    "predict_logits",
    "robustness_curve",
    "transfer_matrix",
]
