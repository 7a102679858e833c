"""The robust-accuracy ceiling on hand-made sets whose bound is known."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from robusteye.data import EyeDataset
from robusteye.errors import UsageError
from robusteye.evaluate.ceiling import robust_ceiling
from tests.cli.bad_input import assert_error, run_cli


def flat_set(values: list[float], labels: list[int], classes: tuple[str, ...]) -> EyeDataset:
    """Crops of one grey level each: the L-inf distance of two crops is their level gap."""
    images = torch.tensor(values, dtype=torch.float32)[:, None, None, None].expand(-1, 1, 32, 32)
    return EyeDataset(images.contiguous(), torch.tensor(labels), classes,
                      tuple(f"p{i}" for i in range(len(values))))  # fmt: skip


def test_the_bound_counts_a_matching_not_the_pairs() -> None:
    # open at 0.10, 0.50, 0.90; closed at 0.14, 0.52, 0.30
    ds = flat_set([0.10, 0.50, 0.90, 0.14, 0.52, 0.30], [0, 0, 0, 1, 1, 1], ("open", "closed"))
    doc = robust_ceiling(ds, [0.005, 0.025, 0.11])
    ceilings = [p["ceiling"] for p in doc["points"]]
    # 2 eps = 0.01: no balls meet; 0.05: (0.10, 0.14) and (0.50, 0.52); 0.22: also 0.30 with
    # 0.10 and 0.50, but still only two disjoint pairs
    assert ceilings == pytest.approx([1.0, 4 / 6, 4 / 6])
    assert [p["conflicting_pairs"] for p in doc["points"]] == [0, 2, 4]
    assert doc["nearest_other_label"]["open"]["q0"] == pytest.approx(0.02, abs=1e-6)
    # a star: one open crop in reach of three closed ones costs one error, not three
    star = flat_set([0.5, 0.49, 0.51, 0.52], [0, 1, 1, 1], ("open", "closed"))
    assert robust_ceiling(star, [0.02])["points"][0]["ceiling"] == pytest.approx(0.75)
    assert doc["bound"] == "exact (two classes)"


def test_more_classes_get_a_valid_bound() -> None:
    # three crops of three classes, pairwise within 2 eps: one pair can be matched, so at
    # most two of three are robust
    ds = flat_set([0.40, 0.41, 0.42, 0.9], [0, 1, 2, 0], ("a", "b", "c"))
    point = robust_ceiling(ds, [0.02])["points"][0]
    assert point["matched_pairs"] == 1 and point["ceiling"] == pytest.approx(3 / 4)


def test_an_snr_names_the_audits_ball() -> None:
    ds = flat_set([0.5, 0.6, 0.4, 0.7], [0, 1, 1, 0], ("open", "closed"))
    point = robust_ceiling(ds, snr=[20.0])["points"][0]
    rms = float(ds.images.pow(2).mean().sqrt())
    assert point["eps"] == pytest.approx(rms * 10 ** (-20 / 20)) and point["snr_db"] == 20.0
    with pytest.raises(UsageError, match="one of them"):
        robust_ceiling(ds)


def test_ceiling_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = flat_set([0.10, 0.50, 0.90, 0.14, 0.52, 0.30], [0, 0, 0, 1, 1, 1], ("open", "closed"))
    data = ds.save(tmp_path / "flat.npz")
    code, stdout, _ = run_cli(
        capsys, "ceiling", data, "--eps", "0.025", "--out", tmp_path / "c.json"
    )
    assert code == 0 and "0.6667" in stdout
    assert json.loads((tmp_path / "c.json").read_text())["points"][0]["matched_pairs"] == 2
    assert_error(run_cli(capsys, "ceiling", data), 2, r"give --eps LIST or --snr LIST")


def test_the_ceiling_of_real_set_a(real_a: Path) -> None:
    from robusteye.data import load_dataset

    doc = robust_ceiling(load_dataset(str(real_a)), [0.030, 0.048, 0.064])
    assert [p["ceiling"] for p in doc["points"]] == pytest.approx([1.0, 4845 / 4846, 1 - 8 / 4846])
    assert doc["nearest_other_label"]["open"]["q0"] == pytest.approx(0.0958, abs=1e-4)
    assert doc["nearest_other_label"]["open"]["q0.01"] > 0.14
