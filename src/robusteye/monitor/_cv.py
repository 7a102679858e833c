"""OpenCV, imported where it is needed: robusteye installs without it (the `video` extra),
and a command that needs it says how to get it in one line. The 4.x wheels ship the Haar
cascades the eye locator uses; the 5.x wheels do not."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from robusteye.errors import UsageError

EXTRA_HINT = "pip install 'robusteye[video]'"


def cv2() -> ModuleType:
    """The `cv2` module."""
    try:
        import cv2 as module
    except ImportError as err:
        raise UsageError(f"video needs opencv-python-headless, which is not installed "
                         f"({EXTRA_HINT}): {err}") from None  # fmt: skip
    return module


def cascade_path(name: str) -> str:
    """The path of one of the Haar cascades OpenCV ships, or one line saying it is missing."""
    module = cv2()
    folder = Path(getattr(getattr(module, "data", None), "haarcascades", "") or ".")
    path = folder / name
    if not path.is_file():
        raise UsageError(
            f"OpenCV {module.__version__} ships no {name} (the 5.x wheels dropped the Haar "
            f"cascades): install opencv-python-headless below 5 ({EXTRA_HINT})"
        )
    return str(path)
