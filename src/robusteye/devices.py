"""Torch devices named by users: checked once, with one line for every mistake.

`parse_device` checks the spelling (`cpu`, `cuda`, `cuda:1`, `mps`); `resolve_device` also
checks that this torch build and machine have the device, which is what every place that
moves a model or a tensor calls first. A Ray driver without a GPU still submits `--device
cuda` cells (only the spelling is checked there): the GPU is the workers'.
"""

from __future__ import annotations

import torch

from robusteye.errors import UsageError

KINDS = ("cpu", "cuda", "mps")


def parse_device(name: str | torch.device) -> torch.device:
    """The device `name` spells; an unknown or malformed name is a `UsageError`."""
    if isinstance(name, torch.device):
        device = name
    else:
        try:
            device = torch.device(str(name))
        except (RuntimeError, ValueError, TypeError):
            raise UsageError(f"unknown device {name!r}: use cpu, cuda, cuda:N or mps") from None
    if device.type not in KINDS:
        raise UsageError(f"unknown device {str(name)!r}: use cpu, cuda, cuda:N or mps")
    return device


def resolve_device(name: str | torch.device) -> torch.device:
    """`parse_device`, and the device must exist here (a CUDA device needs a CUDA build of
    torch and a GPU with that index)."""
    device = parse_device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "no GPU visible"
            raise UsageError(f"device {str(name)!r} is not available: this torch is {build}")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise UsageError(
                f"device {str(name)!r} is not available: this machine has {count} GPU(s)"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UsageError(f"device {str(name)!r} is not available on this machine")
    return device
