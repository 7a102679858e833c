"""`robusteye data demo-video`: a clip with scripted blinks and a long closure, from a real
face photo that an installed dependency already ships (matplotlib's
`sample_data/grace_hopper.jpg`), and its ground truth.

The photo is placed in a 640 x 480 frame; around the eyes robusteye's own eye locator finds,
squares half as large again are replaced in every frame by a generator crop of one synthetic
person, open or closed as scripted, blended into the photo with a feathered edge, and every
frame gets its own sensor noise.
The ground truth beside the clip (`<clip>.truth.json`) lists the scripted events, so
`robusteye monitor` can score its blink detection against it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from robusteye.data.synthetic import CLOSED, OPEN, generate_synthetic
from robusteye.errors import RobustEyeError, UsageError
from robusteye.io import atomic_path, dumps_json
from robusteye.monitor import _cv
from robusteye.monitor.eyes import Box, EyeLocator, to_gray
from robusteye.monitor.temporal import Event

WIDTH, HEIGHT = 640, 480
TRUTH_FORMAT = "robusteye.demo-truth"
#: (start s, duration s) of each scripted closure within a 20 s clip; 0.2 s are blinks, the
#: 1.5 s one is a long closure; longer clips repeat the script
SCRIPT = (
    (2.0, 0.2),
    (4.5, 0.2),
    (7.0, 0.2),
    (9.0, 0.2),
    (11.0, 1.5),
    (14.0, 0.2),
    (16.5, 0.2),
    (18.5, 0.2),
)
SCRIPT_PERIOD = 20.0
#: a scripted eye covers this many times the eye box the locator finds on the photo
PATCH_SCALE = 1.5


def face_photo() -> Image.Image:
    """matplotlib's sample photo of Grace Hopper, as shipped with matplotlib."""
    from matplotlib import cbook

    path = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    with Image.open(path) as img:
        return img.convert("RGB")


def scripted_events(seconds: float) -> list[Event]:
    """The closures of a clip of `seconds`, from `SCRIPT` repeated every `SCRIPT_PERIOD`."""
    events = []
    for k in range(math.ceil(seconds / SCRIPT_PERIOD)):
        for start, duration in SCRIPT:
            t0 = k * SCRIPT_PERIOD + start
            if t0 + duration <= seconds:
                kind = "blink" if duration <= 0.5 else "long_closure"
                events.append(Event(kind, t0, t0 + duration, 0))
    return events


def _typical(images: np.ndarray) -> np.ndarray:
    """The crop nearest its class's mean image: a typical one, not an outlier."""
    mean = images.mean(0)
    return images[int(((images - mean) ** 2).sum((1, 2)).argmin())]


def _patched(base: np.ndarray, boxes: tuple[Box, Box], crop: np.ndarray) -> np.ndarray:
    """`base` (float32) with `crop` blended into each box with a feathered edge."""
    cv2 = _cv.cv2()
    frame = base.astype(np.float32)
    for box in boxes:
        patch = cv2.resize(crop * 255, (box.w, box.h), interpolation=cv2.INTER_CUBIC)[:, :, None]
        alpha = _feather(box.w)
        region = frame[box.y : box.y + box.h, box.x : box.x + box.w]
        region[:] = alpha * patch + (1 - alpha) * region
    return frame


def _patch_boxes(base: np.ndarray) -> tuple[Box, Box]:
    """Squares `PATCH_SCALE` times the eye boxes the locator finds on the photo, on the same
    centres: a detector's box moves by a few pixels from frame to frame (and once the eyes
    are replaced), and a larger patch keeps every such box inside the scripted eye."""
    boxes = EyeLocator().locate(to_gray(base)).eyes
    if boxes is None:
        raise RobustEyeError("the eye locator found no face in the sample photo")
    side = round(boxes[0].w * PATCH_SCALE)
    out = []
    for box in boxes:
        cx, cy = box.centre
        out.append(Box(round(cx - side / 2), round(cy - side / 2), side, side))
    return out[0], out[1]


def _feather(side: int) -> np.ndarray:
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / max(1.0, side * 0.15), 0, 1)
    return (np.minimum.outer(ramp, ramp))[:, :, None].astype(np.float32)


def render_demo(
    out: str | os.PathLike[str], *, seconds: float = 20.0, fps: float = 30.0, seed: int = 0
) -> dict[str, Any]:
    """Write the clip to `out` (.mp4) and its ground truth beside it; returns the truth."""
    if not (1.0 <= seconds <= 600.0) or not (5.0 <= fps <= 120.0):
        raise UsageError("--seconds must lie in [1, 600] and --fps in [5, 120]")
    cv2 = _cv.cv2()
    path = Path(out)
    if path.suffix.lower() != ".mp4":
        raise UsageError(f"--out must end in .mp4, got {out}")
    photo = face_photo()
    scale = HEIGHT / photo.height
    photo = photo.resize((round(photo.width * scale), HEIGHT), Image.Resampling.LANCZOS)
    base = np.full((HEIGHT, WIDTH, 3), 40, dtype=np.uint8)
    left = (WIDTH - photo.width) // 2
    base[:, left : left + photo.width] = np.asarray(photo)[:, :, ::-1]
    crops = generate_synthetic(400, seed=seed, n_persons=1)
    labels = crops.labels.numpy()
    pick = {
        state: _typical(crops.images[:, 0].numpy()[labels == k])
        for state, k in (("open", OPEN), ("closed", CLOSED))
    }
    boxes = _patch_boxes(base)
    events = scripted_events(seconds)
    n = round(seconds * fps)
    rng = np.random.default_rng(seed)
    with atomic_path(path) as tmp:
        video = tmp.with_suffix(".mp4")
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, (WIDTH, HEIGHT))
        if not writer.isOpened():
            raise RobustEyeError("OpenCV cannot write MP4 (mp4v) here")
        closed_frames = []
        try:
            for i in range(n):
                t = i / fps
                closed = any(e.start <= t < e.end for e in events)
                closed_frames.append(closed)
                frame = _patched(base, boxes, pick["closed" if closed else "open"])
                frame = frame + rng.normal(0, 2.0, (HEIGHT, WIDTH, 1))
                writer.write(np.clip(frame, 0, 255).astype(np.uint8))
            writer.release()
            os.replace(video, tmp)
        finally:
            writer.release()
            video.unlink(missing_ok=True)  # left only when writing failed
    truth = {
        "format": TRUTH_FORMAT,
        "fps": fps,
        "frames": n,
        "photo": "matplotlib sample_data/grace_hopper.jpg",
        "eyes": [vars(b) for b in boxes],
        "events": [
            {
                "kind": e.kind,
                "start": e.start,
                "end": e.end,
                "frames": sum(e.start <= i / fps < e.end for i in range(n)),
            }
            for e in events
        ],
        "closed_frames": [i for i, c in enumerate(closed_frames) if c],
    }
    with atomic_path(path.with_suffix(".truth.json")) as tmp:
        tmp.write_text(dumps_json(truth, indent=2) + "\n", encoding="utf-8")
    return truth
