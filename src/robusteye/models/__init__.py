"""Models: registry, Wide ResNets, the study's CNN, Parseval layers, diagnostics, checkpoints.

The registry is filled by the explicit imports of `wrn`, `cnn` and `lipschitz` below.
"""

from __future__ import annotations

from robusteye.models import cnn, lipschitz, wrn  # noqa: F401  (registers the entry points)
from robusteye.models.base import EyeModel, Normalize
from robusteye.models.checkpoint import (
    CheckpointConfig,
    load_model,
    read_checkpoint_config,
    save_model,
)
from robusteye.models.config import STUDY_CLASSES, ModelConfig
from robusteye.models.diagnostics import (
    LayerReport,
    ModelReport,
    conv_operator_norm,
    inspect_model,
    orthogonality_error,
)
from robusteye.models.parseval import (
    ConvexMerge,
    ParsevalConv2d,
    ParsevalLinear,
    project_simplex,
    retract_,
)
from robusteye.models.registry import (
    DATA_OWNED_OPTIONS,
    build_model,
    check_model_options,
    create_model,
    list_models,
    register_model,
)

__all__ = [
    "DATA_OWNED_OPTIONS",
    "STUDY_CLASSES",
    "CheckpointConfig",
    "ConvexMerge",
    "EyeModel",
    "LayerReport",
    "ModelConfig",
    "ModelReport",
    "Normalize",
    "ParsevalConv2d",
    "ParsevalLinear",
    "build_model",
    "check_model_options",
    "conv_operator_norm",
    "create_model",
    "inspect_model",
    "list_models",
    "load_model",
    "orthogonality_error",
    "project_simplex",
    "read_checkpoint_config",
    "register_model",
    "retract_",
    "save_model",
]
