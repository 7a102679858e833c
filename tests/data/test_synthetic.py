"""Contract and statistics of the embedded procedural eye-crop generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robusteye.data.dataset import STUDY_CLASSES, EyeDataset
from robusteye.data.synthetic import generate_synthetic
from robusteye.errors import UsageError

OPEN, CLOSED = STUDY_CLASSES.index("open"), STUDY_CLASSES.index("closed")


@pytest.fixture(scope="module")
def small() -> EyeDataset:
    return generate_synthetic(400, seed=5, n_persons=10)


@pytest.fixture(scope="module")
def default() -> EyeDataset:
    return generate_synthetic()


def test_contract(small: EyeDataset) -> None:
    x = small.images
    assert x.shape == (400, 1, 32, 32)
    assert x.dtype == torch.float32
    assert bool(torch.isfinite(x).all())
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert small.labels.dtype == torch.int64
    assert small.classes == STUDY_CLASSES
    assert small.sources is None
    assert all(p.startswith("syn_p") for p in small.persons)
    assert small.meta == {
        "origin": "synthetic",
        "seed": 5,
        "n": 400,
        "n_persons": 10,
        "generator": "robusteye.synthetic/1",
    }
    # Images are not blank or constant: the texture, eye and light all vary.
    assert float(x.flatten(1).std(dim=1).min()) > 0.0
    assert float(x.mean(dim=(1, 2, 3)).std()) > 0.05


def test_same_seed_same_images_other_seed_differs() -> None:
    a = generate_synthetic(200, seed=3, n_persons=8)
    b = generate_synthetic(200, seed=3, n_persons=8)
    c = generate_synthetic(200, seed=4, n_persons=8)
    assert torch.equal(a.images, b.images)
    assert torch.equal(a.labels, b.labels)
    assert a.persons == b.persons
    assert not torch.equal(a.images, c.images)


def test_every_class_present_in_small_sets() -> None:
    ds = generate_synthetic(4, seed=0, n_persons=1)
    assert sorted(ds.labels.tolist()) == [0, 1, 2, 3]


@pytest.mark.slow
def test_default_size_class_balance(default: EyeDataset) -> None:
    assert len(default) == 5722
    counts = default.class_counts()
    assert set(counts) == set(STUDY_CLASSES)
    assert all(1300 <= c <= 1600 for c in counts.values()), counts


@pytest.mark.slow
def test_default_persons_get_equal_shares(default: EyeDataset) -> None:
    per_person = default.person_counts()
    assert len(per_person) == 48
    assert max(per_person.values()) - min(per_person.values()) <= 1


def test_person_traits_are_stable() -> None:
    # Skin tone, iris and brow are per person, so a person's mean brightness in one half of
    # their crops predicts the other half, despite per-image light, pose and class.
    ds = generate_synthetic(1200, seed=5, n_persons=10)
    pid = torch.as_tensor(ds.person_index())
    halves = []
    for start in (0, 1):
        halves.append(
            [
                float(ds.images[torch.nonzero(pid == p).squeeze(1)[start::2]].mean())
                for p in range(10)
            ]
        )
    assert np.corrcoef(halves[0], halves[1])[0, 1] > 0.8


def test_open_and_closed_differ_but_overlap(small: EyeDataset) -> None:
    # Height of the dark region through the middle of the eye: the iris makes it taller in an
    # open eye than a shut eye's lash band (thick, but with no iris under it), but pose, light,
    # blur and clutter (folds, shadows, frames) make the two classes overlap. The share of dark
    # pixels alone would not do: a shut eye's matted lashes are as dark and as big as an iris.
    x = small.images[:, 0]
    median = x.flatten(1).median(dim=1).values.view(-1, 1, 1)
    dark = (x[:, 6:26, 12:20] < median - 0.1).float().mean(dim=2).sum(dim=1)
    is_open, is_closed = dark[small.labels == OPEN], dark[small.labels == CLOSED]
    gap = float(is_open.mean() - is_closed.mean())
    spread = float(torch.cat([is_open, is_closed]).std())
    assert 0.1 * spread < gap < 2.0 * spread
    best = max(
        (float((is_open > t).sum() + (is_closed <= t).sum()) / (len(is_open) + len(is_closed)))
        for t in np.linspace(0.0, 20.0, 201)
    )
    assert best < 0.95


def test_not_visible_hides_the_eye(small: EyeDataset) -> None:
    hidden = small.labels == STUDY_CLASSES.index("notVisible")
    assert int(hidden.sum()) > 0
    # Occluders are darker on average (sunglasses, hair, darkness) than visible skin.
    assert float(small.images[hidden].mean()) < float(small.images[~hidden].mean())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n": 3}, "n must be at least 4"),
        ({"n": 0}, "n must be at least 4"),
        ({"n": 10.0}, "n must be an integer"),
        ({"n": True}, "n must be an integer"),
        ({"n": 10, "n_persons": 0}, "n_persons must be at least 1"),
        ({"n": 10, "n_persons": 11}, "n_persons must be at most n=10"),
        ({"n": 10, "seed": -1}, "seed must be at least 0"),
    ],
)
def test_bad_arguments_raise_usage_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        generate_synthetic(**kwargs)  # type: ignore[arg-type]
