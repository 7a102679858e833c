"""Turn one image file (or one 2-D array) into a 32 x 32 float32 grayscale crop in [0, 1].

Any Pillow mode is accepted: 16-bit and float images are scaled by their range, alpha is
composited onto white, palettes and colour are converted to luminance. Large images are
decoded at reduced size where the format allows it (JPEG draft mode) and their pixel count is
bounded, so a huge file cannot exhaust memory.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from robusteye.data.limits import IMAGE_SIZE
from robusteye.errors import DataError
from robusteye.readers import open_regular

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: Refuse to decode more pixels than this (8,000 x 8,000), counted after JPEG draft scaling, so
#: memory stays bounded (under 1 GB at the limit). Files declaring more than twice Pillow's
#: limit (about 179 M pixels) are refused by Pillow's decompression-bomb check before that.
MAX_IMAGE_PIXELS = 64_000_000
#: The only Pillow decoders ever tried: the formats the README lists. Without this, content
#: named .png could reach any plugin (PostScript's runs Ghostscript where it is installed).
FORMATS = ("PNG", "JPEG", "BMP")


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode `path` to a float32 32 x 32 array in [0, 1]; unreadable files raise `DataError`."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Our MAX_IMAGE_PIXELS check replaces Pillow's warning: it counts the pixels actually
            # decoded, so a large JPEG that draft mode decodes at 1/8 scale is still read.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with open_regular(path) as fh, Image.open(fh, formats=FORMATS) as img:
                width, height = img.size
                img.draft("L", (4 * IMAGE_SIZE, 4 * IMAGE_SIZE))  # JPEG: decode at reduced scale
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise DataError(
                        f"{path}: image too large ({width} x {height} pixels; "
                        f"robusteye decodes at most {MAX_IMAGE_PIXELS:,})"
                    )
                img.load()
                gray = _to_gray(img)
    except DataError:
        raise
    except Image.DecompressionBombError as err:
        raise DataError(f"{path}: image too large ({str(err).rstrip('.')})") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (robusteye reads PNG, JPEG, BMP)") from None
    except (OSError, SyntaxError, ValueError) as err:  # truncated or corrupt data
        raise DataError(f"{path}: corrupt image ({err})") from None
    return resize_crop(gray)


def _to_gray(img: Image.Image) -> np.ndarray:
    """Luminance in [0, 1] as float32, whatever the mode."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.float32) / 65535.0
    if img.mode == "I":
        arr = np.asarray(img, dtype=np.float32)
        return arr / (65535.0 if arr.max(initial=0) > 255 else 255.0)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float32)
        if not np.isfinite(arr).all():
            raise DataError(f"{getattr(img, 'filename', 'image')}: contains NaN or Inf")
        return arr if arr.min(initial=0) >= 0 and arr.max(initial=0) <= 1 else arr / 255.0
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def resize_crop(gray: np.ndarray) -> np.ndarray:
    """Resize a 2-D array in [0, 1] to 32 x 32 (anti-aliased), clipped to [0, 1]."""
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise DataError(f"a crop must be a non-empty 2-D array, got shape {gray.shape}")
    if gray.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return np.clip(gray.astype(np.float32, copy=False), 0.0, 1.0)
    if gray.dtype != np.float32 or not gray.flags.writeable:
        gray = np.array(gray, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(gray))[None, None]  # no copy of a large image
    out = F.interpolate(
        t, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bicubic", antialias=True, align_corners=False
    )
    return out[0, 0].clamp_(0.0, 1.0).numpy()
