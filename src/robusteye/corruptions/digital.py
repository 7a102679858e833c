"""Digital damage: JPEG compression and pixelation (a low-resolution sensor or a far face)."""

from __future__ import annotations

import io

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor


def jpeg(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Encode and decode every image as an 8-bit JPEG of quality `level` (lower: worse).

    One Pillow call per image and channel: JPEG is inherently per image.
    """
    pixels = (x.detach().cpu() * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        for c, plane in enumerate(image):
            buffer = io.BytesIO()
            Image.fromarray(plane, mode="L").save(buffer, format="JPEG", quality=int(level))
            buffer.seek(0)
            with Image.open(buffer) as decoded:
                out[i, c] = np.asarray(decoded.convert("L"))
    return (torch.from_numpy(out).to(x.dtype) / 255.0).to(x.device)


def pixelate(x: Tensor, level: float, g: torch.Generator) -> Tensor:
    """Average down to `level` of the resolution, then blow back up with square pixels."""
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(h * level)), max(1, round(w * level))), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")
