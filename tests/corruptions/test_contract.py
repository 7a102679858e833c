"""Every corruption against one contract: identity at severity 0, shape / dtype / range kept,
seeded, batched, and damage that grows with severity."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch

from robusteye.attacks import snr_db
from robusteye.corruptions import (
    CORRUPTIONS,
    corrupt,
    corruption_names,
    parse_corruptions,
    random_corruption_batch,
)
from robusteye.data.synthetic import generate_synthetic
from robusteye.errors import UsageError

NAMES = corruption_names()


@pytest.fixture(scope="module")
def eyes() -> torch.Tensor:
    return generate_synthetic(48, seed=3, n_persons=8).images


@pytest.mark.parametrize("name", NAMES)
def test_severity_zero_is_the_identity(eyes, name):
    out = corrupt(eyes, name, 0, seed=5)
    assert torch.equal(out, eyes)
    assert out is not eyes


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(48, 1, 32, 32), (3, 1, 24, 40), (2, 2, 32, 32)])
def test_shape_dtype_range_kept_and_input_untouched(eyes, name, shape):
    x = eyes[: shape[0]]
    x = torch.nn.functional.interpolate(x, size=shape[2:], mode="area").repeat(1, shape[1], 1, 1)
    before = x.clone()
    for severity in range(1, 6):
        for dtype in (torch.float32, torch.float64):
            out = corrupt(x.to(dtype), name, severity, seed=1)
            assert out.shape == x.shape and out.dtype == dtype and out.device == x.device
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
            assert not torch.equal(out, x.to(dtype)), (name, severity)
    assert torch.equal(x, before)


@pytest.mark.parametrize("name", NAMES)
def test_seeded(eyes, name):
    a = corrupt(eyes, name, 3, seed=7)
    assert torch.equal(a, corrupt(eyes, name, 3, seed=7))
    assert torch.equal(a, corrupt(eyes, name, 3, generator=torch.Generator().manual_seed(7)))
    other = corrupt(eyes, name, 3, seed=8)
    assert torch.equal(a, other) != CORRUPTIONS[name].random


@pytest.mark.parametrize("name", NAMES)
def test_damage_grows_with_severity(eyes, name):
    """Mean |x - c(x)| rises and the SNR falls, strictly, from severity 0 to 5."""
    outs = [corrupt(eyes, name, s, seed=0) for s in range(6)]
    damage = [float((o - eyes).abs().mean()) for o in outs]
    snr = [snr_db(eyes, o) for o in outs]
    assert all(a < b for a, b in pairwise(damage)), damage
    assert snr[0] == math.inf
    assert all(a > b for a, b in pairwise(snr)), snr


@pytest.mark.parametrize("name", NAMES)
def test_severity_five_is_not_a_blank_image(eyes, name):
    """Harmful, but neither black nor white: most pixels stay off the clipping limits."""
    out = corrupt(eyes, name, 5, seed=0)
    assert 0.1 < float(out.mean()) < 0.9
    assert float(((out == 0) | (out == 1)).float().mean()) < 0.5
    assert float(out.std()) > 0.02


def test_empty_batch():
    x = torch.zeros(0, 1, 32, 32)
    assert corrupt(x, "jpeg", 4).shape == (0, 1, 32, 32)


def test_names_and_parsing():
    assert NAMES[:3] == ["rotation", "translation", "scale"] and len(NAMES) == 14
    assert parse_corruptions("all") == tuple(NAMES)
    assert parse_corruptions(" glare, jpeg ,glare") == ("glare", "jpeg")
    assert parse_corruptions(["jpeg"]) == ("jpeg",)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda x: corrupt(x, "fog", 1), r"^unknown corruption 'fog'; known: all, rotation, "),
        (lambda x: corrupt(x, "jpeg", 6), r"severity must lie in 0\.\.5, got 6"),
        (lambda x: corrupt(x, "jpeg", -1), r"severity must lie in 0\.\.5, got -1"),
        (lambda x: corrupt(x, "jpeg", 1.0), r"severity must be an integer"),
        (lambda x: corrupt(x * 2, "jpeg", 1), r"must lie in \[0, 1\]"),
        (lambda x: corrupt(x[0], "jpeg", 1), r"N x C x H x W"),
        (lambda x: parse_corruptions(" , "), r"no corruption named"),
        (lambda x: parse_corruptions("all,jpeg"), r"unknown corruption 'all'"),
    ],
)
def test_bad_calls_raise_one_line(eyes, call, match):
    with pytest.raises(UsageError, match=match) as err:
        call(eyes)
    assert "\n" not in str(err.value)


def test_random_corruption_batch(eyes):
    g = torch.Generator().manual_seed(0)
    out = random_corruption_batch(eyes, NAMES, 5, g, p=0.5)
    changed = (out != eyes).flatten(1).any(1)
    assert int(changed.sum()) == 24
    again = random_corruption_batch(eyes, NAMES, 5, torch.Generator().manual_seed(0), p=0.5)
    assert torch.equal(out, again)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(random_corruption_batch(eyes, NAMES, 3, g, p=0.0), eyes)


def test_random_corruption_batch_respects_max_severity(eyes):
    """Brightness at severity 1 moves every pixel by at most its level (0.07)."""
    g = torch.Generator().manual_seed(1)
    out = random_corruption_batch(eyes, ["brightness"], 1, g, p=1.0)
    diff = (out - eyes).abs().flatten(1).max(1).values
    assert float(diff.max()) == pytest.approx(CORRUPTIONS["brightness"].levels[0], abs=1e-6)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"names": ["fog"]}, "unknown corruption 'fog'"),
        ({"max_severity": 0}, r"max severity must lie in 1\.\.5"),
        ({"max_severity": 6}, r"severity must lie in 0\.\.5"),
        ({"p": 1.5}, r"p must lie in \[0, 1\]"),
    ],
)
def test_random_corruption_batch_bad_arguments(eyes, kw, match):
    args = {"names": ["jpeg"], "max_severity": 3, "p": 0.5} | kw
    g = torch.Generator()
    with pytest.raises(UsageError, match=match):
        random_corruption_batch(eyes, args["names"], args["max_severity"], g, p=args["p"])
