"""`robusteye certify`: the table, JSON and figure of a real checkpoint on real files, the
audit never below the certificate, and one error line for every bad argument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robusteye.cli import main
from robusteye.data import EyeDataset
from robusteye.models import save_model
from tests.toy import train_lipschitz


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("certify")
    model, x, y = train_lipschitz()
    ckpt = save_model(model, root / "ckpt")
    persons = tuple(f"p{i % 8}" for i in range(len(y)))
    data = EyeDataset(images=x, labels=y, classes=model.classes, persons=persons)
    return ckpt, data.save(root / "halves.npz")


def test_certify_by_radius_writes_json_and_plot(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, data = setup
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    args = ["certify", str(ckpt), "--data", str(data), "--radius", "36/255,0.5,2"]
    assert main([*args, "--out", str(out), "--plot", str(plot), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "certified" in text and "Lipschitz bound L = " in text
    report = json.loads(out.read_text())
    assert report["sound"] is True and report["violations"] == 0
    assert report["lipschitz"] <= 1.0 + 1e-5
    assert 0 < report["lipschitz_lower_bound"] <= report["lipschitz"]
    radii = [p["radius"] for p in report["points"]]
    assert radii == pytest.approx([36 / 255, 0.5, 2.0])
    cert = [p["certified_accuracy"] for p in report["points"]]
    assert cert == sorted(cert, reverse=True) and cert[0] > 0.8
    for point in report["points"]:
        assert point["empirical_robust_accuracy"] >= point["certified_accuracy"]
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_certify_by_snr_without_audit(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, data = setup
    out = tmp_path / "s.json"
    args = ["certify", str(ckpt), "--data", str(data), "--snr", "40,30,20", "--suite", "none"]
    assert main([*args, "--out", str(out), "--no-progress"]) == 0
    report = json.loads(out.read_text())
    assert [p["snr_db"] for p in report["points"]] == [40, 30, 20]
    assert all(p["empirical_robust_accuracy"] is None for p in report["points"])
    cert = [p["certified_accuracy"] for p in report["points"]]
    assert cert == sorted(cert, reverse=True)
    assert "SNR dB" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--radius", "0.1", "--snr", "30"], "give --radius LIST or --snr LIST, not both"),
        (["--radius", "-0.1"], "--radius values must be finite and >= 0"),
        (["--radius", "1/0"], "--radius expects numbers or fractions a/b"),
        (["--radius", "inf"], "--radius values must be finite"),
        (["--snr", "loud"], "--snr expects numbers"),
        (["--out", "missing/r.json"], "output folder does not exist"),
        (["--plot", "missing/p.png"], "output folder does not exist"),
    ],
)
def test_certify_bad_arguments(
    setup: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    ckpt, data = setup
    monkeypatch.chdir(tmp_path)
    assert main(["certify", str(ckpt), "--data", str(data), *extra, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_certify_missing_checkpoint(setup: tuple[Path, Path], tmp_path: Path) -> None:
    _, data = setup
    assert main(["certify", str(tmp_path / "nope"), "--data", str(data)]) == 2
