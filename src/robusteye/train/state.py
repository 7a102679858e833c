"""A run's checkpoints and exact resume, without pickle.

`save_run` writes what a run folder holds after each epoch: `best/` (when the epoch
improved), `last/` with the resume state (swapped in whole, so a kill leaves the previous
one), the weight average `ema/` and `curves.csv`; `resume_run` reads `last/` back into the
model, optimizer, generators and weight average. The resume state is the optimizer's
buffers, every RNG state, the run's progress and extra tensors: tensors go to
`training_state.safetensors`, everything else to `training_state.json`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from robusteye.errors import CheckpointError
from robusteye.io import atomic_path, save_tensors, staging_folder
from robusteye.models import EyeModel, load_model, save_model
from robusteye.models.checkpoint import write_checkpoint
from robusteye.readers import read_json
from robusteye.train.curves import EpochRecord, write_curves
from robusteye.train.ema import WeightAverage

STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"
EMA_DIR = "ema"
#: one seeded generator each; new ones go at the end so the others keep their seeds
GENERATORS = ("data", "augment", "adversarial", "constraints", "corrupt", "extra")
#: generators a checkpoint written before they existed may lack (they start fresh on resume)
LATE_GENERATORS = ("corrupt", "extra")


def seeded_generators(seed: int) -> dict[str, torch.Generator]:
    """The run's generators (`GENERATORS`), each seeded from `seed` and its position."""
    return {
        name: torch.Generator().manual_seed(seed * 1009 + i) for i, name in enumerate(GENERATORS)
    }


@dataclass(frozen=True)
class RunParts:
    """What a run changes as it trains, and a checkpoint saves: the model, its optimizer, the
    seeded generators and the weight average (None without one)."""

    model: EyeModel
    optimizer: torch.optim.Optimizer
    generators: dict[str, torch.Generator]
    ema: WeightAverage | None = None


@dataclass
class RunProgress:
    """How far a run has come: its epochs, its best (score, epoch), the epoch the guard
    stopped it at."""

    history: list[EpochRecord] = field(default_factory=list)
    best: tuple[float, int] = (-math.inf, -1)
    stopped: int | None = None


def save_run(
    out: Path,
    parts: RunParts,
    progress: RunProgress,
    *,
    training: dict[str, Any],
    metrics: dict[str, Any] | None,
    improved: bool,
) -> None:
    """Write the run's checkpoints after an epoch: `best/` when it `improved`, `last/` with
    the resume state, `ema/` with a weight average, and the curves."""
    out.mkdir(parents=True, exist_ok=True)
    if improved:
        save_model(parts.model, out / "best", training=training, metrics=metrics)
    for stale in out.glob(".last.tmp*"):  # left by a kill -9 of an earlier save
        shutil.rmtree(stale, ignore_errors=True)
    info = {
        "history": [asdict(r) for r in progress.history],
        "best": list(progress.best),
        "stopped": progress.stopped,
    }
    extra = None if parts.ema is None else parts.ema.tensors()
    with staging_folder(out, "last") as tmp:  # removed whatever happens
        write_checkpoint(parts.model, tmp, training=training, metrics=metrics)
        save_state(
            tmp, optimizer=parts.optimizer, generators=parts.generators, info=info, extra=extra
        )
        _swap_in(tmp, out / "last")
    if parts.ema is not None:
        ema_training = {**training, "weights": f"moving average, decay {parts.ema.decay:g}"}
        save_model(parts.ema.model, out / EMA_DIR, training=ema_training)
    write_curves(out / "curves.csv", progress.history)


def resume_run(folder: Path, parts: RunParts) -> RunProgress:
    """Load the run saved in `folder` (a `last/`) into `parts`; returns its progress."""
    saved = load_model(folder)
    parts.model.load_state_dict(saved.state_dict())
    info, extra = load_state(
        folder,
        optimizer=parts.optimizer,
        generators=parts.generators,
        optional=LATE_GENERATORS,
    )
    if parts.ema is not None:
        try:
            parts.ema.restore(extra)
        except KeyError:
            raise CheckpointError(
                f"cannot resume from {folder}: it holds no weight average (ema_decay "
                "was 0 when it was written)"
            ) from None
    history = [EpochRecord(**r) for r in info["history"]]
    best = (float(info["best"][0]), int(info["best"][1]))
    return RunProgress(history, best, info.get("stopped"))


def last_folder(out: Path) -> Path | None:
    """`out/last`, or the previous one if a kill struck between the two renames of a swap."""
    for name in ("last", ".last.old"):
        if (out / name / STATE_JSON).is_file():
            return out / name
    return None


def _swap_in(tmp: Path, dest: Path) -> None:
    old = dest.with_name(".last.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        os.replace(dest, old)
    os.replace(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


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
        tmp.write_text(json.dumps(_tag_floats(doc), indent=1, allow_nan=False))


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
    return dict(_untag_floats(doc["info"])), extra


#: how a non-finite float is written in the state's JSON: strict JSON has no NaN, and null
#: would not read back as the NaN an exact resume needs (states of earlier versions hold a bare
#: NaN, which the reader still accepts)
_FLOAT_TAG = "__float__"


def _tag_floats(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return {_FLOAT_TAG: repr(obj)}  # 'nan', 'inf' or '-inf'
    if isinstance(obj, dict):
        return {k: _tag_floats(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_tag_floats(v) for v in obj]
    return obj


def _untag_floats(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_FLOAT_TAG} and obj[_FLOAT_TAG] in ("nan", "inf", "-inf"):
            return float(obj[_FLOAT_TAG])
        return {k: _untag_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_untag_floats(v) for v in obj]
    return obj
