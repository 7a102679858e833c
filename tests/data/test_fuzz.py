"""Fuzzing the loaders and the spec reader (issue 7).

Property: arbitrary bytes, mutated valid files and arbitrary YAML-like dicts either load, or
raise a `RobustEyeError` with a one-line message. Nothing else escapes: no `KeyError`, no
`zlib.error`, no `RecursionError`. Runs are derandomized, so CI sees the same examples.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from robusteye.data import load_dataset
from robusteye.errors import RobustEyeError
from robusteye.experiments import load_spec

FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def loads_or_fails_clearly(load: Callable[[], object]) -> None:
    """Call `load`; the only exception allowed is a `RobustEyeError` with one non-empty line."""
    try:
        load()
    except RobustEyeError as err:
        message = str(err)
        assert message.strip(), f"{type(err).__name__} without a message"
        assert "\n" not in message and "\r" not in message, message


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per example (pytest's tmp_path is one per test, not per example)."""
    with tempfile.TemporaryDirectory(prefix="robusteye-fuzz-") as folder:
        yield Path(folder)


@st.composite
def mutations(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with a few bit flips, overwritten bytes, a cut, or an insertion."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "cut", "insert"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if kind == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and out:
            out[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            out = out[:at]
        else:
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(out)


# ---- data.pz ----------------------------------------------------------------------------------


def _valid_records() -> list[dict[str, Any]]:
    rng = np.random.default_rng(0)
    return [
        {"crop": rng.normal(size=(8, 8)).astype(np.float32), "label": lab, "person": f"p{i}"}
        for i, lab in enumerate(["open", "closed", "open", "closed"])
    ]


_PICKLES = [pickle.dumps(_valid_records(), protocol=p) for p in (2, 4, 5)]


def _load_pz(payload: bytes, compress: bool) -> None:
    with scratch() as folder:
        path = folder / "data.pz"
        path.write_bytes(gzip.compress(payload, mtime=0) if compress else payload)
        loads_or_fails_clearly(lambda: load_dataset(path))


@FUZZ
@given(payload=st.binary(max_size=512), compress=st.booleans())
@example(payload=b"F\x01\n", compress=False)  # found: the pickle error quoted a newline
def test_pz_random_bytes(payload: bytes, compress: bool) -> None:
    """Arbitrary bytes as data.pz, raw or gzip-compressed."""
    _load_pz(payload, compress)


@FUZZ
@given(data=st.data(), which=st.integers(0, len(_PICKLES) - 1), compress=st.booleans())
def test_pz_mutated_pickle(data: st.DataObject, which: int, compress: bool) -> None:
    """A valid data.pz pickle (protocol 2, 4 or 5) mutated before or after gzip."""
    payload = _PICKLES[which]
    if compress:
        _load_pz(data.draw(mutations(gzip.compress(payload, mtime=0))), compress=False)
    else:
        _load_pz(data.draw(mutations(payload)), compress=True)


# ---- .npz -------------------------------------------------------------------------------------


def _valid_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(
        buf,
        images=np.random.default_rng(0).random((4, 1, 32, 32), dtype=np.float32),
        labels=np.array([0, 1, 0, 1]),
        classes=np.array(["open", "closed"]),
        persons=np.array(["a", "a", "b", "b"]),
        meta=np.array('{"origin": "fuzz"}'),
    )
    return buf.getvalue()


_NPZ = _valid_npz()


def _load_npz_bytes(payload: bytes) -> None:
    with scratch() as folder:
        path = folder / "d.npz"
        path.write_bytes(payload)
        loads_or_fails_clearly(lambda: load_dataset(path))


@FUZZ
@given(payload=st.binary(max_size=512))
def test_npz_random_bytes(payload: bytes) -> None:
    """Arbitrary bytes named .npz (including an empty file)."""
    _load_npz_bytes(payload)


@FUZZ
@given(payload=st.sampled_from([_NPZ]).flatmap(mutations))
@example(payload=_NPZ.replace(b"(4, 1, 32, 32)", b"(4, 1, 32( 32)"))  # found: tokenize error
def test_npz_mutated_file(payload: bytes) -> None:
    """A valid .npz with flipped, overwritten, cut or inserted bytes."""
    _load_npz_bytes(payload)


_DTYPES = st.one_of(
    hnp.floating_dtypes(),
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.boolean_dtypes(),
    hnp.unicode_string_dtypes(max_len=4),
    hnp.byte_string_dtypes(max_len=4),
    hnp.complex_number_dtypes(),
)
_ARRAYS = _DTYPES.flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
)
_IMAGES = st.one_of(
    _ARRAYS,
    hnp.arrays(
        np.float32,
        st.sampled_from([(4, 1, 32, 32), (4, 32, 32), (4, 3, 32, 32), (0, 1, 32, 32)]),
        elements=st.floats(width=32),
    ),
)


@FUZZ
@given(
    fields=st.fixed_dictionaries(
        {
            "images": _IMAGES,
            "labels": st.one_of(_ARRAYS, st.just(np.array([0, 1, 0, 1]))),
            "classes": st.one_of(_ARRAYS, st.just(np.array(["open", "closed"]))),
            "persons": st.one_of(_ARRAYS, st.just(np.array(["a", "a", "b", "b"]))),
        },
        optional={
            "meta": st.one_of(_ARRAYS, st.text(max_size=20).map(np.array)),
            "sources": _ARRAYS,
            "format": st.one_of(_ARRAYS, st.just(np.array("robusteye.EyeDataset/1"))),
        },
    )
)
def test_npz_arbitrary_arrays(fields: dict[str, np.ndarray]) -> None:
    """Well-formed .npz files whose arrays have any dtype, shape and values."""
    buf = io.BytesIO()
    np.savez(buf, **fields)  # type: ignore[arg-type]
    _load_npz_bytes(buf.getvalue())


# ---- image folders ----------------------------------------------------------------------------


def _valid_image(fmt: str) -> bytes:
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(buf, format=fmt)
    return buf.getvalue()


_IMAGES_BY_SUFFIX = {".png": _valid_image("PNG"), ".jpg": _valid_image("JPEG")}


def _load_folder(files: list[tuple[str, bytes]]) -> None:
    """An open/closed folder with one good image each, plus `files` under open/."""
    with scratch() as root:
        for label in ("open", "closed"):
            (root / label).mkdir()
            (root / label / f"s0001_{label}.png").write_bytes(_IMAGES_BY_SUFFIX[".png"])
        for i, (suffix, payload) in enumerate(files):
            (root / "open" / f"s0002_{i}{suffix}").write_bytes(payload)
        loads_or_fails_clearly(lambda: load_dataset(root))


_SUFFIXES = st.sampled_from([".png", ".jpg", ".jpeg", ".bmp"])


@FUZZ
@given(files=st.lists(st.tuples(_SUFFIXES, st.binary(max_size=256)), min_size=1, max_size=3))
def test_folder_random_bytes(files: list[tuple[str, bytes]]) -> None:
    """Random bytes saved as .png / .jpg / .jpeg / .bmp next to valid images."""
    _load_folder(files)


@FUZZ
@given(data=st.data(), suffix=st.sampled_from(sorted(_IMAGES_BY_SUFFIX)))
def test_folder_mutated_images(data: st.DataObject, suffix: str) -> None:
    """Valid PNG and JPEG files with flipped, overwritten, cut or inserted bytes."""
    _load_folder([(suffix, data.draw(mutations(_IMAGES_BY_SUFFIX[suffix])))])


# ---- experiment specs -------------------------------------------------------------------------

#: create_model's own arguments are among the option keys: they must be refused clearly.
_MODEL_OPTIONS = [
    "num_classes", "classes", "depth", "width", "dropout", "beta", "passes", "row_fraction",
    "convex", "constrain_classifier", "hidden", "in_channels", "mean", "std",
]  # fmt: skip
_REGIME_OPTIONS = [
    "perturbation", "eps", "percent", "source", "fraction", "attack", "eps_min", "eps_max",
    "eps_choices", "pgd_steps", "models",
]  # fmt: skip
_TRAIN_OPTIONS = [
    "epochs", "batch_size", "lr", "momentum", "nesterov", "weight_decay", "schedule",
    "step_size", "gamma", "augment", "rotation_deg", "shift", "channels_last", "seed", "regime",
]  # fmt: skip
_ATTACK_OPTIONS = ["name", "eps", "snr", "limit", "steps", "norm", "attack"]
_WORDS = [
    "wrn_16_1", "parseval_wrn_16_1", "cnn", "standard", "augment", "adversarial", "fgsm",
    "noise", "pgd", "linf", "l2", "simplex", "sigmoid", "synthetic", "synthetic:n=40", "step",
]  # fmt: skip
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 60),
    # large, but never a valid WRN depth ((depth - 4) % 6 == 0): a huge valid depth makes
    # validation build that many blocks (reported), which would only slow the fuzzer down
    st.sampled_from([2**31, 2**63, -(2**63), 10**30 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(0, 1),
    st.sampled_from(_WORDS),
    st.text(max_size=8),
)
_JUNK_KEYS = st.text(max_size=6)


def _values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Scalars, lists and dicts whose keys are `keys` or junk, nested a few levels."""
    key = st.one_of(st.sampled_from(keys), _JUNK_KEYS)
    return st.recursive(
        _SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(key, inner, max_size=4)
        ),
        max_leaves=10,
    )


_ANY = _values(_MODEL_OPTIONS + _REGIME_OPTIONS + _TRAIN_OPTIONS + _ATTACK_OPTIONS)


def _mapping(
    required: dict[str, st.SearchStrategy[Any]], keys: list[str]
) -> st.SearchStrategy[dict[Any, Any]]:
    """A dict with `required` entries and any of `keys` (values of any shape), plus junk."""
    values = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3), _ANY)
    optional = {k: values for k in keys if k not in required}
    junk = st.one_of(st.just({}), st.just({}), st.dictionaries(_JUNK_KEYS, _ANY, max_size=1))
    return st.fixed_dictionaries(required, optional=optional).flatmap(
        lambda d: junk.map(lambda extra: extra | d)
    )


_MODEL = st.one_of(
    st.sampled_from(_WORDS[:3]),
    _mapping({"name": st.one_of(st.sampled_from(_WORDS[:3]), _SCALARS)}, ["key"]).flatmap(
        lambda m: _mapping({}, _MODEL_OPTIONS).map(lambda options: m | {"options": options})
    ),
    _ANY,
)
_REGIME = st.one_of(
    _mapping({"kind": st.sampled_from(["standard", "augment", "adversarial"])}, _REGIME_OPTIONS),
    _ANY,
)
_ATTACK = st.one_of(_mapping({"name": st.sampled_from(["fgsm", "noise", "pgd"])}, _ATTACK_OPTIONS))
_SPECS = _mapping(
    {
        "name": st.one_of(st.just("fuzz"), _SCALARS),
        "models": st.one_of(st.lists(_MODEL, min_size=1, max_size=2), _ANY),
        "regimes": st.one_of(st.lists(_REGIME, min_size=1, max_size=2), _ANY),
    },
    ["description", "data", "folds", "holdout", "split_seed", "seeds"],
).flatmap(
    lambda spec: st.fixed_dictionaries(
        {},
        optional={
            "train": st.one_of(_mapping({}, _TRAIN_OPTIONS), _ANY),
            "evaluation": st.one_of(
                _mapping({"attacks": st.lists(_ATTACK, max_size=2)}, ["transfer", "limit"]),
                _ANY,
            ),
        },
    ).map(lambda sections: spec | sections)
)


@FUZZ
@given(raw=_SPECS)
def test_spec_arbitrary_dicts(raw: dict[str, Any]) -> None:
    """Spec-shaped dicts with real and junk keys and nested values of any type."""
    loads_or_fails_clearly(lambda: load_spec(raw))


@pytest.mark.parametrize("options", [{"num_classes": 3}, {"classes": 5}])
def test_model_options_that_collide_with_the_data(options: dict[str, Any]) -> None:
    """Model options that collide with create_model's own arguments (found by this fuzzer)."""
    raw = {"name": "x", "models": [{"name": "wrn_16_1", "options": options}]}
    loads_or_fails_clearly(lambda: load_spec({**raw, "regimes": [{"kind": "standard"}]}))
