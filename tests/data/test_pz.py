from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from robusteye.data import load_dataset
from robusteye.data.pz import load_pz, restricted_loads
from robusteye.errors import DataError, UnsafeFileError


def _records(n=24, size=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = ["closed", "open", "partiallyOpen", "notVisible"]
    out = []
    for i in range(n):
        crop = rng.normal(size=(size, size)).astype(np.float32)  # standardized, as the study
        out.append({"crop": crop, "label": labels[i % 4], "person": f"person{i // 4}"})
    return out


def _write_pz(path, obj, protocol=pickle.HIGHEST_PROTOCOL):
    with gzip.open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_study_pz_loads_and_maps_to_unit_range(tmp_path, protocol):
    recs = _records()
    ds = load_dataset(_write_pz(tmp_path / "data.pz", recs, protocol))
    assert len(ds) == 24
    assert ds.classes == ("open", "partiallyOpen", "closed", "notVisible")
    assert ds.persons[0] == "person0" and len(ds.person_ids) == 6
    assert ds.classes[int(ds.labels[0])] == "closed"
    assert float(ds.images.min()) == 0.0 and float(ds.images.max()) == 1.0
    pm = ds.meta["pixel_map"]
    # the recorded affine map takes the loaded pixels back to the raw standardized values
    raw = pm["offset"] + pm["scale"] * ds.images[5, 0].numpy()
    np.testing.assert_allclose(raw, recs[5]["crop"], rtol=0, atol=1e-5)


def test_pz_with_other_crop_size_is_resized(tmp_path):
    ds = load_pz(_write_pz(tmp_path / "d.pz", _records(n=8, size=24)))
    assert ds.images.shape == (8, 1, 32, 32)


def test_plain_uncompressed_pickle_is_read(tmp_path):
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps(_records(n=8)))
    assert len(load_dataset(path)) == 8


class _Payload:
    """Unpickling this would create a file: the classic pickle attack."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    target = tmp_path / "pwned.txt"
    recs = _records(n=4)
    recs[1]["crop"] = _Payload(target)
    path = _write_pz(tmp_path / "evil.pz", recs)
    with pytest.raises(UnsafeFileError, match=r"(io|builtins)\.open"):
        load_dataset(path)
    assert not target.exists()


def test_os_system_payload_is_refused(tmp_path):
    target = tmp_path / "created_by_shell"

    class Shell:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {target}",))

    with pytest.raises(UnsafeFileError, match="system"):
        restricted_loads(pickle.dumps([Shell()]))
    assert not target.exists()


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"crop": 1}, "non-empty list"),
        ([], "non-empty list"),
        ([{"crop": np.zeros((4, 4), np.float32), "label": "open"}], "record 0"),
        ([{"crop": np.zeros((2, 3, 4), np.float32), "label": "a", "person": "p"}], "2-D"),
        ([{"crop": np.full((4, 4), np.nan, np.float32), "label": "a", "person": "p"}], "NaN"),
    ],
)
def test_malformed_pz_content_is_refused(tmp_path, obj, match):
    with pytest.raises(DataError, match=match):
        load_pz(_write_pz(tmp_path / "bad.pz", obj))


def test_garbage_and_truncated_files_are_refused(tmp_path):
    good = _write_pz(tmp_path / "good.pz", _records(n=8)).read_bytes()
    trunc = tmp_path / "trunc.pz"
    trunc.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError):
        load_pz(trunc)
    junk = tmp_path / "junk.pz"
    junk.write_bytes(b"\x80\x05this is not a pickle")
    with pytest.raises(DataError, match="not a valid pickle"):
        load_pz(junk)
