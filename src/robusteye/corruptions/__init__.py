"""Natural corruptions of eye crops at severities 0-5: pose (rotation, translation, scale),
light (brightness, contrast, gamma, glare), sensor noise (Gaussian, shot), blur (defocus,
motion), digital damage (JPEG, pixelate) and occlusion.

Tensor contract: float N x C x H x W in [0, 1] (N x 1 x 32 x 32 for eye crops); every
corruption is batched, seeded through an explicit `torch.Generator`, keeps shape, dtype and
device, and clamps to [0, 1]. Measure the damage on the attacks' axis with
`robusteye.attacks.snr_db(x, corrupt(x, ...))`.
"""

from robusteye.corruptions.batch import random_corruption_batch
from robusteye.corruptions.registry import (
    CORRUPTIONS,
    MAX_SEVERITY,
    Corruption,
    check_severity,
    corrupt,
    corruption_names,
    parse_corruptions,
)

__all__ = [
    "CORRUPTIONS",
    "MAX_SEVERITY",
    "Corruption",
    "check_severity",
    "corrupt",
    "corruption_names",
    "parse_corruptions",
    "random_corruption_batch",
]
