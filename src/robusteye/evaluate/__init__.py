"""Evaluation: metrics from logits, robustness curves, transferability between models."""

from robusteye.evaluate.metrics import Metrics, classification_metrics
from robusteye.evaluate.predict import predict_logits
from robusteye.evaluate.robustness import CurvePoint, RobustnessCurve, robustness_curve
from robusteye.evaluate.transfer import TransferMatrix, transfer_matrix

__all__ = [
    "CurvePoint",
    "Metrics",
    "RobustnessCurve",
    "TransferMatrix",
    "classification_metrics",
    "predict_logits",
    "robustness_curve",
    "transfer_matrix",
]
