"""robusteye: robust eye-state classification (Wide ResNets, Parseval networks, attacks)."""

from __future__ import annotations

from robusteye._version import __version__
from robusteye.data import EyeDataset, load_dataset
from robusteye.models import create_model, list_models, load_model, save_model

__all__ = [
    "EyeDataset",
    "__version__",
    "create_model",
    "list_models",
    "load_dataset",
    "load_model",
    "save_model",
]
