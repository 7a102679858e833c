"""robusteye: robust eye-state classification (Wide ResNets, Parseval networks, attacks)."""

from __future__ import annotations

__version__ = "0.1.0"

from robusteye.data import EyeDataset, load_dataset  # noqa: E402

__all__ = ["EyeDataset", "__version__", "load_dataset"]
