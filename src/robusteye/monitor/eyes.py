"""Finding the eyes in a camera frame and cutting them to the classifier's crops.

OpenCV's Haar face cascade (`alt2`, which finds faces more reliably than the default one on
the demo clip and is faster) finds the face; each eye's square is placed from the face box
(centres at 30 % and 70 % of its width and 40 % of its height, a quarter of the face wide)
and moved onto the eye cascade's detection where one falls inside it. A closed eye is often
missed by an eye detector, so the geometry must carry it; the cascade only refines. Between
face detections (`EyeLocator(detect_every=N)`) the last face box is kept, which is what makes
the pipeline fast enough for a live camera. A crop goes through `data.imageio.resize_crop`,
the function image folders go through, so a crop from a frame and a crop from a file meet the
model alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robusteye.data.imageio import resize_crop
from robusteye.monitor import _cv

FACE_CASCADE = "haarcascade_frontalface_alt2.xml"
EYE_CASCADE = "haarcascade_eye.xml"
#: the two eyes, in image order: the image's left (the person's right eye) first
EYES = ("left", "right")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left corner, width and height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    def inside(self, width: int, height: int) -> bool:
        return (
            self.x >= 0 and self.y >= 0 and self.x + self.w <= width and self.y + self.h <= height
        )


@dataclass(frozen=True)
class EyeGeometry:
    """Where the eyes sit in a face box, as shares of its width (x, size) and height (y)."""

    centres_x: tuple[float, float] = (0.3, 0.7)
    centre_y: float = 0.4
    size: float = 0.25

    def boxes(self, face: Box) -> tuple[Box, Box]:
        side = max(4, round(face.w * self.size))
        cy = face.y + face.h * self.centre_y
        return tuple(  # type: ignore[return-value]
            Box(round(face.x + face.w * cx - side / 2), round(cy - side / 2), side, side)
            for cx in self.centres_x
        )


@dataclass(frozen=True)
class Located:
    """A frame's face box and eye boxes (None where no face was found), and whether the face
    was detected in this frame or carried over from an earlier one."""

    face: Box | None
    eyes: tuple[Box, Box] | None
    detected: bool
    refined: tuple[bool, bool] = (False, False)


def refine(
    boxes: tuple[Box, Box], detections: list[Box]
) -> tuple[tuple[Box, Box], tuple[bool, bool]]:
    """Each geometric box moved (same size) onto the centre of the eye detection whose
    centre falls inside it, if any; (boxes, which were moved)."""
    out, moved = [], []
    for box in boxes:
        hits = [d for d in detections if box.contains(*d.centre)]
        if hits:
            best = min(hits, key=lambda d: abs(d.w - box.w))
            cx, cy = best.centre
            out.append(Box(round(cx - box.w / 2), round(cy - box.h / 2), box.w, box.h))
        else:
            out.append(box)
        moved.append(bool(hits))
    return (out[0], out[1]), (moved[0], moved[1])


class EyeLocator:
    """Face and eye boxes per frame (8-bit grayscale, H x W), the face detected every
    `detect_every` frames and carried over in between (and for up to `hold` frames after a
    detection fails: a face does not vanish for a frame)."""

    def __init__(
        self,
        geometry: EyeGeometry | None = None,
        *,
        detect_every: int = 1,
        hold: int = 15,
        min_face: int = 48,
        refine_eyes: bool = True,
    ) -> None:
        cv2 = _cv.cv2()
        self.cv2 = cv2
        self.face = cv2.CascadeClassifier(_cv.cascade_path(FACE_CASCADE))
        self.eye = cv2.CascadeClassifier(_cv.cascade_path(EYE_CASCADE)) if refine_eyes else None
        self.geometry = geometry or EyeGeometry()
        self.detect_every, self.hold, self.min_face = max(1, detect_every), hold, min_face
        self._last: Box | None = None
        self._age = 0
        self._misses = 0
        self._count = 0

    def _detect_face(self, gray: np.ndarray) -> Box | None:
        scale = 1.0
        small = gray
        if max(gray.shape) > 640:  # detection on at most 640 pixels, boxes scaled back
            scale = 640 / max(gray.shape)
            small = self.cv2.resize(
                gray, None, fx=scale, fy=scale, interpolation=self.cv2.INTER_AREA
            )
        found = self.face.detectMultiScale(
            small, scaleFactor=1.15, minNeighbors=3, minSize=(round(self.min_face * scale),) * 2
        )
        if len(found) == 0:
            return None
        x, y, w, h = max(found, key=lambda b: b[2] * b[3])  # the largest face: the driver
        return Box(*(round(float(v) / scale) for v in (x, y, w, h)))

    def locate(self, gray: np.ndarray) -> Located:
        """The boxes of one frame (frames must come in order: the face is tracked)."""
        detected = False
        if self._last is None or self._age >= self.detect_every - 1 or self._misses:
            face = self._detect_face(gray)
            self._age = 0
            if face is not None:
                self._last, self._misses, detected = face, 0, True
            elif self._last is not None and self._misses < self.hold:
                self._misses += 1
            else:
                self._last = None
        else:
            self._age += 1
        face = self._last
        if face is None:
            return Located(None, None, detected)
        boxes = self.geometry.boxes(face)
        refined = (False, False)
        if self.eye is not None and detected:
            top = gray[face.y : face.y + face.h // 2 + face.h // 8, face.x : face.x + face.w]
            found = self.eye.detectMultiScale(top, scaleFactor=1.1, minNeighbors=5)
            detections = [
                Box(face.x + int(x), face.y + int(y), int(w), int(h)) for x, y, w, h in found
            ]
            boxes, refined = refine(boxes, detections)
        return Located(face, boxes, detected, refined)


def to_gray(frame: np.ndarray) -> np.ndarray:
    """An 8-bit frame (H x W gray, H x W x 3 BGR or H x W x 4 BGRA) as 8-bit grayscale, with
    the luminance weights image folders use (ITU-R 601: 0.299 R + 0.587 G + 0.114 B)."""
    cv2 = _cv.cv2()
    if frame.ndim == 2:
        return frame
    code = cv2.COLOR_BGRA2GRAY if frame.shape[2] == 4 else cv2.COLOR_BGR2GRAY
    return cv2.cvtColor(frame, code)


def crop_eyes(gray: np.ndarray, boxes: tuple[Box, Box]) -> np.ndarray | None:
    """The two eye crops (2 x 32 x 32 float32 in [0, 1]) of an 8-bit gray frame, or None when
    a box leaves the frame (an eye half outside the picture is not visible)."""
    height, width = gray.shape
    if not all(b.inside(width, height) for b in boxes):
        return None
    return np.stack(
        [
            resize_crop(gray[b.y : b.y + b.h, b.x : b.x + b.w].astype(np.float32) / 255.0)
            for b in boxes
        ]
    )
