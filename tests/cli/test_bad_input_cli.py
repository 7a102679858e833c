"""Bad input, rows 10-12: damaged checkpoints, bad experiment specs, bad attack options.
Every row runs the real CLI in-process (tests/bad_input.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from robusteye.models import create_model, save_model
from tests.cli.bad_input import assert_error, assert_only, run_cli

# ---- row 10: checkpoints ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid wrn_16_1 checkpoint (4 classes)."""
    return save_model(create_model("wrn_16_1", 4, seed=0), tmp_path_factory.mktemp("ck") / "ck")


def _tensors(edit: Callable[[dict[str, torch.Tensor]], object]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        tensors = load_file(folder / "model.safetensors")
        edit(tensors)
        save_file(tensors, folder / "model.safetensors")

    return apply


def _config(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(folder: Path) -> None:
        doc = json.loads((folder / "config.json").read_text())
        edit(doc["model"])
        (folder / "config.json").write_text(json.dumps(doc))

    return apply


def _truncate(folder: Path, keep: float) -> None:
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: int(len(data) * keep)])


_CONV = "blocks.0.conv1.weight"


@pytest.mark.parametrize(
    ("damage", "pattern"),
    [
        (_tensors(lambda t: t.pop(_CONV)), rf"tensor '{_CONV}' is missing"),
        (
            _tensors(lambda t: t.update(extra=torch.zeros(3))),
            r"unexpected tensor 'extra' \(1 not in the config's architecture\)",
        ),
        (
            _tensors(lambda t: t.update({_CONV: torch.zeros(8, 16, 3, 3)})),
            rf"tensor '{_CONV}' has shape \(8, 16, 3, 3\), config expects \(16, 16, 3, 3\)",
        ),
        (
            _tensors(lambda t: t.update({_CONV: t[_CONV].double()})),
            rf"tensor '{_CONV}' has dtype F64, config expects F32",
        ),
        (
            _tensors(lambda t: t[_CONV].fill_(float("nan"))),
            rf"tensor '{_CONV}' holds NaN or infinite values",
        ),
        (
            _config(lambda m: m.update(arch="parseval_wrn", name="parseval_wrn_16_1")),
            r"tensor '.*merge.*' is missing",
        ),
        (
            _config(lambda m: m.update(arch="cnn", name="cnn", params={})),
            r"tensor '.*' (has shape|is missing)",
        ),
        (_config(lambda m: m["params"].update(width=2)), r"has shape .*, config expects"),
        (_config(lambda m: m.update(arch="resnet")), r"unknown architecture 'resnet'"),
        (_config(lambda m: m.update(classes=["a"])), r"classes must be 4 names"),
        (lambda f: _truncate(f, 0.5), r"model\.safetensors is (not a readable|corrupt)"),
        (lambda f: _truncate(f, 0.0), r"model\.safetensors is not a readable safetensors file"),
        (lambda f: (f / "config.json").write_text("{not json"), r"config\.json is not valid JSON"),
        (lambda f: (f / "config.json").write_text("[1, 2]"), r"not a robusteye checkpoint config"),
        (lambda f: (f / "config.json").unlink(), r"missing config\.json"),
        (lambda f: (f / "model.safetensors").unlink(), r"missing model\.safetensors"),
    ],
    ids=[
        "missing-tensor",
        "extra-tensor",
        "wrong-shape",
        "wrong-dtype",
        "nan-weights",
        "config-parseval-arch",
        "config-cnn-arch",
        "config-width-2",
        "config-unknown-arch",
        "config-bad-classes",
        "truncated-weights",
        "empty-weights",
        "config-not-json",
        "config-not-an-object",
        "no-config",
        "no-weights",
    ],
)
def test_broken_checkpoint(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    checkpoint: Path,
    damage: Callable[[Path], None],
    pattern: str,
) -> None:
    """Row 10: `evaluate CKPT --data synthetic:n=40` on a damaged checkpoint."""
    ckpt = Path(shutil.copytree(checkpoint, tmp_path / "ckpt"))
    damage(ckpt)
    inputs = sorted(p.name for p in ckpt.iterdir())
    out = tmp_path / "metrics.json"
    run = run_cli(capsys, "evaluate", ckpt, "--data", "synthetic:n=40", "--out", out)
    assert_error(run, 1, r"checkpoint .*ckpt: .*" + pattern)
    assert_only(tmp_path, "ckpt")
    assert_only(ckpt, *inputs)


def test_checkpoint_and_data_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path
) -> None:
    """Row 10: a missing checkpoint or data path is a usage error; the checkpoint works."""
    out = tmp_path / "metrics.json"
    run = run_cli(capsys, "evaluate", tmp_path / "nope", "--data", "synthetic:n=40", "--out", out)
    assert_error(run, 2, r"no such checkpoint folder: .*nope")
    run = run_cli(capsys, "evaluate", checkpoint, "--data", tmp_path / "nope.npz", "--out", out)
    assert_error(run, 2, r"no such file or folder: .*nope\.npz")
    (tmp_path / "x.npz").write_bytes(b"")
    run = run_cli(capsys, "evaluate", tmp_path / "x.npz", "--data", "synthetic:n=40", "--out", out)
    assert_error(run, 1, r"checkpoint .*x\.npz: is not a checkpoint folder")
    assert_only(tmp_path, "x.npz")
    rc, stdout, _ = run_cli(capsys, "evaluate", checkpoint, "--data", "synthetic:n=40")
    assert rc == 0 and stdout.startswith("40 images")


# ---- row 11: experiment specs -------------------------------------------------------------------

_BASE = (
    "data: 'synthetic:n=40'\nmodels: [wrn_16_1]\nregimes: [{kind: standard}]\nfolds: 2\n"
    "train: {epochs: 1, batch_size: 20}\n"
)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (_BASE + "foo: 1\n", r"foo: unknown key"),
        (_BASE + "evaluation: {limt: 5}\n", r"evaluation\.limt: unknown key"),
        (_BASE.replace("epochs: 1,", "epochs: 1, momentom: 0.9,"), r"momentom"),
        (_BASE.replace("{kind: standard}", "{kind: standard, eps: 0.1}"), r"'eps' is not an opt"),
        (_BASE.replace("epochs: 1,", "epochs: -1,"), r"train: epochs must be >= 1, got -1"),
        (
            _BASE.replace("{kind: standard}", "{kind: augment, perturbation: noise, eps: -1}"),
            r"regimes\.0: eps must lie in \(0, 1\], got -1",
        ),
        (_BASE.replace("folds: 2", "folds: 1"), r"folds: Input should be greater than or equal"),
        (_BASE.replace("folds: 2", "folds: two"), r"folds: Input should be a valid integer"),
        (_BASE.replace("[wrn_16_1]", "[resnet50]"), r"models\.0\.name: unknown model 'resnet50'"),
        (
            _BASE.replace("[wrn_16_1]", "[{name: wrn_16_1, options: {depth: 3}}]"),
            r"parameter 'depth' must be an int >= 10",
        ),
        (_BASE + "evaluation: {attacks: [{name: fgsm, eps: [.inf]}]}\n", r"eps values must lie"),
        (_BASE + "evaluation: {attacks: [{name: fgsm}]}\n", r"give either eps or snr values"),
        (_BASE + "seeds: [0, 0]\n", r"seeds repeat"),
        (_BASE + "name: a/b\n", r"name: String should match pattern"),
        ("- a list\n- not a mapping\n", r"a spec must be a mapping"),
        ("", r"a spec must be a mapping"),
        ("models: [wrn_16_1\n", r"not valid YAML"),
        ("\x00\x01", r"not valid YAML"),
        ("!!python/object/apply:os.system ['touch PWNED']\n", r"not valid YAML \(could not det"),
    ],
    ids=[
        "unknown-key",
        "unknown-nested-key",
        "unknown-train-option",
        "unknown-regime-option",
        "negative-epochs",
        "negative-eps",
        "one-fold",
        "folds-not-int",
        "unknown-model",
        "bad-model-option",
        "infinite-eps",
        "attack-without-axis",
        "repeated-seeds",
        "bad-name",
        "list",
        "empty",
        "unclosed-bracket",
        "binary",
        "python-tag",
    ],
)
def test_bad_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, pattern: str
) -> None:
    """Row 11: unknown keys and invalid values are one line, exit 2, and no run folder."""
    (tmp_path / "bad.yaml").write_text(text)
    run = run_cli(capsys, "experiment", tmp_path / "bad.yaml", "--out", tmp_path / "run")
    assert_error(run, 2, r"bad\.yaml: .*" + pattern)
    assert_only(tmp_path, "bad.yaml")


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        pytest.param(
            _BASE.replace("'synthetic:n=40'", "nope.npz"),
            r"no such file or folder",
            id="missing-data",
        ),
        pytest.param(
            _BASE + "evaluation: {attacks: [{name: fgsm, snr: [.nan]}]}\n",
            r"SNR values must be finite and at most 140 dB",
            id="nan-snr",
        ),
        pytest.param(
            _BASE + "evaluation: {attacks: [{name: fgsm, snr: [1.0e+6]}]}\n",
            r"SNR values must be finite and at most 140 dB",
            id="huge-snr",
        ),
        pytest.param(
            "a: " + "[" * 5000 + "]" * 5000 + "\n",
            r"not valid YAML",
            id="deeply-nested",
        ),
    ],
)
def test_bad_spec_found_late(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, pattern: str
) -> None:
    """Row 11: a missing data source, NaN or huge SNRs and absurd nesting: one line, exit 2,
    and no run folder (data and folds are checked before the folder is created)."""
    (tmp_path / "bad.yaml").write_text(text.replace("nope.npz", str(tmp_path / "nope.npz")))
    run = run_cli(
        capsys, "experiment", tmp_path / "bad.yaml", "--out", tmp_path / "run", "--no-progress"
    )
    assert_error(run, 2, pattern)
    assert_only(tmp_path, "bad.yaml")


# ---- row 12: attack options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        (["--attack", "fgsm", "--eps", "-0.1"], r"--eps values must lie in \[0, 1\], got -0\.1"),
        (["--attack", "pgd", "--eps", "0.01,1.5"], r"--eps values must lie in \[0, 1\]"),
        (["--attack", "fgsm", "--eps", "a,b"], r"--eps expects numbers separated by commas"),
        (["--attack", "fgsm", "--eps", "nan"], r"--eps expects finite numbers"),
        (["--attack", "fgsm"], r"give --eps LIST or --snr LIST"),
        (["--attack", "fgsm", "--eps", "0.1", "--snr", "30"], r"give --eps LIST or --snr LIST"),
        (["--attack", "fgsm", "--snr", "-50"], r"fgsm cannot reach -50\.0 dB on this data"),
        (["--attack", "noise", "--snr", "-50"], r"noise cannot reach -50\.0 dB on this data"),
        (["--attack", "fgsm", "--snr", "-1e6"], r"fgsm cannot reach -1000000\.0 dB"),
        (["--attack", "fgsm", "--snr", "1e6"], r"SNR must be at most 140 dB"),
        (["--attack", "noise", "--snr", "inf"], r"--snr expects finite numbers"),
    ],
    ids=[
        "negative-eps",
        "eps-above-1",
        "eps-not-numbers",
        "eps-nan",
        "no-eps-no-snr",
        "eps-and-snr",
        "snr-minus-50-fgsm",
        "snr-minus-50-noise",
        "snr-minus-1e6",
        "snr-1e6",
        "snr-inf",
    ],
)
def test_bad_attack_options(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    checkpoint: Path,
    options: list[str],
    pattern: str,
) -> None:
    """Row 12: negative eps and impossible SNRs are usage errors, and nothing is written."""
    out = tmp_path / "curve.json"
    run = run_cli(capsys, "attack", checkpoint, "--data", "synthetic:n=40", *options, "--out", out)
    assert_error(run, 2, pattern)
    assert_only(tmp_path)


@pytest.mark.parametrize(
    "args",
    [["data", "synth", "--n", "2", "--out", "x.npz"], ["attack", "ckpt", "--eps", "0.1"]],
    ids=["n-out-of-range", "missing-data-option"],
)
def test_click_option_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    """Row 12: option errors that click itself detects are one line too."""
    assert_error(run_cli(capsys, *args), 2, r"--n|--data")
