"""The deploy extra's libraries, imported where they are needed: robusteye installs without
them, and a command that needs them says how to get them in one line."""

from __future__ import annotations

from types import ModuleType

from robusteye.errors import UsageError

EXTRA_HINT = "pip install 'robusteye[deploy]'"


def _missing(name: str, err: ImportError) -> UsageError:
    return UsageError(f"exported models need {name}, which is not installed ({EXTRA_HINT}): {err}")


def onnx() -> ModuleType:
    """The `onnx` package."""
    try:
        import onnx as module
    except ImportError as err:
        raise _missing("onnx", err) from None
    return module


def onnxruntime() -> ModuleType:
    """The `onnxruntime` package, with its console logging kept to errors."""
    try:
        import onnxruntime as module
    except ImportError as err:
        raise _missing("onnxruntime", err) from None
    module.set_default_logger_severity(3)
    return module


def onnxscript() -> ModuleType:
    """The `onnxscript` package (torch's ONNX exporter needs it)."""
    try:
        import onnxscript as module
    except ImportError as err:
        raise _missing("onnxscript", err) from None
    return module
