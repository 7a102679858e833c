"""Embedded procedural eye crops with the study's four classes, so every command runs offline.

`generate_synthetic(n, seed=, n_persons=)` returns an `EyeDataset` of float32 N x 1 x 32 x 32
images in [0, 1]. Each crop is drawn from a continuous eyelid aperture (0 = shut, 1 = wide
open) that sets its label, a person with stable traits (skin, iris, eye shape, brow, lashes,
glasses) and per-image nuisance (pose, framing, light, cast shadows, skin sheen, folds and
wrinkles, glints, blur, noise). Clutter is shared by all classes, so it is no cue for a hidden
eye, and a shut eye is told by its missing iris and sclera, not by a thin line: its lashes mat
into a thick dark band under a bright, stretched lid. `notVisible` crops hide the
eye behind a hand, hair, dark sunglasses, heavy blur, the crop border or darkness. The same seed
gives bit-identical images on the same machine; randomness is local (numpy and torch
generators), never global.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from robusteye.data import _render as R
from robusteye.data.dataset import STUDY_CLASSES, EyeDataset
from robusteye.data.limits import MAX_IMAGES
from robusteye.errors import UsageError

GENERATOR_ID = "robusteye.synthetic/1"
#: The study's class sizes (open, partiallyOpen, closed, notVisible); the default mirrors them.
_STUDY_COUNTS = (1500, 1376, 1500, 1346)
OPEN, PARTIAL, CLOSED, NOT_VISIBLE = range(4)
#: Aperture thresholds between closed | partiallyOpen | open.
_T_CLOSED, _T_OPEN = 0.25, 0.6
#: Share of visible crops whose aperture lies just across a threshold, as with hard real labels.
_BOUNDARY_SHARE, _BOUNDARY_WIDTH = 0.06, 0.06
#: Where the folds lie (eye frame, y down): the lid fold above the eye, a line under it, anywhere.
_FOLD_ROWS = ((-0.55, -0.2), (0.15, 0.5), (-0.9, 0.9))
_CHUNK = 128  # images rendered at once: big enough to vectorise, small enough for the cache


def generate_synthetic(n: int = 5722, *, seed: int = 0, n_persons: int = 48) -> EyeDataset:
    """Generate `n` labelled synthetic eye crops from `n_persons` people, deterministic in `seed`.

    Class sizes follow the study's proportions (about 1.4-1.5k per class for the default n);
    persons get near-equal numbers of crops.
    """
    _check_int("n", n, len(STUDY_CLASSES), MAX_IMAGES)
    _check_int("n_persons", n_persons, 1)
    _check_int("seed", seed, 0)
    if n_persons > n:
        raise UsageError(f"n_persons must be at most n={n}, got {n_persons}")

    rng = np.random.default_rng(seed)
    labels = rng.permutation(_class_labels(n))
    person = rng.permutation(np.arange(n) % n_persons)
    traits = _person_traits(rng, n_persons)
    params = {k: v[person] for k, v in traits.items()}
    params.update(_image_params(rng, labels, params))
    chunk_seeds = rng.integers(0, 2**62, size=math.ceil(n / _CHUNK))

    tensors = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in params.items()}
    chunks = []
    for i, chunk_seed in enumerate(chunk_seeds):
        sl = slice(i * _CHUNK, (i + 1) * _CHUNK)
        gen = torch.Generator().manual_seed(int(chunk_seed))
        chunks.append(R.render({k: v[sl] for k, v in tensors.items()}, gen))
    return EyeDataset(
        images=torch.cat(chunks).contiguous(),
        labels=torch.as_tensor(labels, dtype=torch.int64),
        classes=STUDY_CLASSES,
        persons=tuple(f"syn_p{p:03d}" for p in person),
        sources=None,
        meta={
            "origin": "synthetic",
            "seed": seed,
            "n": n,
            "n_persons": n_persons,
            "generator": GENERATOR_ID,
        },
    )


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise UsageError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{name} must be at most {maximum:,}, got {value:,}")


def _class_labels(n: int) -> np.ndarray:
    """Class labels in the study's proportions (largest remainders), unshuffled."""
    share = np.asarray(_STUDY_COUNTS, dtype=np.float64) / sum(_STUDY_COUNTS) * n
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(counts - share)[: n - counts.sum()]] += 1
    return np.repeat(np.arange(len(_STUDY_COUNTS)), counts)


def _person_traits(rng: np.random.Generator, p: int) -> dict[str, np.ndarray]:
    """Stable per-person appearance (values in scene units of the half crop, or gray levels)."""
    u = rng.uniform
    half_width = u(0.7, 0.92, p)
    skin = u(0.35, 0.78, p)
    upper_h = u(0.36, 0.52, p) * half_width
    glasses = (rng.random(p) < 0.3).astype(np.float64)
    return {
        "skin": skin,
        "skin_tex": u(0.05, 0.18, p),
        "socket": u(0.15, 0.45, p),
        "cheek": u(0.0, 0.15, p),
        "nose": u(0.05, 0.25, p),
        "half_width": half_width,
        "upper_h": upper_h,
        "lower_h": u(0.2, 0.32, p) * half_width,
        "roundness": u(-0.4, 1.2, p),  # > 0 round, < 0 almond with pointed corners
        "tilt": u(-0.05, 0.15, p),
        "iris_r": u(0.4, 0.5, p),
        "iris": u(0.07, 0.45, p),
        "pupil": u(0.35, 0.5, p),
        "sclera": np.minimum(skin + u(0.0, 0.3, p), 0.95),
        "brow_y": upper_h + u(0.22, 0.45, p),
        "brow_arch": u(0.02, 0.12, p),
        "brow_thick": u(0.18, 0.35, p),
        "brow_dark": u(0.1, 0.75, p),
        "crease_gap": u(0.05, 0.14, p),
        "crease": u(0.05, 0.35, p),
        "lash": u(0.45, 0.85, p),
        "lash_w": u(0.03, 0.055, p),
        "lower_line": u(0.1, 0.3, p),
        "bulge": u(0.03, 0.15, p),
        "glasses": glasses,
        "frame_h": u(0.38, 0.55, p),
        "frame_w": u(0.03, 0.12, p),
        "frame_val": u(0.02, 0.6, p),
        "hair_val": u(0.05, 0.45, p),
    }


def _apertures(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """Aperture per crop: uniform inside its class band, a few just across a threshold."""
    bands = {OPEN: (_T_OPEN, 1.0), PARTIAL: (_T_CLOSED, _T_OPEN), CLOSED: (0.0, _T_CLOSED)}
    n = labels.size
    ap = rng.uniform(0.0, 1.0, n)  # notVisible: any state behind the occluder
    for cls, (lo, hi) in bands.items():
        m = labels == cls
        ap[m] = rng.uniform(lo, hi, m.sum())
    # Soft boundaries: move some crops just past a neighbouring threshold, keeping their label.
    flip = (rng.random(n) < _BOUNDARY_SHARE) & (labels != NOT_VISIBLE)
    over = rng.uniform(0.005, _BOUNDARY_WIDTH, n)
    upward = np.where(labels == CLOSED, True, np.where(labels == OPEN, False, rng.random(n) < 0.5))
    edge = np.where(labels == OPEN, _T_OPEN, np.where(labels == CLOSED, _T_CLOSED, 0.0))
    edge = np.where(labels == PARTIAL, np.where(upward, _T_OPEN, _T_CLOSED), edge)
    ap[flip] = np.where(upward, edge + over, edge - over)[flip]
    return np.clip(ap, 0.0, 1.0)


def _image_params(
    rng: np.random.Generator, labels: np.ndarray, person: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per-image pose, light, camera and occluder parameters."""
    n, u = labels.size, rng.uniform
    hidden = labels == NOT_VISIBLE
    occluder = np.where(hidden, rng.integers(R.HAND, R.DARK + 1, n), R.NONE)
    # Some visible crops get a hand or a lock of hair at the border only: a distractor, not a
    # hidden eye, so the classes cannot be told apart by "something dark is in the crop".
    distract = ~hidden & (rng.random(n) < 0.2)
    occluder = np.where(distract, rng.choice([R.HAND, R.HAIR], n), occluder)
    occ_edge = np.where(distract, u(0.5, 0.95, n), u(-1.1, -0.3, n))
    blur = u(0.5, 2.0, n)
    blur = np.where(occluder == R.BLUR, u(3.5, 5.5, n), blur)
    noise = u(0.004, 0.03, n)
    noise = np.where(occluder == R.DARK, u(0.02, 0.06, n), noise)

    tx, ty = u(-0.14, 0.14, n), u(-0.16, 0.1, n)
    out = occluder == R.OUT_OF_FRAME  # the eye centre pushed past the crop border
    theta, radius = u(0, 2 * np.pi, n), u(0.95, 1.35, n)
    tx = np.where(out, radius * np.cos(theta), tx)
    ty = np.where(out, radius * np.sin(theta), ty)

    occ_val = np.select(
        [occluder == R.HAND, occluder == R.HAIR],
        [np.clip(person["skin"] * u(0.85, 1.25, n), 0.1, 0.95), person["hair_val"]],
        u(0.02, 0.14, n),
    )
    glint_on = rng.random(n) < 0.75
    return {
        "aperture": _apertures(rng, labels),
        "angle": np.deg2rad(u(-15.0, 15.0, n)),
        "tx": tx,
        "ty": ty,
        "scale": u(0.65, 1.3, n),
        "flip": rng.choice([-1.0, 1.0], n),
        "gaze_x": u(-0.8, 0.8, n),
        "gaze_y": u(-1.0, 1.0, n),
        "glint": np.where(glint_on, u(0.3, 0.9, n), 0.0),
        "glint_dx": rng.normal(0.0, 0.04, n),
        "glint_dy": rng.normal(-0.02, 0.03, n),
        "glint_r": u(0.015, 0.03, n),
        "gain": u(0.7, 1.3, n),
        "grad_u": u(-0.3, 0.3, n),
        "grad_v": u(-0.3, 0.3, n),
        "gamma": u(0.7, 1.4, n),
        "contrast": u(0.45, 1.2, n),
        "blur": blur,
        "noise": noise,
        "phase": u(0.0, 2 * np.pi, n),
        "streak": u(0.0, 1.0, n),
        "streak_pos": u(-1.0, 1.0, n),
        "occluder": occluder.astype(np.float64),
        "occ_angle": u(0.0, 2 * np.pi, n),
        "occ_edge": occ_edge,
        "occ_alpha": np.where(distract, u(0.5, 1.0, n), u(0.8, 1.0, n)),
        "occ_val": occ_val,
        "finger_w": u(0.25, 0.45, n),
        "dark": u(0.03, 0.12, n),
        "band_len": u(0.35, 0.65, n),
        "band_w": u(2.0, 5.0, n),
        "band_dark": u(0.6, 0.97, n),
        "lid_shine": u(0.1, 0.35, n),
        "sh_angle": u(0.0, 2 * np.pi, n),
        "sh_edge": u(0.2, 1.0, n),
        "sh_soft": u(0.1, 0.4, n),
        "sh_depth": np.where(rng.random(n) < 0.5, u(0.1, 0.5, n), 0.0),
        "blob_u": u(-1.0, 1.0, n),
        "blob_v": u(-1.0, 1.0, n),
        "blob_r": u(0.3, 0.8, n),
        "blob": np.where(rng.random(n) < 0.5, u(-0.3, 0.25, n), 0.0),
        "spec_u": u(-0.8, 0.8, n),
        "spec_v": u(-0.8, 0.8, n),
        "spec_r": u(0.04, 0.12, n),
        "spec": np.where(rng.random(n) < 0.5, u(0.1, 0.5, n), 0.0),
    } | _folds(rng, n)


def _folds(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-image skin folds and wrinkles: position, slope, bend, depth, width and extent."""
    out = {}
    u = rng.uniform
    for k in range(R.N_FOLDS):
        out[f"fold_y{k}"] = u(*_FOLD_ROWS[k], n)
        out[f"fold_s{k}"] = u(-0.4, 0.4, n)
        out[f"fold_c{k}"] = u(-0.6, 0.6, n)
        out[f"fold_d{k}"] = np.where(rng.random(n) < 0.6, u(0.05, 0.3, n), 0.0)
        out[f"fold_w{k}"] = u(0.015, 0.04, n)
        out[f"fold_x{k}"] = u(-0.8, 0.8, n)
        out[f"fold_len{k}"] = u(0.2, 0.7, n)
    return out
