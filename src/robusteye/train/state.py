"""Exact-resume state: optimizer buffers and every RNG state, without pickle.

Tensors go to `training_state.safetensors`, everything else to `training_state.json`.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from robusteye.errors import CheckpointError
from robusteye.io import atomic_path, save_tensors
from robusteye.readers import read_json

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


def save_state(
    folder: Path,
    *,
    optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
    info: dict[str, Any],
    extra: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Write the optimizer state, generator states, torch's global RNG, `info` and `extra`
    tensors (e.g. the weight average) to `folder`."""
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    plain_state: dict[str, dict[str, Any]] = {}
    for idx, entry in opt["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain_state.setdefault(str(idx), {})[key] = value
    for name, gen in generators.items():
        tensors[f"rng.{name}"] = gen.get_state()
    tensors["rng.torch_global"] = torch.get_rng_state()
    for name, value in (extra or {}).items():
        tensors[f"extra.{name}"] = value.detach().cpu().contiguous()
    doc = {"info": info, "param_groups": opt["param_groups"], "optimizer_plain": plain_state}
    with atomic_path(folder / STATE_TENSORS) as tmp:
        save_tensors(tensors, tmp)
    with atomic_path(folder / STATE_JSON) as tmp:
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=True))


def load_state(
    folder: Path,
    *,
    optimizer: torch.optim.Optimizer,
    generators: dict[str, torch.Generator],
    optional: Collection[str] = (),
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore what `save_state` wrote; returns its `info` and `extra` tensors. Problems raise
    `CheckpointError`.

    Generators named in `optional` may be missing from the state (it was written before they
    existed): they keep their current state.
    """
    try:
        tensors = load_file(str(folder / STATE_TENSORS))
    except (OSError, SafetensorError, ValueError) as err:
        raise CheckpointError(f"cannot resume from {folder}: {err}") from None
    doc = read_json(folder / STATE_JSON, error=CheckpointError)
    if not isinstance(doc, dict) or not isinstance(doc.get("info"), dict):
        raise CheckpointError(f"cannot resume from {folder}: {STATE_JSON} is not a training state")
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, entry in doc.get("optimizer_plain", {}).items():
        state.setdefault(int(idx), {}).update(entry)
    try:
        optimizer.load_state_dict({"state": state, "param_groups": doc["param_groups"]})
        for name, gen in generators.items():
            if name in optional and f"rng.{name}" not in tensors:
                continue
            gen.set_state(tensors[f"rng.{name}"])
        torch.set_rng_state(tensors["rng.torch_global"])
    except (KeyError, ValueError, RuntimeError) as err:
        raise CheckpointError(
            f"cannot resume from {folder}: state does not match ({err})"
        ) from None
    extra = {k[len("extra.") :]: v for k, v in tensors.items() if k.startswith("extra.")}
    return dict(doc["info"]), extra
