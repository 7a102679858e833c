"""The eye locator on the shipped face photo, `robusteye monitor` on the demo clip against
its ground truth, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robusteye.monitor.demo import face_photo, scripted_events
from robusteye.monitor.eyes import EyeLocator, crop_eyes, to_gray
from tests.cli.bad_input import assert_error, run_cli


def test_the_eye_locator_finds_both_eyes_of_the_shipped_photo() -> None:
    frame = np.asarray(face_photo())[:, :, ::-1].copy()
    located = EyeLocator().locate(to_gray(frame))
    assert located.face is not None and located.eyes is not None and located.detected
    left, right = located.eyes
    # where her eyes are in the 512 x 600 photo, measured by hand: pupils near (222, 193)
    # and (310, 193)
    for box, (px, py) in ((left, (222, 193)), (right, (310, 193))):
        assert box.contains(px, py)
        cx, cy = box.centre
        assert abs(cx - px) < 15 and abs(cy - py) < 15
        assert 40 <= box.w <= 70
    crops = crop_eyes(to_gray(frame), located.eyes)
    assert crops is not None and crops.shape == (2, 32, 32)
    assert crops.min() >= 0.0 and crops.max() <= 1.0
    # no face in a flat frame
    assert EyeLocator().locate(np.full((480, 640), 120, np.uint8)).face is None


def test_monitor_finds_the_scripted_blinks_of_the_demo_clip(
    eye_model: Path, demo_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        capsys, "monitor", demo_clip, "--model", eye_model, "--out", out,
        "--annotate", tmp_path / "annotated.mp4",
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == [
        "events.csv", "frames.csv", "summary.json", "timeline.png",
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    truth = summary["ground_truth"]
    assert truth["blinks"] == 4 and truth["long_closures"] == 1
    assert truth["precision"] >= 0.9 and truth["recall"] >= 0.9
    assert summary["long_closures"] == 1
    assert summary["closure_longest_s"] == pytest.approx(1.5, abs=0.15)
    true_closed = sum(e.end - e.start for e in scripted_events(13.0)) / 13.0
    assert summary["perclos"] == pytest.approx(true_closed, abs=0.05)
    assert summary["not_visible_share"] < 0.05
    assert summary["frames"] == 390 and summary["fps_achieved"] > 0
    assert "blink precision" in stdout
    frames = (out / "frames.csv").read_text().splitlines()
    assert len(frames) == 391 and frames[0].startswith("time_s,state,p_closed,face_x")
    assert (tmp_path / "annotated.mp4").stat().st_size > 10_000


def test_a_corruption_and_a_baseline_are_reported(
    eye_model: Path, demo_clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(
        capsys, "monitor", demo_clip, "--model", eye_model, "--out", tmp_path / "r",
        "--corrupt", "gaussian_noise:5", "--baseline", "1.5",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    c = summary["corruption"]
    assert (c["name"], c["severity"]) == ("gaussian_noise", 5)
    assert c["perclos_change"] == pytest.approx(c["perclos"] - c["perclos_clean"])
    for eye in ("left", "right"):
        b = summary["baseline"]["eyes"][eye]
        assert 0.0 <= b["open_level"] < b["threshold"] <= 1.0 and b["frames"] >= 40


def test_bad_sources_get_one_line_or_a_summary_that_says_so(
    eye_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video, only text pretending to be one" * 4)
    run = run_cli(capsys, "monitor", fake, "--model", eye_model, "--out", tmp_path / "a")
    assert_error(run, 1, r"notes\.mp4: cannot open it as a video")
    assert not (tmp_path / "a").exists()
    import cv2

    zero = tmp_path / "zero.mp4"  # a container holding no frame
    cv2.VideoWriter(str(zero), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 48)).release()
    run = run_cli(capsys, "monitor", zero, "--model", eye_model, "--out", tmp_path / "z")
    assert_error(run, 1, r"zero\.mp4: cannot open it as a video")
    assert not (tmp_path / "z").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    run = run_cli(
        capsys, "monitor", empty, "--model", eye_model, "--out", tmp_path / "b", "--fps", "10"
    )
    assert_error(run, 2, r"empty: no frames")
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(12):
        Image.new("RGB", (320, 240), (120, 110, 100)).save(frames / f"f{i:03d}.png")
    run = run_cli(capsys, "monitor", frames, "--model", eye_model, "--out", tmp_path / "c")
    assert_error(run, 2, r"folder of frames: give --fps")
    code, stdout, _ = run_cli(
        capsys, "monitor", frames, "--model", eye_model, "--out", tmp_path / "c", "--fps", "10"
    )
    assert code == 0
    summary = json.loads((tmp_path / "c" / "summary.json").read_text())
    assert summary["frames"] == 12 and summary["not_visible_share"] == 1.0
    assert summary["perclos"] is None and summary["blinks"] == 0
    assert "never visible" in summary["note"] and "never visible" in stdout
    run = run_cli(capsys, "monitor", frames, "--model", eye_model, "--out", tmp_path / "d",
                  "--fps", "10", "--corrupt", "fog")  # fmt: skip
    assert_error(run, 2, r"--corrupt expects NAME:SEVERITY")
    run = run_cli(capsys, "monitor", "--model", eye_model, "--out", tmp_path / "e")
    assert_error(run, 2, r"give SOURCE")
