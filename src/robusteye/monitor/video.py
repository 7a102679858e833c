"""Frame sources: a video file, a folder of frames, or a live camera, each yielding
(time in seconds, 8-bit BGR frame) in order.

A video's times come from the container's timestamps where it has them (so a variable frame
rate or a dropped frame shows as a longer gap), else from the frame index and its frame rate
(`--fps` overrides both). A folder's frames are its image files sorted by name, `--fps` apart.
Frames are decoded under the same pixel limit as image folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from robusteye.data.imageio import IMAGE_SUFFIXES, MAX_IMAGE_PIXELS
from robusteye.errors import DataError, UsageError
from robusteye.monitor import _cv

#: Most frames one run reads (an hour at 30 frames per second).
MAX_FRAMES = 108_000


@dataclass
class FrameSource:
    """Where frames come from; iterate it for (time, frame) pairs. `name` is for messages."""

    name: str
    fps: float | None
    kind: str  # "video", "folder" or "camera"
    files: tuple[Path, ...] = ()
    camera: int | None = None
    limit: int = MAX_FRAMES

    def __iter__(self) -> Iterator[tuple[float, np.ndarray]]:
        if self.kind == "folder":
            yield from self._folder()
        else:
            yield from self._capture()

    def _folder(self) -> Iterator[tuple[float, np.ndarray]]:
        assert self.fps is not None
        for i, path in enumerate(self.files[: self.limit]):
            yield i / self.fps, read_frame(path)

    def _capture(self) -> Iterator[tuple[float, np.ndarray]]:
        cv2 = _cv.cv2()
        cap = cv2.VideoCapture(self.camera if self.kind == "camera" else self.name)
        if not cap.isOpened():
            what = f"camera {self.camera}" if self.kind == "camera" else self.name
            raise DataError(f"{what}: cannot open it as a video (OpenCV reads MP4, AVI, MKV, ...)")
        rate = self.fps or cap.get(cv2.CAP_PROP_FPS) or 0.0
        if self.kind == "camera" and not rate:
            rate = 30.0
        last = -1.0
        try:
            for i in range(self.limit):
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                stamp = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if self.fps is None else -1.0
                if stamp <= last or (i and stamp <= 0):  # no usable timestamp: from the rate
                    if not rate:
                        raise DataError(f"{self.name}: the video has no frame rate; give --fps")
                    stamp = i / rate
                if stamp <= last:
                    stamp = last + 1e-3
                last = stamp
                yield stamp, frame
        finally:
            cap.release()


def read_frame(path: Path) -> np.ndarray:
    """One image file as an 8-bit BGR array, refused above the image folders' pixel limit."""
    try:
        with Image.open(path) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise DataError(f"{path}: image too large ({img.width} x {img.height} pixels)")
            rgb = np.asarray(img.convert("RGB"))
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a readable image (robusteye reads PNG, JPEG, BMP)") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: corrupt image ({err})") from None
    return np.ascontiguousarray(rgb[:, :, ::-1])


def open_frames(
    source: str | None, *, fps: float | None = None, camera: int | None = None
) -> FrameSource:
    """The frame source a user named: a video file, a folder of frames (`fps` required) or
    `camera` N; one `UsageError` line otherwise."""
    if fps is not None and not (0 < fps <= 1000):
        raise UsageError(f"--fps must lie in (0, 1000], got {fps}")
    if camera is not None:
        if source is not None:
            raise UsageError("give SOURCE or --camera N, not both")
        return FrameSource(f"camera {camera}", fps, "camera", camera=camera)
    if source is None:
        raise UsageError("give SOURCE (a video file or a folder of frames) or --camera N")
    path = Path(source)
    if path.is_dir():
        files = tuple(
            sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        )
        if not files:
            raise UsageError(
                f"{source}: no frames ({', '.join(IMAGE_SUFFIXES)} files) in this folder"
            )
        if fps is None:
            raise UsageError(f"{source} is a folder of frames: give --fps (its frame rate)")
        return FrameSource(source, fps, "folder", files=files)
    if not path.exists():
        raise UsageError(f"no such video or folder: {source}")
    if not path.is_file() or path.stat().st_size < 64:
        raise DataError(f"{source}: not a video (not a regular file, or too short to hold one)")
    return FrameSource(source, fps, "video")
